"""RabbitMQ's Grafana dashboard (RabbitMQ-Overview, grafana.com 10991) over Warren: a real
Prometheus (Debian's `prometheus` package) scrapes the broker, and every panel's query is
evaluated by it, as Grafana would send it — the 3.10 revision (global counters), the older
3.10.0–3.10.7 one (channel counters) and the 4.x one (`on(instance, job)`, the
`rabbitmq_endpoint` variable, message sizes). A panel passes when it shows what the traffic
below did, not merely "No data".

The queries are built here the way the dashboard builds them: each metric joined with
`rabbitmq_identity_info` on the scrape target, filtered by the dashboard's variables, which are
resolved with the label queries the dashboard runs."""

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request

import pika
import pytest

from mgmt_helpers import unique

SMALL_BODY = b"s" * 50
LARGE_BODY = b"L" * 5000


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Prometheus:
    """A Prometheus server of the test's own, scraping one target every second."""

    def __init__(self, binary, workdir, target):
        self.port = free_port()
        config = workdir / "prometheus.yml"
        config.write_text(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
            "scrape_configs:\n"
            "  - job_name: rabbitmq\n"
            f"    static_configs:\n      - targets: ['{target}']\n"
        )
        self.log = open(workdir / "prometheus.log", "wb")
        self.process = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={workdir / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--log.level=warn",
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def api(self, path, **params):
        url = f"http://127.0.0.1:{self.port}/api/v1/{path}?{urllib.parse.urlencode(params)}"
        try:
            with urllib.request.urlopen(url, timeout=10) as resp:
                body = json.load(resp)
        except urllib.error.HTTPError as e:
            raise AssertionError(f"{params}: {e.code} {e.read().decode()}") from None
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expr):
        """An instant query's result: [(labels, value)]."""
        data = self.api("query", query=expr)
        assert data["resultType"] == "vector", (expr, data)
        return [(r["metric"], float(r["value"][1])) for r in data["result"]]

    def wait_until(self, what, predicate, timeout_s=30):
        deadline = time.monotonic() + timeout_s
        last = None
        while time.monotonic() < deadline:
            try:
                last = predicate()
                if last:
                    return last
            except OSError as e:
                last = e
            time.sleep(0.25)
        raise AssertionError(f"Prometheus: {what} (last: {last!r}; log: {self.log.name})")

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


@pytest.fixture(scope="module")
def prometheus(private_broker, tmp_path_factory):
    binary = os.environ.get("PROMETHEUS_BIN") or shutil.which("prometheus")
    if binary is None:
        pytest.fail("needs a prometheus binary (Debian's prometheus package; scripts/test.sh installs it)")
    if private_broker.metrics_port is None:
        pytest.skip("no Prometheus port known (METRICS_PORT for an external broker)")
    p = Prometheus(binary, tmp_path_factory.mktemp("prometheus"), f"{private_broker.host}:{private_broker.metrics_port}")
    try:
        p.wait_until("target scraped", lambda: p.query('up{job="rabbitmq"} == 1'))
        yield p
    finally:
        p.stop()


