"""Message flow with pika: volume, size, basic.get, properties, acks, recover, transactions."""

import datetime
import decimal
import hashlib
import os
import time

import pika
import pika.exceptions
import pytest

from amqp_helpers import Collector, get_all, message_count, pump, wait_until


def test_ten_thousand_messages_in_order(connect, names):
    q = names.queue("bulk")
    n = 10_000
    pub = connect()
    pch = pub.channel()
    pch.queue_declare(q)

    sub = connect()
    sch = sub.channel()
    sch.basic_qos(prefetch_count=500)
    received = []
    last_tag = [0]

    def on_message(ch, method, props, body):
        received.append(body)
        last_tag[0] = method.delivery_tag
        assert method.redelivered is False
        if len(received) % 250 == 0:
            ch.basic_ack(method.delivery_tag, multiple=True)

    sch.basic_consume(q, on_message, auto_ack=False)

    for i in range(n):
        pch.basic_publish("", q, b"%d" % i, pika.BasicProperties(message_id=str(i)))
    pub.process_data_events(time_limit=0)

    wait_until(sub, lambda: len(received) >= n, 60, f"{n} messages (got {len(received)})")
    sch.basic_ack(last_tag[0], multiple=True)
    pump([sub], 0.2)
    assert len(received) == n, f"duplicates: {len(received) - n}"
    order = [int(b) for b in received]
    assert order == list(range(n)), "messages lost, duplicated or reordered"
    assert last_tag[0] == n  # delivery tags count 1..n on the channel
    ok = pch.queue_declare(q, passive=True)
    assert ok.method.message_count == 0
    assert pch.basic_get(q)[0] is None


def test_eight_mib_message_intact(connect, names):
    q = names.queue("big")
    body = os.urandom(8 * 1024 * 1024)
    digest = hashlib.sha256(body).hexdigest()
    conn = connect()
    ch = conn.channel()
    ch.queue_declare(q)
    ch.confirm_delivery()
    ch.basic_publish("", q, body, pika.BasicProperties(content_type="application/octet-stream"))
    # Also an empty body, and bodies around body-frame boundaries.
    frame_max = conn._impl.params.frame_max  # as negotiated with the broker
    assert 4096 <= frame_max <= 1024 * 1024
    edges = [os.urandom(frame_max - 8 + d) for d in (-1, 0, 1)] + [os.urandom(2 * (frame_max - 8))]
    ch.basic_publish("", q, b"")
    for e in edges:
        ch.basic_publish("", q, e)

    cch = conn.channel()
    got = Collector(cch, q, auto_ack=True).wait_for(2 + len(edges), timeout=60)
    assert len(got[0].body) == len(body)
    assert hashlib.sha256(got[0].body).hexdigest() == digest
    assert got[0].body == body
    assert got[0].properties.content_type == "application/octet-stream"
    assert got[1].body == b""
    assert [len(m.body) for m in got[2:]] == [len(e) for e in edges]
    assert [m.body for m in got[2:]] == edges


def test_basic_get_and_get_empty(connect, names):
    q = names.queue("get")
    conn = connect()
    ch = conn.channel()
    ch.queue_declare(q)
    assert ch.basic_get(q, auto_ack=True) == (None, None, None)

    ch.confirm_delivery()
    for b in (b"first", b"second", b"third"):
        ch.basic_publish("", q, b, pika.BasicProperties(correlation_id=b.decode()))

    method, props, body = ch.basic_get(q, auto_ack=True)
    assert body == b"first"
    assert props.correlation_id == "first"
    assert method.message_count == 2  # messages still in the queue
    assert method.redelivered is False
    assert method.exchange == ""
    assert method.routing_key == q

    # Without auto-ack: reject with requeue puts it back, marked redelivered.
    method, _, body = ch.basic_get(q, auto_ack=False)
    assert body == b"second"
    assert method.message_count == 1
    ch.basic_reject(method.delivery_tag, requeue=True)
    method, _, body = ch.basic_get(q, auto_ack=False)
    assert body == b"second"
    assert method.redelivered is True
    ch.basic_ack(method.delivery_tag)

    method, _, body = ch.basic_get(q, auto_ack=True)
    assert body == b"third"
    assert method.message_count == 0
    assert ch.basic_get(q, auto_ack=True) == (None, None, None)
    assert ch.basic_get(q) == (None, None, None)


