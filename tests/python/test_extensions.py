"""RabbitMQ extensions that clients (and Celery/kombu) rely on: dead-lettering, TTLs,
max-length, priorities, exclusive consumers, basic.return, queue expiry."""

import time

import pika
import pika.exceptions
import pytest

from amqp_helpers import Collector, channel_error, dead_letter_setup, get_all, pump, wait_until


def test_dead_letter_on_reject(connect, names):
    conn = connect()
    ch = conn.channel()
    dlx, dlq, q = dead_letter_setup(ch, names, {})
    ch.confirm_delivery()
    ch.basic_publish("", q, b"bad", pika.BasicProperties(headers={"app": "x"}, expiration="60000"))
    ch.basic_publish("", q, b"good")

    method, _, body = ch.basic_get(q)
    assert body == b"bad"
    ch.basic_reject(method.delivery_tag, requeue=False)
    method, _, body = ch.basic_get(q)
    assert body == b"good"
    ch.basic_nack(method.delivery_tag, requeue=True)  # requeue: not dead-lettered

    dead = Collector(conn.channel(), dlq)
    m = dead.wait_for(1)[0]
    assert m.body == b"bad"
    assert m.method.exchange == dlx
    assert m.method.routing_key == q  # original routing key kept
    h = m.properties.headers
    assert h["app"] == "x"
    death = h["x-death"]
    assert isinstance(death, list) and len(death) == 1
    assert death[0]["reason"] == "rejected"
    assert death[0]["queue"] == q
    assert death[0]["exchange"] == ""
    assert death[0]["routing-keys"] == [q]
    assert death[0]["count"] == 1
    assert death[0]["original-expiration"] == "60000"
    assert m.properties.expiration is None  # removed so it does not expire again
    assert h["x-first-death-reason"] == "rejected"
    assert h["x-first-death-queue"] == q
    pump([conn], 0.1)
    assert len(dead.messages) == 1
    assert get_all(ch, q) == [b"good"]


def test_queue_message_ttl_expires_to_dead_letter_exchange(connect, names):
    conn = connect()
    ch = conn.channel()
    dlx, dlq, q = dead_letter_setup(ch, names, {"x-message-ttl": 50, "x-dead-letter-routing-key": "expired"})
    ch.basic_publish("", q, b"short-lived")
    dead = Collector(conn.channel(), dlq).wait_for(1, timeout=10)
    assert dead[0].body == b"short-lived"
    assert dead[0].method.routing_key == "expired"
    assert dead[0].properties.headers["x-death"][0]["reason"] == "expired"
    assert ch.queue_declare(q, passive=True).method.message_count == 0


def test_per_message_expiration(connect, names):
    conn = connect()
    ch = conn.channel()
    dlx, dlq, q = dead_letter_setup(ch, names, {})
    ch.basic_publish("", q, b"expires", pika.BasicProperties(expiration="30"))
    ch.basic_publish("", q, b"stays", pika.BasicProperties(expiration="600000"))
    dead = Collector(conn.channel(), dlq).wait_for(1, timeout=10)
    assert dead[0].body == b"expires"
    assert dead[0].properties.headers["x-death"][0]["reason"] == "expired"
    method, props, body = ch.basic_get(q, auto_ack=True)
    assert body == b"stays"
    assert props.expiration == "600000"

    # An expiration that is not a non-negative integer string is refused.
    ch.confirm_delivery()
    with channel_error(406):
        ch.basic_publish("", q, b"x", pika.BasicProperties(expiration="soon"))


def test_max_length_drops_oldest(connect, names):
    q = names.queue("bounded")
    conn = connect()
    ch = conn.channel()
    ch.queue_declare(q, arguments={"x-max-length": 3})
    ch.confirm_delivery()
    for i in range(6):
        ch.basic_publish("", q, b"%d" % i)
    assert ch.queue_declare(q, passive=True).method.message_count == 3
    assert get_all(ch, q) == [b"3", b"4", b"5"]


def test_max_length_reject_publish_nacks(connect, names):
    q = names.queue("bounded")
    conn = connect()
    ch = conn.channel()
    ch.queue_declare(q, arguments={"x-max-length": 2, "x-overflow": "reject-publish"})
    ch.confirm_delivery()
    ch.basic_publish("", q, b"0")
    ch.basic_publish("", q, b"1")
    with pytest.raises(pika.exceptions.NackError):
        ch.basic_publish("", q, b"2")
    assert ch.is_open
    assert get_all(ch, q) == [b"0", b"1"]


def test_priority_queue_delivers_highest_priority_first(connect, names):
    q = names.queue("prio")
    conn = connect()
    ch = conn.channel()
    ch.queue_declare(q, arguments={"x-max-priority": 10})
    ch.confirm_delivery()
    for body, prio in [(b"low", 1), (b"none", None), (b"high", 9), (b"mid", 5), (b"over", 200),
                       (b"high2", 9), (b"top", 10), (b"zero", 0)]:
        ch.basic_publish("", q, body, pika.BasicProperties(priority=prio))
    # Priorities above x-max-priority count as the maximum; equal priorities stay FIFO;
    # no priority is priority 0.
    assert get_all(ch, q) == [b"over", b"top", b"high", b"high2", b"mid", b"low", b"none", b"zero"]


def test_exclusive_consumer(connect, names):
    q = names.queue("exclusive-consumer")
    conn = connect()
    ch = conn.channel()
    ch.queue_declare(q)
    tag = ch.basic_consume(q, lambda *a: None, exclusive=True)
    with channel_error(403, "ACCESS_REFUSED"):
        conn.channel().basic_consume(q, lambda *a: None)
    # and an exclusive consumer can't join a queue that has consumers
    q2 = names.queue("shared")
    ch.queue_declare(q2)
    ch.basic_consume(q2, lambda *a: None)
    with channel_error(403):
        conn.channel().basic_consume(q2, lambda *a: None, exclusive=True)
    ch.basic_cancel(tag)
    conn.channel().basic_consume(q, lambda *a: None)  # free again


def test_mandatory_return_without_confirms(connect, names):
    conn = connect()
    ch = conn.channel()
    returned = []
    ch.add_on_return_callback(lambda _ch, method, props, body: returned.append((method, props, body)))
    missing = names.queue("missing")
    ch.basic_publish("", missing, b"bounce", pika.BasicProperties(message_id="m-1"), mandatory=True)
    ch.basic_publish("", names.queue("missing-too"), b"dropped")  # not mandatory: no return
    wait_until(conn, lambda: returned, 10, "basic.return")
    pump([conn], 0.2)
    assert len(returned) == 1
    method, props, body = returned[0]
    assert body == b"bounce"
    assert props.message_id == "m-1"
    assert method.reply_code == 312
    assert method.reply_text == "NO_ROUTE"
    assert method.exchange == ""
    assert method.routing_key == missing


def test_queue_expires_when_unused(connect, names):
    q = names.queue("expiring")
    conn = connect()
    ch = conn.channel()
    ch.queue_declare(q, arguments={"x-expires": 300})
    # Watch with mandatory publishes: declaring (even passively) or basic.get would
    # count as using the queue and renew its lease; publishing does not.
    ch.confirm_delivery()
    deadline = time.monotonic() + 10
    while True:
        try:
            ch.basic_publish("", q, b"ping", mandatory=True)
        except pika.exceptions.UnroutableError:
            break  # the queue is gone
        assert time.monotonic() < deadline, "queue with x-expires=300 still exists after 10s"
        conn.process_data_events(time_limit=0.1)
