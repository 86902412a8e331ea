"""Prometheus metrics (`--prometheus-port`): RabbitMQ's `rabbitmq_prometheus` names, types
and labels, parsed with the `prometheus_client` package's text parser as a scraper would.
Runs against RabbitMQ too: AMQP_PORT=5672 MGMT_PORT=15672 METRICS_PORT=15692 (its
prometheus plugin enabled)."""

import urllib.error
import urllib.request

import pika
import pytest
from prometheus_client.parser import text_string_to_metric_families

from mgmt_helpers import eventually, unique


@pytest.fixture
def broker(private_broker):
    """A Warren of this module's own (the counters are checked exactly)."""
    return private_broker


@pytest.fixture
def metrics(broker):
    if broker.metrics_url is None:
        pytest.skip("no Prometheus port known (METRICS_PORT for an external broker)")
    return Scraper(broker.metrics_url)


class Scraper:
    def __init__(self, base):
        self.base = base

    def raw(self, path="/metrics", method="GET", headers=None):
        req = urllib.request.Request(self.base + path, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return resp.status, resp.headers, resp.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read().decode()

    def families(self, path="/metrics"):
        status, headers, body = self.raw(path)
        assert status == 200, body
        assert headers["Content-Type"].startswith("text/plain; version=0.0.4")
        return {f.name: f for f in text_string_to_metric_families(body)}, body

    def samples(self, path="/metrics"):
        """{(sample name, frozenset of labels): value}"""
        families, _ = self.families(path)
        return {
            (s.name, frozenset(s.labels.items())): s.value
            for f in families.values()
            for s in f.samples
        }


def assert_grew_by(counters, before, want, what):
    """Wait until each counter `counters()` reads has grown by `want` since `before`."""
    def delta(now):
        return {k: now[k] - before[k] for k in want}

    after = eventually(counters, lambda now: delta(now) == want, what=what)
    assert delta(after) == want


def value(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())))


def test_aggregated_metrics_carry_rabbitmqs_families_without_object_labels(broker, metrics):
    q = unique("agg")
    conn = broker.connect()
    ch = conn.channel()
    ch.queue_declare(q, auto_delete=True)
    ch.basic_publish("", q, b"x")
    # RabbitMQ's queue statistics lag by up to 5 s; Warren's do not.
    families, body = eventually(
        lambda: metrics.families("/metrics"),
        lambda fb: fb[0]["rabbitmq_queue_messages_ready"].samples[0].value >= 1,
        what="the message counted",
    )
    conn.close()

    # One identity series per target: dashboards join every query on it.
    identity = families["rabbitmq_identity_info"].samples
    assert len(identity) == 1
    assert {"rabbitmq_node", "rabbitmq_cluster", "rabbitmq_cluster_permanent_id"} <= set(identity[0].labels)
    for name, kind in [
        ("rabbitmq_queue_messages_ready", "gauge"),
        ("rabbitmq_queue_messages_unacked", "gauge"),
        ("rabbitmq_connections", "gauge"),
        ("rabbitmq_channels", "gauge"),
        ("rabbitmq_queues", "gauge"),
        ("rabbitmq_consumers", "gauge"),
        ("rabbitmq_process_resident_memory_bytes", "gauge"),
        ("rabbitmq_resident_memory_limit_bytes", "gauge"),
        ("rabbitmq_disk_space_available_bytes", "gauge"),
        ("rabbitmq_global_messages_received", "counter"),
        ("rabbitmq_global_messages_delivered_consume_auto_ack", "counter"),
        ("rabbitmq_connections_opened", "counter"),
        ("rabbitmq_queues_declared", "counter"),
    ]:
        assert families[name].type == kind, name
    ready = families["rabbitmq_queue_messages_ready"].samples
    assert len(ready) == 1 and ready[0].labels == {}, "aggregated: one unlabelled sum"
    assert ready[0].value >= 1
    assert q not in body, "no queue names in the aggregated endpoint"
    received = families["rabbitmq_global_messages_received"].samples
    assert received[0].labels == {"protocol": "amqp091"}
    auto_ack = {s.labels["queue_type"] for s in families["rabbitmq_global_messages_delivered_consume_auto_ack"].samples}
    assert "rabbit_classic_queue" in auto_ack


