"""Queues, exchanges and bindings with pika: declare/purge/delete, errors, lifecycles."""

import pika
import pika.exceptions
import pytest

from amqp_helpers import (
    Collector,
    channel_error,
    consume_until_marker,
    get_all,
    message_count,
    publish_marker,
    pump,
    queue_exists,
    wait_queue_gone,
    wait_until,
)


# --- queue.declare-ok counts, purge, delete ---------------------------------


def test_queue_declare_returns_message_and_consumer_counts(connect, names):
    q = names.queue("counts")
    conn = connect()
    ch = conn.channel()
    ok = ch.queue_declare(q)
    assert ok.method.queue == q
    assert (ok.method.message_count, ok.method.consumer_count) == (0, 0)

    ch.confirm_delivery()
    for i in range(3):
        ch.basic_publish("", q, b"%d" % i)
    ok = ch.queue_declare(q, passive=True)
    assert (ok.method.message_count, ok.method.consumer_count) == (3, 0)

    # A consumer with prefetch 1 holds one unacked message: only ready messages count.
    cch = conn.channel()
    cch.basic_qos(prefetch_count=1)
    c = Collector(cch, q, auto_ack=False)
    c.wait_for(1)
    ok = ch.queue_declare(q)  # non-passive redeclare reports counts too
    assert (ok.method.message_count, ok.method.consumer_count) == (2, 1)

    c2 = Collector(conn.channel(), q, auto_ack=False)
    wait_until(conn, lambda: len(c2.messages) == 2, 10, "second consumer's messages")
    ok = ch.queue_declare(q, passive=True)
    assert (ok.method.message_count, ok.method.consumer_count) == (0, 2)

    cch.basic_cancel(c.tag)
    ok = ch.queue_declare(q, passive=True)
    assert ok.method.consumer_count == 1


def test_purge_returns_count(connect, names):
    q = names.queue("purge")
    conn = connect()
    ch = conn.channel()
    ch.queue_declare(q)
    ch.confirm_delivery()
    for i in range(5):
        ch.basic_publish("", q, b"%d" % i)
    ok = ch.queue_purge(q)
    assert ok.method.message_count == 5
    assert ch.queue_declare(q, passive=True).method.message_count == 0
    assert ch.queue_purge(q).method.message_count == 0

    # Purge does not touch messages that are delivered but unacked.
    for i in range(3):
        ch.basic_publish("", q, b"%d" % i)
    cch = conn.channel()
    cch.basic_qos(prefetch_count=1)
    c = Collector(cch, q, auto_ack=False)
    c.wait_for(1)
    assert ch.queue_purge(q).method.message_count == 2
    cch.basic_cancel(c.tag)  # does not requeue; closing the channel does
    cch.close()
    wait_until(conn, lambda: message_count(conn, q) == 1, 10, "requeue on channel close")


def test_queue_delete_if_empty_and_if_unused(connect, names):
    conn = connect()
    ch = conn.channel()

    q1 = names.queue("not-empty")
    ch.queue_declare(q1)
    ch.confirm_delivery()
    ch.basic_publish("", q1, b"x")
    ch.basic_publish("", q1, b"y")
    with channel_error(406):
        ch.queue_delete(q1, if_empty=True)
    ch = conn.channel()
    assert queue_exists(conn, q1)
    ok = ch.queue_delete(q1)
    assert ok.method.message_count == 2
    assert not queue_exists(conn, q1)

    q2 = names.queue("in-use")
    ch.queue_declare(q2)
    consumer_ch = conn.channel()
    consumer_ch.basic_consume(q2, lambda *a: None, auto_ack=True)
    with channel_error(406):
        ch.queue_delete(q2, if_unused=True)
    ch = conn.channel()
    assert queue_exists(conn, q2)
    assert ch.queue_delete(q2, if_empty=True).method.message_count == 0  # empty: allowed

    q3 = names.queue("empty-unused")
    ch.queue_declare(q3)
    ok = ch.queue_delete(q3, if_unused=True, if_empty=True)
    assert ok.method.message_count == 0
    assert not queue_exists(conn, q3)


# --- channel errors -----------------------------------------------------------


def test_passive_declare_of_missing_queue_is_404(connect, names):
    conn = connect()
    ch = conn.channel()
    q = names.queue("missing")
    with channel_error(404) as info:
        ch.queue_declare(q, passive=True)
    assert q in info.value.reply_text
    assert ch.is_closed
    assert conn.is_open  # a channel error leaves the connection usable
    ch2 = conn.channel()
    assert ch2.queue_declare("", exclusive=True).method.queue


def test_passive_declare_of_missing_exchange_is_404(connect, names):
    ch = connect().channel()
    with channel_error(404):
        ch.exchange_declare(names.exchange("missing"), exchange_type="direct", passive=True)