def _assert_same(expected, actual, path="headers"):
    """Equal values and equal AMQP-visible types (pika's long is an int; bool is not)."""
    if isinstance(expected, bool) or isinstance(actual, bool):
        assert type(actual) is type(expected), f"{path}: {actual!r} != {expected!r}"
        assert actual == expected, f"{path}: {actual!r} != {expected!r}"
    elif isinstance(expected, int):
        assert isinstance(actual, int), f"{path}: {actual!r} is not an int"
        assert actual == expected, f"{path}: {actual!r} != {expected!r}"
    elif isinstance(expected, dict):
        assert isinstance(actual, dict), f"{path}: {actual!r} is not a table"
        assert set(actual) == set(expected), f"{path}: keys {sorted(actual)} != {sorted(expected)}"
        for k in expected:
            _assert_same(expected[k], actual[k], f"{path}[{k!r}]")
    elif isinstance(expected, list):
        assert isinstance(actual, list), f"{path}: {actual!r} is not an array"
        assert len(actual) == len(expected), f"{path}: {actual!r} != {expected!r}"
        for i, (e, a) in enumerate(zip(expected, actual)):
            _assert_same(e, a, f"{path}[{i}]")
    else:
        assert type(actual) is type(expected), f"{path}: {actual!r} ({type(actual)}) != {expected!r}"
        assert actual == expected, f"{path}: {actual!r} != {expected!r}"


def test_properties_and_headers_round_trip(connect, names):
    q = names.queue("props")
    headers = {
        "string": "hello",
        "unicode": "h\u00e9llo \u2713 \u65e5\u672c",
        "empty-string": "",
        "int": 42,
        "negative": -7,
        "zero": 0,
        "int32-max": 2**31 - 1,
        "int32-min": -(2**31),
        "int64": 2**40 + 5,
        "int64-negative": -(2**40),
        "int64-max": 2**63 - 1,
        "true": True,
        "false": False,
        "bytes": b"\x00\x01\xfe\xffbinary",
        "decimal": decimal.Decimal("12.345"),
        "timestamp": datetime.datetime(2024, 5, 17, 12, 34, 56),
        "void": None,
        "array": [1, "two", True, [3, [4]], {"k": "v"}, b"\x00", None, -9],
        "empty-array": [],
        "nested": {"a": {"b": {"c": [1, 2, {"d": "deep"}]}}, "x": -1, "t": False},
        "empty-table": {},
        "x-custom": "kept",
    }
    props = pika.BasicProperties(
        content_type="application/json",
        content_encoding="gzip",
        headers=headers,
        delivery_mode=2,
        priority=7,
        correlation_id="corr-\u00e9-123",
        reply_to="reply.queue",
        expiration="60000",
        message_id="msg-0001",
        timestamp=1700000000,
        type="order.created",
        user_id="guest",  # must equal the authenticated user
        app_id="warren-tests",
    )
    bare = pika.BasicProperties()
    conn = connect()
    ch = conn.channel()
    ch.queue_declare(q)
    ch.confirm_delivery()
    ch.basic_publish("", q, b'{"k": 1}', props)
    ch.basic_publish("", q, b"bare", bare)

    got = Collector(conn.channel(), q, auto_ack=True).wait_for(2)
    p = got[0].properties
    for field in (
        "content_type", "content_encoding", "delivery_mode", "priority", "correlation_id",
        "reply_to", "expiration", "message_id", "timestamp", "type", "user_id", "app_id",
    ):
        assert getattr(p, field) == getattr(props, field), field
    _assert_same(headers, p.headers)
    assert got[0].body == b'{"k": 1}'

    # A message published without properties arrives without any.
    b = got[1].properties
    for field in (
        "content_type", "content_encoding", "headers", "delivery_mode", "priority", "correlation_id",
        "reply_to", "expiration", "message_id", "timestamp", "type", "user_id", "app_id",
    ):
        assert getattr(b, field) is None, (field, getattr(b, field))
    assert got[1].body == b"bare"


