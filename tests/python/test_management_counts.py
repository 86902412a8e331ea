"""Counts in the management API. Queue sizes: `messages_ready`, `message_bytes_ready`,
`message_bytes_ram` and `memory` follow what the queue holds, as in RabbitMQ's queue
objects (which report the queue process's memory; Warren reports the messages it holds in
memory plus its own structures)."""

import re

import pika

from mgmt_helpers import eventually, unique, vh


def test_byte_counts_and_memory_follow_the_messages_a_queue_holds(broker, mgmt, cleanup):
    q = unique("sizes")
    cleanup.queue("/", q, durable=False)
    path = f"/api/queues/{vh('/')}/{q}"
    # RabbitMQ's statistics lag by up to 5 s; Warren's are current.
    empty = eventually(lambda: mgmt.json(path), lambda v: v["message_bytes_ready"] == 0, what="stats")
    assert empty["message_bytes_ram"] == 0

    conn = broker.connect()
    ch = conn.channel()
    body = b"x" * 10_000
    for _ in range(20):
        ch.basic_publish("", q, body)
    conn.close()
    full = eventually(lambda: mgmt.json(path), lambda v: v["message_bytes_ready"] > 0, what="stats")
    assert full["messages_ready"] == 20
    # Each message counts its body and its (small) exchange, routing key and properties.
    assert 20 * 10_000 <= full["message_bytes_ready"] < 20 * 10_200
    assert full["message_bytes_ram"] == full["message_bytes_ready"]
    assert full["memory"] > 0
    if broker.process is not None:
        # Warren's memory counts the messages it holds in memory (RabbitMQ's queue process
        # memory does not: message bodies live outside its heap).
        assert full["memory"] >= full["message_bytes_ram"] > empty["memory"]

    mgmt.ok("DELETE", f"{path}/contents")
    purged = eventually(lambda: mgmt.json(path), lambda v: v["message_bytes_ready"] == 0, what="stats")
    assert purged["memory"] < full["memory"]


def test_overview_message_stats_count_every_channel(broker, mgmt, cleanup):
    def stats():
        return mgmt.json("/api/overview")["message_stats"]

    q = unique("totals")
    cleanup.queue("/", q, durable=False)
    before = stats()
    conn = broker.connect()
    ch = conn.channel()
    ch.confirm_delivery()
    for _ in range(7):
        ch.basic_publish("", q, b"m")
    for _ in range(2):
        ch.basic_publish("amq.direct", "nowhere", b"lost")
    got = 0
    for method, _props, _body in ch.consume(q, inactivity_timeout=5):
        if method is None:
            break
        ch.basic_ack(method.delivery_tag)
        got += 1
        if got == 7:
            break
    ch.cancel()
    conn.close()
    keys = ("publish", "confirm", "drop_unroutable", "deliver", "ack", "deliver_get")
    want = {"publish": 9, "confirm": 9, "drop_unroutable": 2, "deliver": 7, "ack": 7, "deliver_get": 7}

    def delta(now):
        return {k: now.get(k, 0) - before.get(k, 0) for k in keys}

    after = eventually(stats, lambda now: delta(now) == want, what="overview message_stats")
    assert delta(after) == want
    assert "rate" in after["publish_details"]


