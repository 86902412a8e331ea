"""Queue features of durable queues across restarts, clean (SIGTERM) and crashed (kill -9):
priorities, TTL deadlines (counted from publishing, not from the restart), dead-letter
settings, the x-death history of stored messages, and length limits. Each test runs a Warren
of its own (WARREN_BIN)."""

import time

import pika
import pika.exceptions
import pytest

from amqp_helpers import Collector, get_all

PERSISTENT = 2


def durable_dlx(ch, name):
    """A durable fanout dead-letter exchange with a durable queue bound (same name)."""
    ch.exchange_declare(name, exchange_type="fanout", durable=True)
    ch.queue_declare(name, durable=True)
    ch.queue_bind(name, name)


@pytest.mark.parametrize("crash", [False, True], ids=["restart", "kill-9"])
def test_priorities_survive_a_restart(restartable_broker, crash):
    b = restartable_broker
    with b.connect() as conn:
        ch = conn.channel()
        ch.queue_declare("prio", durable=True, arguments={"x-max-priority": 10})
        ch.confirm_delivery()
        for body, prio in [(b"low", 1), (b"none", None), (b"top", 10), (b"mid", 5), (b"top2", 10)]:
            ch.basic_publish("", "prio", body, pika.BasicProperties(priority=prio, delivery_mode=PERSISTENT))
    if crash:
        b.kill()
        b.start()
    else:
        b.restart()
    with b.connect() as conn:
        assert get_all(conn.channel(), "prio") == [b"top", b"top2", b"mid", b"low", b"none"]


def test_a_ttl_counts_from_publishing_across_a_crash(restartable_broker):
    """The message's deadline passed while the broker was down: it is dead-lettered as soon
    as the broker is back, with its x-death history."""
    b = restartable_broker
    with b.connect() as conn:
        ch = conn.channel()
        durable_dlx(ch, "dead")
        ch.queue_declare("ttl", durable=True, arguments={"x-message-ttl": 2000, "x-dead-letter-exchange": "dead"})
        ch.confirm_delivery()
        ch.basic_publish("", "ttl", b"late", pika.BasicProperties(delivery_mode=PERSISTENT, headers={"k": "v"}))
        ch.basic_publish("", "ttl", b"later", pika.BasicProperties(delivery_mode=PERSISTENT, expiration="60000"))
    b.kill()
    time.sleep(2.2)
    b.start()
    with b.connect() as conn:
        # Well before 2 s from the restart: the deadlines counted from publishing.
        dead = Collector(conn.channel(), "dead").wait_for(2, timeout=1.5)
        # Both expired: the queue's 2 s is shorter than "later"'s own 60 s.
        assert [m.body for m in dead] == [b"late", b"later"]
        death = dead[0].properties.headers["x-death"][0]
        assert (death["reason"], death["queue"], dead[0].properties.headers["k"]) == ("expired", "ttl", "v")
        assert dead[1].properties.headers["x-death"][0]["original-expiration"] == "60000"


def test_per_message_expiration_and_x_death_history_survive_a_restart(restartable_broker):
    b = restartable_broker
    with b.connect() as conn:
        ch = conn.channel()
        durable_dlx(ch, "graveyard")
        ch.queue_declare("work", durable=True, arguments={"x-dead-letter-exchange": "graveyard"})
        ch.queue_declare("keep", durable=True)
        ch.confirm_delivery()
        ch.basic_publish("", "work", b"rejected", pika.BasicProperties(delivery_mode=PERSISTENT))
        ch.basic_publish("", "keep", b"kept", pika.BasicProperties(delivery_mode=PERSISTENT, expiration="600000"))
        ch.basic_publish("", "keep", b"gone", pika.BasicProperties(delivery_mode=PERSISTENT, expiration="1000"))
        method, _, _ = ch.basic_get("work")
        ch.basic_reject(method.delivery_tag, requeue=False)
        Collector(conn.channel(), "graveyard", auto_ack=False).wait_for(1)  # stored before the restart
    time.sleep(1.1)
    b.restart()
    with b.connect() as conn:
        ch = conn.channel()
        method, props, body = ch.basic_get("graveyard", auto_ack=True)
        assert body == b"rejected"
        [death] = props.headers["x-death"]
        assert (death["reason"], death["queue"], death["count"]) == ("rejected", "work", 1)
        assert props.headers["x-first-death-queue"] == "work"
        method, props, body = ch.basic_get("keep", auto_ack=True)
        assert (body, props.expiration) == (b"kept", "600000")
        # "gone" expired 1 s after it was published, while the broker restarted.
        assert ch.basic_get("keep", auto_ack=True) == (None, None, None)


def test_length_limits_and_dead_lettering_apply_after_a_restart(restartable_broker):
    b = restartable_broker
    with b.connect() as conn:
        ch = conn.channel()
        durable_dlx(ch, "overflow")
        ch.queue_declare("bounded", durable=True, arguments={"x-max-length": 2, "x-dead-letter-exchange": "overflow"})
    b.restart()
    with b.connect() as conn:
        ch = conn.channel()
        ch.confirm_delivery()
        for i in range(3):
            ch.basic_publish("", "bounded", b"%d" % i, pika.BasicProperties(delivery_mode=PERSISTENT))
        dead = Collector(conn.channel(), "overflow").wait_for(1)
        assert (dead[0].body, dead[0].properties.headers["x-death"][0]["reason"]) == (b"0", "maxlen")
        assert get_all(ch, "bounded") == [b"1", b"2"]
