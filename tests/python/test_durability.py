"""RabbitMQ tutorial 2 (work queues), "message durability": a durable ``task_queue`` and
persistent messages survive a broker restart (clean stop, and a crash after publisher confirms),
and a worker then gets every task, in order.

These tests restart the broker, so they run only against a Warren binary (WARREN_BIN).
"""

import pika
import pika.exceptions
import pytest

from amqp_helpers import Collector, message_count

QUEUE = "task_queue"
TASKS = [f"Task {i}{'.' * (i % 4)}".encode() for i in range(200)]


def persistent():
    return pika.BasicProperties(delivery_mode=pika.DeliveryMode.Persistent)


def new_task(broker, confirm=False):
    """new_task.py: declare the durable queue, publish the tasks as persistent messages."""
    conn = broker.connect()
    ch = conn.channel()
    ch.queue_declare(queue=QUEUE, durable=True)
    if confirm:
        # Every basic_publish now waits for the broker's ack (raises on a nack).
        ch.confirm_delivery()
    for body in TASKS:
        ch.basic_publish(exchange="", routing_key=QUEUE, body=body, properties=persistent())
    return conn, ch


def worker(broker, n):
    """worker.py: prefetch 1, manual ack; returns the first n deliveries, all acked."""
    conn = broker.connect()
    ch = conn.channel()
    ch.queue_declare(queue=QUEUE, durable=True)
    ch.basic_qos(prefetch_count=1)
    got = Collector(
        ch, QUEUE, auto_ack=False, on_message=lambda m: ch.basic_ack(delivery_tag=m.method.delivery_tag)
    ).wait_for(n, timeout=30)
    return conn, got


def assert_all_tasks_then_empty(broker):
    conn, got = worker(broker, len(TASKS))
    assert [m.body for m in got] == TASKS
    assert all(m.properties.delivery_mode == 2 for m in got)
    # The acks reach the broker before this round trip's answer.
    assert message_count(conn, QUEUE) == 0
    conn.close()
    # Acked tasks stay done after another (clean) restart.
    broker.restart()
    conn = broker.connect()
    assert message_count(conn, QUEUE) == 0
    conn.close()


def test_task_queue_survives_clean_restart(restartable_broker):
    b = restartable_broker
    conn, ch = new_task(b)
    # A round trip after the publishes: the broker has them all.
    assert ch.queue_declare(queue=QUEUE, passive=True).method.message_count == len(TASKS)
    conn.close()

    b.restart()

    assert_all_tasks_then_empty(b)


def test_task_queue_survives_kill_after_confirms(restartable_broker):
    b = restartable_broker
    conn, _ch = new_task(b, confirm=True)
    # Every task was confirmed (stored on disk): the broker crashes now.
    b.kill()
    try:
        conn.close()
    except (pika.exceptions.AMQPError, OSError):
        pass  # the connection died with the broker

    b.start()

    assert_all_tasks_then_empty(b)


def test_non_durable_queue_and_transient_messages_do_not_survive(restartable_broker):
    """What the tutorial warns about: without durable=True and delivery_mode=2, a restart
    loses the queue or its messages."""
    b = restartable_broker
    conn = b.connect()
    ch = conn.channel()
    ch.queue_declare(queue="hello", durable=False)
    ch.queue_declare(queue=QUEUE, durable=True)
    ch.basic_publish(exchange="", routing_key="hello", body=b"lost with its queue", properties=persistent())
    ch.basic_publish(exchange="", routing_key=QUEUE, body=b"transient")  # no delivery_mode
    ch.basic_publish(exchange="", routing_key=QUEUE, body=b"persistent", properties=persistent())
    assert ch.queue_declare(queue=QUEUE, passive=True).method.message_count == 2
    conn.close()

    b.restart()

    conn = b.connect()
    ch = conn.channel()
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as info:
        ch.queue_declare(queue="hello", passive=True)
    assert info.value.reply_code == 404
    ch = conn.channel()
    method, _props, body = ch.basic_get(QUEUE, auto_ack=True)
    assert method is not None and body == b"persistent"
    assert ch.basic_get(QUEUE, auto_ack=True)[0] is None
    conn.close()