def test_exchange_and_vhost_message_stats_count_what_was_published(broker, mgmt, cleanup):
    # A vhost of its own, so nothing else this session publishes is counted.
    v = unique("stats-vhost")
    cleanup.vhost(v)
    cleanup.permissions(v, "guest")
    cleanup.exchange(v, "fan", type="fanout")
    for q in ("a", "b"):
        cleanup.queue(v, q, durable=False)
        mgmt.ok("POST", f"/api/bindings/{vh(v)}/e/fan/q/{q}", {"routing_key": ""})
    # Listed exchanges that no one published to carry no message_stats, as in RabbitMQ.
    assert "message_stats" not in mgmt.json(f"/api/exchanges/{vh(v)}/fan")

    conn = broker.connect(vhost=v)
    ch = conn.channel()
    ch.confirm_delivery()
    for _ in range(3):
        ch.basic_publish("fan", "", b"to both")  # in 1, out 2 each
    for _ in range(2):
        ch.basic_publish("", "a", b"direct")  # the default exchange
    ch.basic_publish("amq.direct", "nowhere", b"lost")  # in 1, no publish_out

    def exchange_stats(name):
        x = mgmt.json(f"/api/exchanges/{vh(v)}/{name}")
        s = x.get("message_stats", {})
        return (s.get("publish_in"), s.get("publish_out"))

    for name, want in (("fan", (3, 6)), ("amq.default", (2, 2)), ("amq.direct", (1, None))):
        got = eventually(lambda: exchange_stats(name), lambda s, w=want: s == w, what=f"{name} stats")
        assert got == want, name
    listed = {x["name"]: x for x in mgmt.json(f"/api/exchanges/{vh(v)}")}
    assert listed["fan"]["message_stats"]["publish_in_details"]["rate"] >= 0
    assert "message_stats" not in listed["amq.topic"]

    def vhost_stats():
        return mgmt.json(f"/api/vhosts/{vh(v)}")

    want = {"publish": 6, "confirm": 6, "drop_unroutable": 1}
    got = eventually(
        vhost_stats,
        lambda o: {k: o.get("message_stats", {}).get(k) for k in want} == want,
        what="vhost message_stats",
    )
    assert got["messages"] == 8  # 3 + 2 in a, 3 in b
    # The vhost's open connections' traffic.
    got = eventually(vhost_stats, lambda o: o["recv_oct"] > 0 and o["send_oct"] > 0, what="traffic")
    assert "rate" in got["recv_oct_details"]
    conn.close()


def test_queue_shows_unacked_bytes_consumer_capacity_owner_and_idle_since(broker, mgmt):
    conn = broker.connect()
    ch = conn.channel()
    q = ch.queue_declare("", exclusive=True).method.queue
    path = f"/api/queues/{vh('/')}/{q}"
    ch.basic_qos(prefetch_count=1)
    for _ in range(3):
        ch.basic_publish("", q, b"y" * 1000)
    deliveries = []
    ch.basic_consume(q, lambda _c, method, _p, _b: deliveries.append(method.delivery_tag))
    while not deliveries:
        conn.process_data_events(time_limit=1)

    # One delivery waits for its ack; the consumer's prefetch is full while two are ready.
    held = eventually(
        lambda: mgmt.json(path),
        lambda v: v["messages_unacknowledged"] == 1 and v["messages_ready"] == 2,
        what="one unacked delivery",
    )
    assert 1000 <= held["message_bytes_unacknowledged"] < 1200
    assert held["message_bytes"] == held["message_bytes_ready"] + held["message_bytes_unacknowledged"]
    assert held["consumers"] == 1
    assert held["consumer_capacity"] < 1.0
    # The owner of an exclusive queue, as the connection list shows it.
    owner = held["owner_pid_details"]
    listed = {c["name"]: c for c in mgmt.json("/api/connections")}
    assert owner["name"] in listed
    assert (owner["peer_host"], owner["peer_port"]) == (
        listed[owner["name"]]["peer_host"],
        listed[owner["name"]]["peer_port"],
    )

    # Settle everything: nothing waits for the consumer any more.
    acked = 0
    while acked < 3:
        if len(deliveries) > acked:
            ch.basic_ack(deliveries[-1], multiple=True)
            acked = len(deliveries)
        conn.process_data_events(time_limit=0.2)
    idle = eventually(
        lambda: mgmt.json(path),
        lambda v: v["messages_unacknowledged"] == 0 and v["message_bytes_unacknowledged"] == 0,
        what="settled",
    )
    assert idle["message_bytes"] == 0
    if broker.process is not None:
        # Warren's capacity is the share of consumers able to take a message now (RabbitMQ's
        # is a time average that moves only with traffic).
        assert idle["consumer_capacity"] == 1.0
    # A queue with no traffic for a statistics interval shows since when it is idle.
    idle = eventually(lambda: mgmt.json(path), lambda v: "idle_since" in v, timeout=20, what="idle_since")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", idle["idle_since"])
    conn.close()