@pytest.fixture(scope="module")
def traffic(private_broker, prometheus):
    """Everything a panel counts, done once after a first scrape (so rates have a before),
    with a consumer left holding one unacknowledged message and three messages left ready.
    Yields what was done."""
    broker = private_broker
    q, gone = unique("dash"), unique("dash-gone")
    held = broker.connect()
    ch = held.channel()
    ch.queue_declare(q)
    ch.queue_declare(gone)
    ch.queue_delete(gone)
    ch.confirm_delivery()
    bodies = [SMALL_BODY, LARGE_BODY] * 10
    for body in bodies:
        ch.basic_publish("", q, body)
    auto = ch.queue_declare("", exclusive=True).method.queue
    for _ in range(2):
        ch.basic_publish("", auto, SMALL_BODY)
    bodies += [SMALL_BODY] * 2
    # Unroutable: one returned (mandatory), one dropped.
    with pytest.raises(pika.exceptions.UnroutableError):
        ch.basic_publish("", unique("nowhere"), b"r", mandatory=True)
    ch.basic_publish("", unique("nowhere"), b"d")

    other = broker.connect()
    ch2 = other.channel()
    ch2.basic_get(q, auto_ack=True)
    method, _, _ = ch2.basic_get(q, auto_ack=False)
    ch2.basic_ack(method.delivery_tag)
    method, _, _ = ch2.basic_get(q, auto_ack=False)
    ch2.basic_reject(method.delivery_tag, requeue=True)  # redelivered below
    empty = ch2.queue_declare("", exclusive=True).method.queue
    assert ch2.basic_get(empty) == (None, None, None)
    # 18 left: 11 consumed with manual acks, 3 got with auto ack, 1 held unacked by a
    # consumer (prefetch 1), 3 stay ready.
    consumed = 0
    for method, _, _ in ch2.consume(q, auto_ack=False, inactivity_timeout=5):
        assert method is not None, "deliveries stopped"
        ch2.basic_ack(method.delivery_tag)
        consumed += 1
        if consumed == 11:
            break
    ch2.cancel()
    for _ in range(2):
        method, _, _ = next(ch.consume(auto, auto_ack=True, inactivity_timeout=5))
        assert method is not None, "auto-ack delivery"
    ch.cancel()
    for _ in range(3):
        method, _, _ = ch2.basic_get(q, auto_ack=True)
        assert method is not None
    ch2.basic_qos(prefetch_count=1)
    ch2.basic_consume(q, lambda *a: None, auto_ack=False)
    other.process_data_events(time_limit=0.5)
    # A short-lived connection and channel, for the churn panels.
    brief = broker.connect()
    brief.channel().close()
    brief.close()
    yield {"bodies": bodies, "queue": q}
    other.close()
    held.close()


class Dashboard:
    """The dashboard's queries for one revision: `join` wraps a metric expression as the
    revision's panels do, with its variables already resolved."""

    def __init__(self, prometheus, revision):
        self.prom = prometheus
        self.revision = revision
        # Template variables, as the dashboard resolves them (namespace: none -> "").
        clusters = prometheus.api("label/rabbitmq_cluster/values", **{"match[]": 'rabbitmq_identity_info{namespace=""}'})
        assert len(clusters) == 1, clusters
        self.cluster = clusters[0]
        matcher = f'rabbitmq_cluster="{self.cluster}", namespace=""'
        if revision == "4.x":
            endpoints = prometheus.api(
                "label/rabbitmq_endpoint/values",
                **{"match[]": f'rabbitmq_identity_info{{{matcher}, rabbitmq_endpoint!="memory-breakdown"}}'},
            )
            assert endpoints == ["aggregated"], endpoints
            matcher += f', rabbitmq_endpoint="{endpoints[0]}"'
            self.on = "on(instance, job)"
        else:
            self.on = "on(instance)"
        self.identity = f"rabbitmq_identity_info{{{matcher}}}"

    def join(self, metric, labels="rabbitmq_cluster"):
        return f"{metric} * {self.on} group_left({labels}) {self.identity}"

    def stat(self, metric):
        """A stat panel: one number over the cluster."""
        result = self.prom.query(f"sum({self.join(metric)})")
        assert len(result) == 1, (self.revision, metric, result)
        return result[0][1]

    def by_node(self, metric):
        """A time-series panel: one line per node."""
        result = self.prom.query(f"sum({self.join(metric, 'rabbitmq_cluster, rabbitmq_node')}) by(rabbitmq_node)")
        assert len(result) == 1, (self.revision, metric, result)
        labels, value = result[0]
        assert labels["rabbitmq_node"], labels
        return value

    def difference(self, a, b):
        """A panel of one metric less another, each joined on its own (as the dashboard)."""
        labels = "rabbitmq_cluster, rabbitmq_node"
        result = self.prom.query(f"sum(({self.join(a, labels)}) - ({self.join(b, labels)})) by(rabbitmq_node)")
        assert len(result) == 1, (self.revision, a, b, result)
        return result[0][1]