@pytest.mark.parametrize(
    "first,second",
    [
        ({"durable": False}, {"durable": True}),
        ({}, {"arguments": {"x-message-ttl": 1000}}),
        ({"arguments": {"x-max-length": 10}}, {"arguments": {"x-max-length": 20}}),
        ({}, {"auto_delete": True}),
    ],
    ids=["durable", "added-arg", "changed-arg", "auto-delete"],
)
def test_queue_redeclare_with_different_args_is_406(connect, names, first, second):
    q = names.queue("redeclare")
    conn = connect()
    ch = conn.channel()
    ch.queue_declare(q, **first)
    with channel_error(406, "PRECONDITION_FAILED"):
        ch.queue_declare(q, **second)
    assert conn.is_open
    # The original queue is unchanged and the same declaration still works.
    ch = conn.channel()
    ch.queue_declare(q, **first)


def test_exchange_redeclare_with_different_type_is_406(connect, names):
    ex = names.exchange("typed")
    conn = connect()
    ch = conn.channel()
    ch.exchange_declare(ex, exchange_type="direct")
    with channel_error(406):
        ch.exchange_declare(ex, exchange_type="fanout")
    ch = conn.channel()
    ch.exchange_declare(ex, exchange_type="direct")
    ch.exchange_declare(ex, exchange_type="direct", passive=True)


def test_declaring_reserved_amq_names_is_403(connect, names):
    conn = connect()
    with channel_error(403, "ACCESS_REFUSED"):
        conn.channel().exchange_declare("amq." + names.exchange("custom"), exchange_type="direct")
    with channel_error(403, "ACCESS_REFUSED"):
        conn.channel().queue_declare("amq." + names.queue("custom"))
    # Built-in amq.* exchanges can still be declared passively (and used).
    ch = conn.channel()
    for ex, kind in [("amq.direct", "direct"), ("amq.fanout", "fanout"),
                     ("amq.topic", "topic"), ("amq.headers", "headers"), ("amq.match", "headers")]:
        ch.exchange_declare(ex, exchange_type=kind, passive=True)


def test_publish_to_missing_exchange_is_404(connect, names):
    conn = connect()
    ch = conn.channel()
    ch.confirm_delivery()
    ex = names.exchange("missing")
    with channel_error(404) as info:
        ch.basic_publish(ex, "key", b"x")
    assert ex in info.value.reply_text


def test_consume_and_bind_missing_queue_is_404(connect, names):
    conn = connect()
    with channel_error(404):
        conn.channel().basic_consume(names.queue("missing"), lambda *a: None)
    with channel_error(404):
        conn.channel().queue_bind(names.queue("missing2"), "amq.direct", "k")
    q = conn.channel().queue_declare("", exclusive=True).method.queue
    with channel_error(404):
        conn.channel().queue_bind(q, names.exchange("missing"), "k")


def test_other_connections_exclusive_queue_is_405(connect, names):
    owner = connect()
    q = names.queue("exclusive")
    owner.channel().queue_declare(q, exclusive=True)

    other = connect()
    with channel_error(405, "RESOURCE_LOCKED"):
        other.channel().queue_declare(q, passive=True)
    with channel_error(405):
        other.channel().queue_declare(q, exclusive=True)
    with channel_error(405):
        other.channel().basic_consume(q, lambda *a: None)
    with channel_error(405):
        other.channel().queue_delete(q)
    with channel_error(405):
        other.channel().queue_purge(q)
    assert other.is_open

    # The owner is unaffected and may use it from any of its channels.
    och = owner.channel()
    och.confirm_delivery()
    och.basic_publish("", q, b"mine")
    assert get_all(owner.channel(), q) == [b"mine"]


# --- exchange-to-exchange bindings, alternate exchange ------------------------


def test_exchange_to_exchange_bindings(connect, names):
    src = names.exchange("source")
    dst = names.exchange("destination")
    conn = connect()
    ch = conn.channel()
    ch.exchange_declare(src, exchange_type="topic")
    ch.exchange_declare(dst, exchange_type="fanout")
    q = ch.queue_declare("", exclusive=True).method.queue
    direct_q = ch.queue_declare("", exclusive=True).method.queue
    ch.queue_bind(q, dst)
    ch.queue_bind(direct_q, src, routing_key="a.b")
    ch.exchange_bind(destination=dst, source=src, routing_key="a.*")

    for k in ("a.b", "a.c", "b.c", "a.b.c"):
        ch.basic_publish(src, k, k.encode())
    publish_marker(ch, "", q)
    publish_marker(ch, "", direct_q)
    assert consume_until_marker(conn, q) == [b"a.b", b"a.c"]
    assert consume_until_marker(conn, direct_q) == [b"a.b"]  # still delivered once per queue

    # A queue reachable both directly and through the destination exchange gets one copy.
    ch.queue_bind(direct_q, dst)
    ch.basic_publish(src, "a.b", b"once")
    publish_marker(ch, "", direct_q)
    publish_marker(ch, "", q)
    assert consume_until_marker(conn, direct_q) == [b"once"]
    assert consume_until_marker(conn, q) == [b"once"]

    ch.exchange_unbind(destination=dst, source=src, routing_key="a.*")
    ch.basic_publish(src, "a.c", b"after-unbind")
    publish_marker(ch, "", q)
    assert consume_until_marker(conn, q) == []


