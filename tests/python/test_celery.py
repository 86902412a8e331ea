"""Celery (kombu + py-amqp) against the broker: a real worker subprocess, rpc:// results."""

import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid

import pytest

from celery_app.tasks import add, app, boom

HERE = os.path.dirname(os.path.abspath(__file__))
WORKER_START_TIMEOUT = 45
WORKER_STOP_TIMEOUT = 20
READY_RE = re.compile(r"\bready\.")


class Worker:
    """A `celery worker` subprocess for `app_module`, consuming `queue` (extra environment
    variables in `env`)."""

    def __init__(self, broker_url, queue, app_module="celery_app.tasks", env=None):
        self.lines = []
        self.cond = threading.Condition()
        self.eof = False
        env = {**os.environ, **(env or {})}
        env["WARREN_CELERY_BROKER_URL"] = broker_url
        env["WARREN_CELERY_QUEUE"] = queue
        env["PYTHONPATH"] = HERE + os.pathsep + env.get("PYTHONPATH", "")
        env["PYTHONUNBUFFERED"] = "1"
        self.cmd = [
            sys.executable, "-m", "celery",
            "-A", app_module,
            "worker",
            "--pool", "solo",
            "--concurrency", "1",
            "-l", "info",
            "-n", f"warren-test-{uuid.uuid4().hex[:8]}@%h",
            "-Q", queue,
        ]
        self.proc = subprocess.Popen(
            self.cmd,
            cwd=HERE,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for raw in iter(self.proc.stdout.readline, b""):
            with self.cond:
                self.lines.append(raw.decode("utf-8", errors="replace").rstrip())
                self.cond.notify_all()
        with self.cond:
            self.eof = True
            self.cond.notify_all()

    def output(self):
        with self.cond:
            return "\n".join(self.lines)

    def wait_ready(self):
        deadline = time.monotonic() + WORKER_START_TIMEOUT
        with self.cond:
            while not any(READY_RE.search(line) for line in self.lines):
                remaining = deadline - time.monotonic()
                if self.eof or remaining <= 0:
                    break
                self.cond.wait(min(remaining, 0.5))
            else:
                return
        why = "exited" if self.eof else f"not ready after {WORKER_START_TIMEOUT}s"
        self.stop()
        pytest.fail(f"celery worker {why}:\n{self.output()}", pytrace=False)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # warm shutdown
            try:
                self.proc.wait(timeout=WORKER_STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.reader.join(timeout=5)
        return self.proc.returncode


@pytest.fixture(scope="module")
def celery_worker(private_broker):
    queue = f"wt.celery.{uuid.uuid4().hex[:8]}"
    url = f"amqp://guest:guest@{private_broker.host}:{private_broker.port}//"
    app.conf.update(broker_url=url, task_default_queue=queue)
    worker = Worker(url, queue)
    try:
        worker.wait_ready()
        yield worker
    finally:
        code = worker.stop()
        try:
            app.close()
        except Exception:
            pass
        # Remove the durable queue/exchange Celery declared.
        try:
            conn = private_broker.connect()
            ch = conn.channel()
            ch.queue_delete(queue)
            ch.exchange_delete(queue)
            conn.close()
        except Exception:
            pass
    assert code in (0, -signal.SIGTERM), f"worker exit code {code}\n{worker.output()}"


def test_celery_add(celery_worker):
    result = add.delay(4, 4)
    try:
        assert result.get(timeout=30) == 8
    except Exception:
        print(celery_worker.output())
        raise
    assert result.successful()


def test_celery_many_tasks(celery_worker):
    n = 300
    results = [add.delay(i, 2 * i + 1) for i in range(n)]
    values = [r.get(timeout=60) for r in results]
    assert values == [3 * i + 1 for i in range(n)]
    assert len({r.id for r in results}) == n


def test_celery_task_error_propagates(celery_worker):
    result = boom.delay("kaboom")
    with pytest.raises(ValueError, match="kaboom"):
        result.get(timeout=30)
    assert result.failed()


def test_celery_countdown(celery_worker):
    start = time.monotonic()
    result = add.apply_async((20, 22), countdown=1)
    assert result.get(timeout=30) == 42
    assert time.monotonic() - start >= 0.9