@pytest.fixture(scope="module")
def settled(prometheus, traffic):
    """Wait until Prometheus has scraped the end of the traffic: the ready count it reads
    has settled at 3 and the consumer's unacknowledged message shows."""
    prometheus.wait_until(
        "ready 3 and unacked 1 scraped",
        lambda: prometheus.query("rabbitmq_queue_messages_ready == 3 and on() rabbitmq_queue_messages_unacked == 1"),
    )
    time.sleep(1.5)  # one more scrape, so counters' last samples are the final ones
    return traffic


def rate(metric, window="60s"):
    return f"rate({metric}[{window}])"


def test_dashboard_3_10_panels_show_the_traffic(prometheus, settled):
    d = Dashboard(prometheus, "3.10")
    # Single stats.
    assert d.stat("rabbitmq_queue_messages_ready") == 3
    assert d.stat("rabbitmq_queue_messages_unacked") == 1
    assert d.stat(rate("rabbitmq_global_messages_received_total")) > 0
    assert d.stat("rabbitmq_connections") == 2
    assert d.stat("rabbitmq_queues") >= 2
    assert d.stat("rabbitmq_consumers") == 1
    assert d.stat("rabbitmq_channels") == 2
    # "Publishers": channels without consumers.
    publishers = prometheus.query(f"sum({d.join('rabbitmq_channels')}) - sum({d.join('rabbitmq_channel_consumers')})")
    assert [v for _, v in publishers] == [1]
    assert d.stat("rabbitmq_build_info") == 1  # "Nodes"
    outgoing = " + ".join(
        f"sum({d.join(rate('rabbitmq_global_messages_' + m))})"
        for m in [
            "redelivered_total",
            "delivered_consume_auto_ack_total",
            "delivered_consume_manual_ack_total",
            "delivered_get_auto_ack_total",
            "delivered_get_manual_ack_total",
        ]
    )
    assert [v > 0 for _, v in prometheus.query(outgoing)] == [True]

    # The NODES table: one row with the versions as columns.
    rows = prometheus.query(d.join("rabbitmq_build_info", "rabbitmq_cluster, rabbitmq_node"))
    assert len(rows) == 1
    labels = rows[0][0]
    for column in ["rabbitmq_version", "erlang_version", "prometheus_plugin_version", "prometheus_client_version", "rabbitmq_node", "rabbitmq_cluster", "instance", "job"]:
        assert labels.get(column), (column, labels)

    # Node resources: headroom before publishers are blocked.
    assert d.by_node("rabbitmq_disk_space_available_bytes") > 0
    for limit, used in [
        ("rabbitmq_resident_memory_limit_bytes", "rabbitmq_process_resident_memory_bytes"),
        ("rabbitmq_process_max_fds", "rabbitmq_process_open_fds"),
        ("rabbitmq_process_max_tcp_sockets", "rabbitmq_process_open_tcp_sockets"),
    ]:
        assert d.difference(limit, used) > 0, limit

    # Message panels: each rate moved with the traffic.
    for metric in [
        "rabbitmq_global_messages_received_total",
        "rabbitmq_global_messages_confirmed_total",
        "rabbitmq_global_messages_routed_total",
        "rabbitmq_global_messages_unroutable_dropped_total",
        "rabbitmq_global_messages_unroutable_returned_total",
        "rabbitmq_global_messages_redelivered_total",
        "rabbitmq_global_messages_delivered_consume_manual_ack_total",
        "rabbitmq_global_messages_delivered_consume_auto_ack_total",
        "rabbitmq_global_messages_acknowledged_total",
        "rabbitmq_global_messages_delivered_get_auto_ack_total",
        "rabbitmq_global_messages_delivered_get_manual_ack_total",
        "rabbitmq_global_messages_get_empty_total",
        "rabbitmq_queues_declared_total",
        "rabbitmq_queues_created_total",
        "rabbitmq_queues_deleted_total",
        "rabbitmq_channels_opened_total",
        "rabbitmq_channels_closed_total",
        "rabbitmq_connections_opened_total",
        "rabbitmq_connections_closed_total",
    ]:
        assert d.by_node(rate(metric)) > 0, metric
    # Every publish was confirmed: nothing left unconfirmed.
    unconfirmed = d.difference(
        rate("rabbitmq_global_messages_received_confirm_total"), rate("rabbitmq_global_messages_confirmed_total")
    )
    assert unconfirmed == 0
    for gauge, expected in [
        ("rabbitmq_queue_messages_ready", 3),
        ("rabbitmq_queue_messages_unacked", 1),
        ("rabbitmq_channels", 2),
        ("rabbitmq_connections", 2),
    ]:
        assert d.by_node(gauge) == expected, gauge


