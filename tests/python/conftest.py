"""Broker fixtures for Warren's Python client tests.

Which broker the tests talk to:

* ``WARREN_BIN=/path/to/warren``: every session (and every module that asks
  for ``private_broker``) starts that binary as
  ``$WARREN_BIN --bind 127.0.0.1 --amqp-port 0 --mgmt-port 0 --prometheus-port 0 --data-dir DIR``
  and waits for the line ``listening amqp HOST:PORT`` on its output.
  It also waits for ``listening management HOST:PORT`` (printed before the AMQP line):
  ``broker.mgmt_url`` is the management HTTP API's base URL.
* ``AMQP_PORT=5672`` (and no WARREN_BIN): an already running broker on
  127.0.0.1:$AMQP_PORT (e.g. RabbitMQ, to validate the tests themselves); its management
  API on 127.0.0.1:$MGMT_PORT (tests that need the API are skipped without MGMT_PORT).

Tests that restart the broker (``restartable_broker``: a process and data dir of the
test's own) need WARREN_BIN and are skipped otherwise.

Credentials are guest/guest on vhost "/".
"""

import collections
import os
import re
import signal
import subprocess
import threading
import time
import uuid

import pika
import pika.exceptions
import pytest

DEFAULT_TEST_TIMEOUT = 90  # seconds, per test (pytest-timeout), unless marked
STARTUP_TIMEOUT = 30  # seconds to see "listening amqp HOST:PORT"
STOP_TIMEOUT = 10  # seconds between SIGTERM and SIGKILL
LISTEN_RE = re.compile(r"listening amqp (\S+):(\d+)")
MGMT_LISTEN_RE = re.compile(r"listening management (\S+):(\d+)")
METRICS_LISTEN_RE = re.compile(r"listening prometheus (\S+):(\d+)")
AMQPS_LISTEN_RE = re.compile(r"listening amqps (\S+):(\d+)")
ANSI_RE = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")

_running_brokers = []  # WarrenProcess instances currently alive (for failure reports)


class Broker:
    """Where a broker listens, and how to connect to it."""

    def __init__(self, host, port, process=None, description="", mgmt_port=None, metrics_port=None):
        self.host = host
        self.port = int(port)
        self.process = process
        self.description = description or f"{host}:{port}"
        self.mgmt_port = int(mgmt_port) if mgmt_port else None
        self.metrics_port = int(metrics_port) if metrics_port else None

    @property
    def metrics_url(self):
        """The Prometheus listener's base URL (http://HOST:PORT), or None if there is none."""
        if self.metrics_port is None:
            return None
        return f"http://{self.host}:{self.metrics_port}"

    @property
    def mgmt_url(self):
        """The management API's base URL (http://HOST:PORT), or None if there is none."""
        if self.mgmt_port is None:
            return None
        return f"http://{self.host}:{self.mgmt_port}"

    def params(self, vhost="/", username="guest", password="guest", **kw):
        kw.setdefault("connection_attempts", 1)
        kw.setdefault("socket_timeout", 10)
        kw.setdefault("stack_timeout", 20)
        kw.setdefault("blocked_connection_timeout", 30)
        return pika.ConnectionParameters(
            host=self.host,
            port=self.port,
            virtual_host=vhost,
            credentials=pika.PlainCredentials(username, password),
            **kw,
        )

    def connect(self, **kw):
        return pika.BlockingConnection(self.params(**kw))

    def url(self, vhost="/", username="guest", password="guest"):
        from urllib.parse import quote

        return f"amqp://{username}:{password}@{self.host}:{self.port}/{quote(vhost, safe='')}"

    def __repr__(self):
        return f"<Broker {self.description}>"


