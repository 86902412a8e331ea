"""Celery on queue features: a priority queue served highest first, and a task that runs
longer than the broker's consumer timeout on a queue that raises it (x-consumer-timeout), as
long-running Celery deployments do. A Warren of this module's own, whose rabbitmq.conf sets
`consumer_timeout = 1000` (1 s), and real `celery worker` subprocesses."""

import importlib
import time
import uuid

import pytest

from conftest import own_warren
from test_celery import Worker

BROKER_TIMEOUT_MS = 1000


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    proc, host, port = own_warren(tmp_path_factory.mktemp("warren-celery-features"),
                                  conf=f"consumer_timeout = {BROKER_TIMEOUT_MS}\n",
                                  why="sets a consumer_timeout")
    yield f"amqp://guest:guest@{host}:{port}//"
    proc.stop()


@pytest.fixture
def celery_app(broker, tmp_path, monkeypatch):
    """The priority app bound to a queue of this test's own; yields (module, queue, log)."""
    queue = f"wt.celery-prio.{uuid.uuid4().hex[:8]}"
    log = tmp_path / "ran.log"
    log.touch()
    monkeypatch.setenv("WARREN_CELERY_BROKER_URL", broker)
    monkeypatch.setenv("WARREN_CELERY_QUEUE", queue)
    monkeypatch.setenv("WARREN_CELERY_LOG", str(log))
    import celery_app.priority_tasks as tasks

    tasks = importlib.reload(tasks)  # reads the queue name from the environment
    yield tasks, queue, log
    tasks.app.close()


def start_worker(broker, queue, log):
    worker = Worker(broker, queue, app_module="celery_app.priority_tasks", env={"WARREN_CELERY_LOG": str(log)})
    worker.wait_ready()
    return worker


def test_a_priority_queue_runs_the_most_urgent_tasks_first(broker, celery_app):
    tasks, queue, log = celery_app
    # Queued while no worker runs: the broker orders them.
    results = [tasks.record.apply_async((label,), priority=p)
               for label, p in [("low", 1), ("urgent", 9), ("normal", 5), ("urgent-2", 9), ("idle", 0)]]
    worker = start_worker(broker, queue, log)
    try:
        assert [r.get(timeout=30) for r in results] == ["low", "urgent", "normal", "urgent-2", "idle"]
    finally:
        worker.stop()
    assert log.read_text().split("\n")[:-1] == [
        "ran urgent", "ran urgent-2", "ran normal", "ran low", "ran idle"]


def test_a_raised_consumer_timeout_lets_a_long_task_finish_once(broker, celery_app):
    tasks, queue, log = celery_app
    worker = start_worker(broker, queue, log)
    try:
        started = time.monotonic()
        # Twice the broker's consumer_timeout, acknowledged only when done (acks_late).
        result = tasks.slow.delay(2 * BROKER_TIMEOUT_MS / 1000)
        assert result.get(timeout=30) == 2.0
        assert time.monotonic() - started >= 2.0
    finally:
        output = worker.output()
        worker.stop()
    # Ran once: its channel was not closed under it, so it was never redelivered.
    assert log.read_text().split("\n")[:-1] == ["slow start 2.0", "slow done 2.0"], output
    assert "PRECONDITION_FAILED" not in output