def test_user_id_must_match_authenticated_user(connect, names):
    conn = connect()
    ch = conn.channel()
    ch.confirm_delivery()
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as info:
        ch.basic_publish("", names.queue("any"), b"x", pika.BasicProperties(user_id="mallory"))
    assert info.value.reply_code == 406


def test_reject_and_nack_requeue_true_and_false(connect, names):
    q = names.queue("acks")
    conn = connect()
    ch = conn.channel()
    ch.queue_declare(q)
    ch.confirm_delivery()
    for i in range(6):
        ch.basic_publish("", q, b"m%d" % i)

    cch = conn.channel()
    cch.basic_qos(prefetch_count=6)
    c = Collector(cch, q, auto_ack=False)
    first = c.wait_for(6)
    tags = {m.body: m.method.delivery_tag for m in first}
    assert [m.body for m in first] == [b"m%d" % i for i in range(6)]

    cch.basic_reject(tags[b"m0"], requeue=False)  # dropped
    cch.basic_reject(tags[b"m1"], requeue=True)  # comes back
    cch.basic_nack(tags[b"m2"], multiple=False, requeue=False)  # dropped
    cch.basic_ack(tags[b"m3"])
    cch.basic_nack(tags[b"m5"], multiple=True, requeue=True)  # m4 and m5 come back

    redelivered = c.wait_for(9)[6:]
    assert sorted(m.body for m in redelivered) == [b"m1", b"m4", b"m5"]
    assert all(m.method.redelivered for m in redelivered)
    # Requeued messages keep their original order.
    assert [m.body for m in redelivered] == [b"m1", b"m4", b"m5"]
    for m in redelivered:
        cch.basic_ack(m.method.delivery_tag)
    pump([conn], 0.2)
    assert len(c.messages) == 9
    assert message_count(conn, q) == 0


def test_basic_recover_redelivers_unacked(connect, names):
    q = names.queue("recover")
    conn = connect()
    ch = conn.channel()
    ch.queue_declare(q)
    for i in range(3):
        ch.basic_publish("", q, b"r%d" % i)
    c = Collector(ch, q, auto_ack=False)
    c.wait_for(3)
    ch.basic_ack(c.messages[0].method.delivery_tag)  # r0 acked, r1 and r2 outstanding
    ch.basic_recover(requeue=True)
    c.wait_for(5)
    again = c.messages[3:]
    assert sorted(m.body for m in again) == [b"r1", b"r2"]
    assert all(m.method.redelivered for m in again)
    for m in again:
        ch.basic_ack(m.method.delivery_tag)
    pump([conn], 0.2)
    assert len(c.messages) == 5
    assert message_count(conn, q) == 0


def test_tx_commit_and_rollback(connect, names):
    q = names.queue("tx")
    conn = connect()
    ch = conn.channel()
    ch.queue_declare(q)
    ch.tx_select()

    ch.basic_publish("", q, b"rolled-back-1")
    ch.basic_publish("", q, b"rolled-back-2")
    assert message_count(conn, q) == 0  # not visible before commit
    ch.tx_rollback()

    ch.basic_publish("", q, b"committed-1")
    ch.basic_publish("", q, b"committed-2")
    ch.tx_commit()
    assert message_count(conn, q) == 2  # visible once tx.commit-ok is back

    other = conn.channel()
    assert get_all(other, q) == [b"committed-1", b"committed-2"]

    # Acks are transactional too: a rolled back ack leaves the message unacked.
    ch.basic_publish("", q, b"ack-me")
    ch.tx_commit()
    method, _, body = ch.basic_get(q, auto_ack=False)
    assert body == b"ack-me"
    ch.basic_ack(method.delivery_tag)
    ch.tx_rollback()
    ch.close()  # closing the channel requeues the still-unacked message
    wait_until(conn, lambda: message_count(conn, q) == 1, 10, "requeue of the un-acked message")
    method, _, body = other.basic_get(q, auto_ack=True)
    assert body == b"ack-me"
    assert method.redelivered is True