def test_dashboard_older_3_10_panels_read_channel_counters(prometheus, settled):
    """RabbitMQ 3.10.0–3.10.7's revision counts messages by channel and queue families."""
    d = Dashboard(prometheus, "3.10")
    for metric in [
        "rabbitmq_channel_messages_published_total",
        "rabbitmq_channel_messages_confirmed_total",
        "rabbitmq_queue_messages_published_total",
        "rabbitmq_channel_messages_unroutable_dropped_total",
        "rabbitmq_channel_messages_unroutable_returned_total",
        "rabbitmq_channel_messages_delivered_total",
        "rabbitmq_channel_messages_delivered_ack_total",
        "rabbitmq_channel_messages_redelivered_total",
        "rabbitmq_channel_messages_acked_total",
        "rabbitmq_channel_get_total",
        "rabbitmq_channel_get_ack_total",
        "rabbitmq_channel_get_empty_total",
    ]:
        assert d.by_node(rate(metric)) > 0, metric
    assert d.stat("rabbitmq_channel_consumers") == 1  # its "Consumers"


def test_dashboard_4_x_panels_read_endpoint_and_message_sizes(prometheus, settled):
    d = Dashboard(prometheus, "4.x")
    assert d.stat("rabbitmq_global_publishers") >= 1
    assert d.stat("rabbitmq_global_consumers") == 1
    assert d.stat("rabbitmq_queue_messages_ready") == 3
    assert d.stat("irate(rabbitmq_global_messages_delivered_total[60s])") >= 0
    assert d.stat(rate("rabbitmq_global_messages_delivered_total")) > 0
    assert d.difference("rabbitmq_disk_space_available_bytes", "rabbitmq_disk_space_available_limit_bytes") > 0
    # The NODES table joins uptime with the versions.
    rows = prometheus.query(
        f"rabbitmq_erlang_uptime_seconds * {d.on} group_left(rabbitmq_version, erlang_version) rabbitmq_build_info"
        f" * {d.on} group_left(rabbitmq_cluster, rabbitmq_node) {d.identity}"
    )
    assert len(rows) == 1 and rows[0][1] > 0 and rows[0][0]["rabbitmq_version"], rows
    assert [v for _, v in prometheus.query(f"count({d.identity})")] == [1]  # "Nodes"

    # Message sizes: what was published, by the dashboard's own arithmetic.
    bodies = settled["bodies"] + [b"r", b"d"]

    def increase(metric):
        return f"sum({d.join(f'increase({metric}[5m])', 'rabbitmq_cluster, rabbitmq_node')})"

    avg = prometheus.query(f"{increase('rabbitmq_message_size_bytes_sum')} / {increase('rabbitmq_message_size_bytes_count')}")
    assert len(avg) == 1
    assert avg[0][1] == pytest.approx(sum(map(len, bodies)) / len(bodies), rel=1e-6)
    def bucket(le):
        return increase('rabbitmq_message_size_bytes_bucket{le="%s"}' % le)

    under_100 = prometheus.query(f"{bucket('100.0')} / {bucket('+Inf')}")
    small = sum(1 for b in bodies if len(b) <= 100)
    assert under_100[0][1] == pytest.approx(small / len(bodies), rel=1e-6)
    in_1k_10k = prometheus.query(f"({bucket('10000.0')} - {bucket('1000.0')}) / {bucket('+Inf')}")
    large = sum(1 for b in bodies if 1000 < len(b) <= 10000)
    assert in_1k_10k[0][1] == pytest.approx(large / len(bodies), rel=1e-6)