def test_alternate_exchange_gets_unroutable_messages(connect, names):
    ae = names.exchange("ae")
    main = names.exchange("main")
    conn = connect()
    ch = conn.channel()
    ch.exchange_declare(ae, exchange_type="fanout")
    ch.exchange_declare(main, exchange_type="direct", arguments={"alternate-exchange": ae})
    unrouted = ch.queue_declare("", exclusive=True).method.queue
    routed = ch.queue_declare("", exclusive=True).method.queue
    ch.queue_bind(unrouted, ae)
    ch.queue_bind(routed, main, routing_key="known")

    ch.confirm_delivery()
    ch.basic_publish(main, "known", b"k1")
    ch.basic_publish(main, "unknown", b"u1")
    # Mandatory publish is not returned: the alternate exchange routed it.
    ch.basic_publish(main, "other", b"u2", mandatory=True)
    ch.basic_publish(main, "known", b"k2")

    assert get_all(ch, routed) == [b"k1", b"k2"]
    unrouted_msgs = []
    for _ in range(2):
        method, _, body = ch.basic_get(unrouted, auto_ack=True)
        assert method is not None
        unrouted_msgs.append((body, method.exchange, method.routing_key))
    assert unrouted_msgs == [(b"u1", main, "unknown"), (b"u2", main, "other")]
    assert ch.basic_get(unrouted)[0] is None


# --- lifecycles -------------------------------------------------------------


def test_auto_delete_queue_vanishes_after_last_consumer_cancels(connect, names):
    q = names.queue("auto-delete")
    conn = connect()
    ch = conn.channel()
    ch.queue_declare(q, auto_delete=True)
    assert queue_exists(conn, q)  # no consumer yet: it stays

    c1 = conn.channel()
    c2 = conn.channel()
    t1 = c1.basic_consume(q, lambda *a: None, auto_ack=True)
    t2 = c2.basic_consume(q, lambda *a: None, auto_ack=True)
    c1.basic_cancel(t1)
    pump([conn], 0.2)
    assert queue_exists(conn, q)  # one consumer left
    c2.basic_cancel(t2)
    wait_queue_gone(conn, q)


def test_exclusive_queue_vanishes_when_connection_closes(connect, names):
    q = names.queue("exclusive")
    owner = connect()
    owner.channel().queue_declare(q, exclusive=True)
    server_named = owner.channel().queue_declare("", exclusive=True).method.queue
    observer = connect()
    with channel_error(405):
        observer.channel().queue_declare(q, passive=True)
    owner.close()
    wait_queue_gone(observer, q)
    wait_queue_gone(observer, server_named)
    # The name is free again.
    ch = observer.channel()
    ch.queue_declare(q, exclusive=True)


def test_consumer_cancel_notification_when_queue_deleted(connect, names):
    q = names.queue("doomed")
    conn = connect()
    ch = conn.channel()
    ch.queue_declare(q)
    cancels = []
    ch.add_on_cancel_callback(lambda frame: cancels.append(frame))
    tag = ch.basic_consume(q, lambda *a: None, auto_ack=True)
    assert ch.consumer_tags == [tag]

    other = connect()
    other.channel().queue_delete(q)

    wait_until(conn, lambda: cancels, 10, "basic.cancel from the broker")
    assert cancels[0].method.NAME == "Basic.Cancel"
    assert cancels[0].method.consumer_tag == tag
    assert ch.consumer_tags == []
    assert ch.is_open  # the channel survives


def test_consume_generator_ends_when_queue_deleted(connect, names):
    q = names.queue("doomed-gen")
    conn = connect()
    ch = conn.channel()
    ch.queue_declare(q)
    ch.confirm_delivery()
    ch.basic_publish("", q, b"before")

    other = connect()
    seen = []
    deleted = False
    idle = 0
    for method, props, body in ch.consume(q, auto_ack=True, inactivity_timeout=0.2):
        if method is None:  # idle: delete the queue under the consumer (once)
            idle += 1
            assert idle < 50, "consumer was never cancelled by the broker"
            if seen and not deleted:
                other.channel().queue_delete(q)
                deleted = True
            continue
        seen.append(body)
    # The generator returned by itself (broker-sent basic.cancel).
    assert deleted
    assert seen == [b"before"]
    assert ch.is_open