def test_per_queue_series_appear_with_their_queue_and_vanish_with_it(broker, metrics):
    q = unique("perq")
    conn = broker.connect()
    ch = conn.channel()
    ch.confirm_delivery()
    ch.queue_declare(q)
    for _ in range(3):
        ch.basic_publish("", q, b"y" * 100)
    got = eventually(
        lambda: metrics.samples("/metrics/per-object"),
        lambda s: value(s, "rabbitmq_queue_messages_ready", vhost="/", queue=q) == 3,
        what="per-queue series",
    )
    assert value(got, "rabbitmq_queue_messages", vhost="/", queue=q) == 3
    assert value(got, "rabbitmq_queue_messages_unacked", vhost="/", queue=q) == 0
    assert value(got, "rabbitmq_queue_consumers", vhost="/", queue=q) == 0
    assert value(got, "rabbitmq_queue_messages_ready_bytes", vhost="/", queue=q) >= 300

    ch.queue_delete(q)
    conn.close()
    gone = eventually(
        lambda: metrics.samples("/metrics/per-object"),
        lambda s: not any(dict(labels).get("queue") == q for _name, labels in s),
        what="series of the deleted queue gone",
    )
    assert not any(dict(labels).get("queue") == q for _name, labels in gone)


def test_global_counters_count_what_clients_did(broker, metrics):
    def counters():
        s = metrics.samples("/metrics")
        amqp = {"protocol": "amqp091"}
        classic = {"protocol": "amqp091", "queue_type": "rabbit_classic_queue"}
        return {
            "received": value(s, "rabbitmq_global_messages_received_total", **amqp),
            "received_confirm": value(s, "rabbitmq_global_messages_received_confirm_total", **amqp),
            "confirmed": value(s, "rabbitmq_global_messages_confirmed_total", **amqp),
            "dropped": value(s, "rabbitmq_global_messages_unroutable_dropped_total", **amqp),
            "routed": value(s, "rabbitmq_global_messages_routed_total", **amqp),
            "delivered_manual": value(s, "rabbitmq_global_messages_delivered_consume_manual_ack_total", **classic),
            "acknowledged": value(s, "rabbitmq_global_messages_acknowledged_total", **classic),
            "get_empty": value(s, "rabbitmq_global_messages_get_empty_total", **classic),
            "connections_opened": value(s, "rabbitmq_connections_opened_total"),
            "queues_created": value(s, "rabbitmq_queues_created_total"),
            "channel_published": value(s, "rabbitmq_channel_messages_published_total"),
            "channel_acked": value(s, "rabbitmq_channel_messages_acked_total"),
            "sizes_count": value(s, "rabbitmq_message_size_bytes_count", **amqp),
            "sizes_sum": value(s, "rabbitmq_message_size_bytes_sum", **amqp),
            "sizes_le_100": value(s, "rabbitmq_message_size_bytes_bucket", le="100.0", **amqp),
            "sizes_le_inf": value(s, "rabbitmq_message_size_bytes_bucket", le="+Inf", **amqp),
        }

    before = counters()
    q = unique("glob")
    conn = broker.connect()
    ch = conn.channel()
    ch.confirm_delivery()
    ch.queue_declare(q)
    for _ in range(4):
        ch.basic_publish("", q, b"m")
    ch.basic_publish("amq.direct", "nowhere", b"lost")
    got = 0
    for method, _p, _b in ch.consume(q, inactivity_timeout=5):
        if method is None:
            break
        ch.basic_ack(method.delivery_tag)
        got += 1
        if got == 4:
            break
    ch.cancel()
    ch.basic_get(q)  # empty
    ch.queue_delete(q)
    conn.close()
    want = {
        "received": 5,
        "received_confirm": 5,
        "confirmed": 5,
        "dropped": 1,
        "routed": 4,
        "delivered_manual": 4,
        "acknowledged": 4,
        "get_empty": 1,
        "connections_opened": 1,
        "queues_created": 1,
        "channel_published": 5,
        "channel_acked": 4,
        # Body sizes: four of 1 byte and one of 4.
        "sizes_count": 5,
        "sizes_sum": 8,
        "sizes_le_100": 5,
        "sizes_le_inf": 5,
    }

    assert_grew_by(counters, before, want, "global counters")