class WarrenProcess:
    """A Warren binary running as a child process, its output collected."""

    def __init__(self, binary, data_dir, log_path, extra_args=(), bind="127.0.0.1"):
        self.binary = binary
        self.bind = bind
        self.extra_args = list(extra_args)
        self.data_dir = str(data_dir)
        self.log_path = str(log_path)
        self.lines = collections.deque(maxlen=5000)
        self.proc = None
        self._reader = None
        self._cond = threading.Condition()
        self._eof = False
        self.mgmt_port = None  # from "listening management HOST:PORT" of the current run
        self.metrics_port = None  # from "listening prometheus HOST:PORT"
        self.amqps_port = None  # from "listening amqps HOST:PORT" (AMQPS configured)

    def start(self):
        """Start the binary (again, after stop() or kill(): same data dir, new port)."""
        with self._cond:
            # A new run: look for its own "listening" line only.
            self.lines.clear()
            self._eof = False
            self.mgmt_port = None
            self.metrics_port = None
            self.amqps_port = None
        cmd = [
            self.binary,
            "--bind", self.bind,
            "--amqp-port", "0",
            "--mgmt-port", "0",
            "--prometheus-port", "0",
            "--data-dir", self.data_dir,
            *self.extra_args,
        ]
        env = dict(os.environ)
        env.setdefault("NO_COLOR", "1")
        self.proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
        self._reader = threading.Thread(target=self._read, name="warren-output", daemon=True)
        self._reader.start()
        _running_brokers.append(self)
        return self._wait_listening()

    def _read(self):
        # Appended to, so that the log keeps every run of a restarted broker.
        with open(self.log_path, "a", encoding="utf-8", errors="replace") as log:
            for raw in iter(self.proc.stdout.readline, b""):
                line = ANSI_RE.sub("", raw.decode("utf-8", errors="replace")).rstrip("\r\n")
                log.write(line + "\n")
                log.flush()
                with self._cond:
                    self.lines.append(line)
                    self._cond.notify_all()
        with self._cond:
            self._eof = True
            self._cond.notify_all()

    def _wait_listening(self):
        deadline = time.monotonic() + STARTUP_TIMEOUT
        seen = 0
        problem = None
        with self._cond:
            while problem is None:
                lines = list(self.lines)
                for line in lines[seen:]:
                    mg = MGMT_LISTEN_RE.search(line)
                    if mg:
                        self.mgmt_port = int(mg.group(2))
                    mp = METRICS_LISTEN_RE.search(line)
                    if mp:
                        self.metrics_port = int(mp.group(2))
                    ms = AMQPS_LISTEN_RE.search(line)
                    if ms:
                        self.amqps_port = int(ms.group(2))
                    m = LISTEN_RE.search(line)
                    if m:
                        host = m.group(1).strip("[]")
                        if host in ("0.0.0.0", "::", ""):
                            host = "127.0.0.1"
                        return host, int(m.group(2))
                seen = len(lines)
                remaining = deadline - time.monotonic()
                if self._eof:
                    problem = "warren exited before printing 'listening amqp HOST:PORT'"
                elif remaining <= 0:
                    problem = f"warren did not print 'listening amqp HOST:PORT' within {STARTUP_TIMEOUT}s"
                else:
                    self._cond.wait(timeout=min(remaining, 0.5))
        self._fail(problem)

    def _fail(self, why):
        code = self.stop()
        output = "\n".join(self.tail(len(self.lines)))
        why = f"{why} (exit code {code})"
        pytest.fail(f"{why}\ncommand: {self.binary}\n--- output ---\n{output}\n--- end of output ---", pytrace=False)

    def tail(self, n=100):
        with self._cond:
            return list(self.lines)[-n:]

    def stop(self):
        """SIGTERM, wait up to STOP_TIMEOUT, then SIGKILL. Returns the exit code."""
        if self in _running_brokers:
            _running_brokers.remove(self)
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(signal.SIGTERM)
                self.proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=STOP_TIMEOUT)
        if self._reader is not None:
            self._reader.join(timeout=5)
        return self.proc.returncode

    def kill(self):
        """SIGKILL (a crash: nothing gets flushed) and wait. Returns the exit code."""
        if self in _running_brokers:
            _running_brokers.remove(self)
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=STOP_TIMEOUT)
        if self._reader is not None:
            self._reader.join(timeout=5)
        return self.proc.returncode


def _external_port():
    port = os.environ.get("AMQP_PORT")
    return int(port) if port else None