def test_dead_lettered_messages_are_counted_by_reason_and_strategy(broker, metrics):
    """RabbitMQ 3.10's dead-letter counters: `at_most_once` for messages published to an
    existing dead-letter exchange, `disabled` for those dropped without one; every series
    3.10 has is present. Counts survive the queues' deletion."""
    def counters():
        s = metrics.samples("/metrics")
        out = {}
        for reason in ("expired", "rejected", "maxlen"):
            for strategy in ("disabled", "at_most_once"):
                out[(reason, strategy)] = value(
                    s, f"rabbitmq_global_messages_dead_lettered_{reason}_total",
                    queue_type="rabbit_classic_queue", dead_letter_strategy=strategy)
        out["quorum_at_least_once"] = value(
            s, "rabbitmq_global_messages_dead_lettered_delivery_limit_total",
            queue_type="rabbit_quorum_queue", dead_letter_strategy="at_least_once")
        out["confirmed"] = value(
            s, "rabbitmq_global_messages_dead_lettered_confirmed_total",
            queue_type="rabbit_quorum_queue", dead_letter_strategy="at_least_once")
        return out

    before = counters()
    assert all(v is not None for v in before.values()), before
    dlx, dead, ttl, plain, capped = (unique(n) for n in ("dlx", "dead", "ttl", "plain", "capped"))
    conn = broker.connect()
    ch = conn.channel()
    ch.exchange_declare(dlx, "fanout")
    ch.queue_declare(dead)
    ch.queue_bind(dead, dlx)
    # Three expire into the dead-letter exchange; two are rejected into it.
    ch.queue_declare(ttl, arguments={"x-message-ttl": 50, "x-dead-letter-exchange": dlx})
    for _ in range(3):
        ch.basic_publish("", ttl, b"t")
    eventually(lambda: ch.queue_declare(dead, passive=True).method.message_count,
               lambda n: n == 3, what="three dead-lettered on expiry")
    ch.queue_declare(ttl + ".r", arguments={"x-dead-letter-exchange": dlx})
    for _ in range(2):
        ch.basic_publish("", ttl + ".r", b"r")
    for _ in range(2):
        method, _p, _b = ch.basic_get(ttl + ".r")
        ch.basic_reject(method.delivery_tag, requeue=False)
    # Four rejected from a queue without one: dropped.
    ch.queue_declare(plain)
    for _ in range(4):
        ch.basic_publish("", plain, b"p")
    for _ in range(4):
        method, _p, _b = ch.basic_get(plain)
        ch.basic_nack(method.delivery_tag, requeue=False)
    # Five pushed out of a one-message queue without one: dropped.
    ch.queue_declare(capped, arguments={"x-max-length": 1})
    for _ in range(6):
        ch.basic_publish("", capped, b"c")
    eventually(lambda: ch.queue_declare(dead, passive=True).method.message_count,
               lambda n: n == 5, what="five dead letters")
    for q in (ttl, ttl + ".r", plain, capped, dead):
        ch.queue_delete(q)
    ch.exchange_delete(dlx)
    conn.close()
    want = {
        ("expired", "disabled"): 0,
        ("expired", "at_most_once"): 3,
        ("rejected", "disabled"): 4,
        ("rejected", "at_most_once"): 2,
        ("maxlen", "disabled"): 5,
        ("maxlen", "at_most_once"): 0,
        "quorum_at_least_once": 0,
        "confirmed": 0,
    }

    assert_grew_by(counters, before, want, "dead-letter counters")


def test_per_object_connections_and_channels_are_labelled(broker, metrics):
    conn = broker.connect()
    ch = conn.channel()
    q = ch.queue_declare("", exclusive=True).method.queue
    ch.basic_qos(prefetch_count=7)
    ch.basic_consume(q, lambda *_: None)

    def shows_the_channel(fb):
        families = fb[0]
        prefetch = families["rabbitmq_consumer_prefetch"].samples
        consumers = families["rabbitmq_channel_consumers"].samples
        return any(s.value == 7 for s in prefetch) and any(s.value == 1 for s in consumers)

    families, _ = eventually(lambda: metrics.families("/metrics/per-object"), shows_the_channel, what="the channel")
    conn.close()
    incoming = families["rabbitmq_connection_incoming_bytes"].samples
    assert incoming and all(set(s.labels) == {"channel"} for s in incoming)
    assert any(s.value > 0 for s in incoming)
    for family in ("rabbitmq_consumer_prefetch", "rabbitmq_channel_consumers"):
        assert all(set(s.labels) == {"channel"} for s in families[family].samples)
    published = families["rabbitmq_channel_messages_published"]
    assert published.type == "counter"
    assert published.samples and all(set(s.labels) == {"channel", "vhost"} for s in published.samples)
    sizes = families["rabbitmq_message_size_bytes"]
    assert sizes.type == "histogram"
    assert [s.labels["le"] for s in sizes.samples if s.name.endswith("_bucket")][-1] == "+Inf"