def _start_broker(tmp_path_factory, label):
    binary = os.environ.get("WARREN_BIN")
    if binary:
        base = tmp_path_factory.mktemp(f"warren-{label}")
        data_dir = base / "data"
        data_dir.mkdir()
        proc = WarrenProcess(binary, data_dir, base / "warren.log")
        host, port = proc.start()
        return Broker(
            host,
            port,
            process=proc,
            description=f"warren {host}:{port} (log {proc.log_path})",
            mgmt_port=proc.mgmt_port,
            metrics_port=proc.metrics_port,
        )
    port = _external_port()
    if port:
        mgmt_port = os.environ.get("MGMT_PORT")
        metrics_port = os.environ.get("METRICS_PORT")
        return Broker(
            "127.0.0.1",
            port,
            description=f"external broker 127.0.0.1:{port}",
            mgmt_port=mgmt_port,
            metrics_port=metrics_port,
        )
    pytest.fail(
        "No broker configured: set WARREN_BIN=/path/to/warren to start one, "
        "or AMQP_PORT=5672 to use a broker that is already running on 127.0.0.1.",
        pytrace=False,
    )


def _stop_broker(b):
    if b.process is not None:
        code = b.process.stop()
        # SIGTERM should be a clean shutdown (0), or the default action (-15).
        if code not in (0, -signal.SIGTERM):
            tail = "\n".join(b.process.tail(50))
            pytest.fail(f"warren exited with code {code} on SIGTERM\n{tail}", pytrace=False)


@pytest.fixture(scope="session")
def broker(tmp_path_factory):
    """The broker shared by the whole session."""
    b = _start_broker(tmp_path_factory, "session")
    yield b
    _stop_broker(b)


@pytest.fixture(scope="module")
def private_broker(tmp_path_factory, request):
    """A broker for one module alone when WARREN_BIN is set (the shared one otherwise)."""
    label = re.sub(r"\W+", "-", request.module.__name__)
    b = _start_broker(tmp_path_factory, label)
    yield b
    _stop_broker(b)


class RestartableBroker(Broker):
    """A private Warren process whose data dir outlives it: restart() (SIGTERM, start again)
    and kill() + start() (a crash) keep durable queues and persistent messages. The port
    changes on every start, so connect after (re)starting."""

    def start(self):
        self.host, self.port = self.process.start()
        self.mgmt_port = self.process.mgmt_port
        self.metrics_port = self.process.metrics_port
        self.description = f"warren {self.host}:{self.port} (log {self.process.log_path})"

    def stop(self):
        _stop_broker(self)

    def kill(self):
        self.process.kill()

    def restart(self):
        self.stop()
        self.start()


def own_warren(base, args=(), conf=None, why="starts a Warren of its own"):
    """A Warren of a test's (or module's) own in directory `base`, started with `args` and,
    if given, a rabbitmq.conf holding `conf`; skips without WARREN_BIN. Returns the running
    WarrenProcess (stop it when done), its host and AMQP port."""
    binary = os.environ.get("WARREN_BIN")
    if not binary:
        pytest.skip(f"{why}: needs WARREN_BIN")
    args = list(args)
    if conf is not None:
        path = base / "rabbitmq.conf"
        path.write_text(conf)
        args += ["--config", str(path)]
    (base / "data").mkdir()
    proc = WarrenProcess(binary, base / "data", base / "warren.log", extra_args=args)
    host, port = proc.start()
    return proc, host, port


@pytest.fixture
def restartable_broker(tmp_path_factory, request):
    """A broker of the test's own that it may stop, kill and start again on the same data dir.

    Needs WARREN_BIN: an external broker (AMQP_PORT) cannot be restarted from here."""
    binary = os.environ.get("WARREN_BIN")
    if not binary:
        pytest.skip("needs WARREN_BIN: restarting the broker is not possible with an external broker (AMQP_PORT)")
    label = re.sub(r"\W+", "-", request.node.name)[:40]
    base = tmp_path_factory.mktemp(f"warren-{label}")
    data_dir = base / "data"
    data_dir.mkdir()
    b = RestartableBroker("127.0.0.1", 0, process=WarrenProcess(binary, data_dir, base / "warren.log"))
    b.start()
    yield b
    if b.process.proc is not None and b.process.proc.poll() is None:
        b.stop()


@pytest.fixture
def broker_factory(tmp_path_factory, request):
    """new_broker() -> a fresh RestartableBroker of the test's own (empty data dir), as many as
    the test wants; all stopped at teardown. Needs WARREN_BIN."""
    binary = os.environ.get("WARREN_BIN")
    if not binary:
        pytest.skip("needs WARREN_BIN: fresh brokers cannot be started with an external broker (AMQP_PORT)")
    label = re.sub(r"\W+", "-", request.node.name)[:40]
    started = []

    def new_broker():
        base = tmp_path_factory.mktemp(f"warren-{label}")
        data_dir = base / "data"
        data_dir.mkdir()
        b = RestartableBroker("127.0.0.1", 0, process=WarrenProcess(binary, data_dir, base / "warren.log"))
        b.start()
        started.append(b)
        return b

    yield new_broker
    for b in started:
        if b.process.proc is not None and b.process.proc.poll() is None:
            b.stop()


class Connections:
    """Opens pika BlockingConnections and closes them all at teardown."""

    def __init__(self, broker):
        self.broker = broker
        self._open = []

    def __call__(self, **kw):
        conn = self.broker.connect(**kw)
        self._open.append(conn)
        return conn

    def close_all(self):
        for conn in self._open:
            try:
                if conn.is_open:
                    conn.close()
            except Exception:
                pass
        self._open.clear()


@pytest.fixture
def connect(broker):
    """connect(**params) -> pika.BlockingConnection to the shared broker, closed after the test."""
    conns = Connections(broker)
    yield conns
    conns.close_all()


class Names:
    """Unique queue/exchange names for one test; deletes what it named afterwards."""

    def __init__(self, broker, test_name):
        self.broker = broker
        short = re.sub(r"[^A-Za-z0-9_.-]+", "-", test_name)[:60]
        self.prefix = f"wt.{short}.{uuid.uuid4().hex[:8]}"
        self.queues = []
        self.exchanges = []

    def queue(self, label="q"):
        name = f"{self.prefix}.{label}"
        self.queues.append(name)
        return name

    def exchange(self, label="x"):
        name = f"{self.prefix}.{label}"
        self.exchanges.append(name)
        return name

    __call__ = queue

    def cleanup(self):
        if not (self.queues or self.exchanges):
            return
        try:
            conn = self.broker.connect(socket_timeout=5, stack_timeout=10)
        except Exception:
            return
        try:
            ch = conn.channel()
            for kind, items in (("queue", self.queues), ("exchange", self.exchanges)):
                for name in items:
                    try:
                        if kind == "queue":
                            ch.queue_delete(name)
                        else:
                            ch.exchange_delete(name)
                    except pika.exceptions.ChannelClosed:
                        ch = conn.channel()
            conn.close()
        except Exception:
            pass


@pytest.fixture
def names(broker, request):
    """names.queue("label") / names.exchange("label") -> unique names for this test."""
    n = Names(broker, request.node.name)
    yield n
    n.cleanup()


def pytest_collection_modifyitems(config, items):
    if config.getoption("timeout", None):
        return
    for item in items:
        if item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(DEFAULT_TEST_TIMEOUT))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed and _running_brokers:
        for proc in list(_running_brokers):
            report.sections.append(
                (f"warren output (last 100 lines, full log {proc.log_path})", "\n".join(proc.tail(100)))
            )


@pytest.fixture(scope="session")
def mgmt(broker):
    """A management API client (guest/guest) for the shared broker."""
    import mgmt_helpers

    mgmt_helpers.skip_without_mgmt(broker)
    return mgmt_helpers.Mgmt(broker.mgmt_url)


@pytest.fixture
def cleanup(mgmt):
    """cleanup.user(...), .vhost(...), .queue(...), ...: created through the API, deleted after the test."""
    import mgmt_helpers

    c = mgmt_helpers.Cleanup(mgmt)
    yield c
    c.run()