def test_scrapes_are_gzipped_for_scrapers_that_ask(broker, metrics):
    import gzip

    status, headers, _ = metrics.raw("/metrics", headers={"Accept-Encoding": "deflate"})
    assert (status, headers["Content-Encoding"]) == (200, "identity")
    req = urllib.request.Request(metrics.base + "/metrics/per-object", headers={"Accept-Encoding": "gzip"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        assert resp.headers["Content-Encoding"] == "gzip"
        text = gzip.decompress(resp.read()).decode()
    names = {f.name for f in text_string_to_metric_families(text)}
    assert {"rabbitmq_queue_messages_ready", "rabbitmq_identity_info"} <= names


def test_bad_requests_get_rabbitmqs_answers(broker, metrics):
    status, _h, body = metrics.raw("/metrics/no-such-registry")
    assert (status, body) == (404, "Unknown Registry")
    status, _h, _b = metrics.raw("/metrics", headers={"Accept": "application/json"})
    assert status == 406
    status, _h, _b = metrics.raw("/metrics", method="POST")
    assert status == 405
    # Still serving.
    assert metrics.raw("/metrics")[0] == 200


def test_logins_and_publishers_are_counted(broker, metrics):
    amqp = {"protocol": "amqp091"}

    def auth():
        s = metrics.samples("/metrics")
        return tuple(
            value(s, f"rabbitmq_auth_attempts{kind}_total", **amqp) for kind in ("", "_succeeded", "_failed")
        )

    def publishers():
        return value(metrics.samples("/metrics"), "rabbitmq_global_publishers", **amqp)

    before = auth()
    with pytest.raises(pika.exceptions.ProbableAuthenticationError):
        broker.connect(password="wrong")
    conn = broker.connect()
    after = eventually(
        auth,
        lambda now: tuple(n - b for n, b in zip(now, before)) == (2, 1, 1),
        what="one failed and one good login",
    )
    assert tuple(n - b for n, b in zip(after, before)) == (2, 1, 1)

    idle = publishers()
    ch = conn.channel()
    ch.basic_publish("", "nowhere", b"x")
    ch.basic_publish("", "nowhere", b"y")  # still one publisher
    eventually(publishers, lambda n: n == idle + 1, what="one more publisher")
    ch.close()
    if broker.process is not None:
        # RabbitMQ 3.10.8 does not take a closed channel out of its publishers (checked
        # against it: the gauge only grows); Warren does.
        eventually(publishers, lambda n: n == idle, what="the publisher gone with its channel")
    conn.close()


def test_return_per_object_metrics_labels_objects_on_metrics(tmp_path):
    """rabbitmq.conf's `prometheus.return_per_object_metrics = true`: `/metrics` labels each
    queue as `/metrics/per-object` does, and keeps its alarms."""
    from conftest import own_warren

    proc, host, port = own_warren(tmp_path, conf="prometheus.return_per_object_metrics = true\n")
    try:
        conn = pika.BlockingConnection(pika.ConnectionParameters(host=host, port=port))
        q = conn.channel().queue_declare("", exclusive=True).method.queue
        scraper = Scraper(f"http://{host}:{proc.metrics_port}")
        families, _ = scraper.families("/metrics")
        ready = families["rabbitmq_queue_messages_ready"].samples
        assert {"vhost": "/", "queue": q} in [s.labels for s in ready]
        assert "rabbitmq_alarms_memory_used_watermark" in families
        identity = families["rabbitmq_identity_info"].samples[0].labels
        assert identity["rabbitmq_endpoint"] == "per-object"
        conn.close()
    finally:
        proc.stop()
