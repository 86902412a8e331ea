"""Connection-level behaviour seen by pika: authentication, vhosts, capabilities, heartbeats."""

import time

import pika
import pika.exceptions
import pytest

from amqp_helpers import get_all


def test_wrong_password_is_refused(broker):
    with pytest.raises(
        (pika.exceptions.ProbableAuthenticationError, pika.exceptions.AuthenticationError)
    ) as info:
        pika.BlockingConnection(broker.params(password="definitely-wrong"))
    # pika announces authentication_failure_close, so the broker explains itself with
    # connection.close 403 ACCESS_REFUSED instead of just dropping the socket.
    assert "403" in str(info.value), repr(info.value)


def test_unknown_user_is_refused(broker):
    with pytest.raises(
        (pika.exceptions.ProbableAuthenticationError, pika.exceptions.AuthenticationError)
    ):
        pika.BlockingConnection(broker.params(username="no-such-user", password="guest"))


def test_nonexistent_vhost_is_refused(broker):
    with pytest.raises(pika.exceptions.AMQPConnectionError) as info:
        pika.BlockingConnection(broker.params(vhost="warren-no-such-vhost"))
    err = info.value
    assert isinstance(
        err, (pika.exceptions.ProbableAccessDeniedError, pika.exceptions.ConnectionClosedByBroker)
    ), repr(err)
    # RabbitMQ answers connection.open with connection.close 530 NOT_ALLOWED.
    assert "530" in str(err), repr(err)


def test_valid_login_and_server_capabilities(connect):
    conn = connect()
    props = conn._impl.server_properties
    caps = props.get("capabilities", {})
    # pika and kombu look at these before using the features.
    for cap in (
        "publisher_confirms",
        "exchange_exchange_bindings",
        "basic.nack",
        "consumer_cancel_notify",
        "connection.blocked",
        "authentication_failure_close",
        "per_consumer_qos",
        "direct_reply_to",
    ):
        assert caps.get(cap) is True, (cap, caps)
    assert conn.publisher_confirms_supported
    assert conn.consumer_cancel_notify_supported
    assert conn.exchange_exchange_bindings_supported
    assert conn.basic_nack_supported


def test_many_channels_on_one_connection(connect, names):
    conn = connect()
    q = names.queue("channels")
    channels = [conn.channel() for _ in range(100)]
    assert len({ch.channel_number for ch in channels}) == 100
    channels[0].queue_declare(q)
    for i, ch in enumerate(channels):
        ch.basic_publish("", q, b"%d" % i)
    for ch in channels[1:]:
        ch.close()
    assert all(ch.is_closed for ch in channels[1:])
    channels[0].confirm_delivery()
    channels[0].basic_publish("", q, b"last")
    got = get_all(channels[0], q)
    assert sorted(got[:-1], key=int) == [b"%d" % i for i in range(100)]
    assert got[-1] == b"last"


def test_heartbeats_keep_an_idle_connection_open(connect, names):
    # pika sends a heartbeat every 0.5 s and, every 6 s (timeout + 5), closes the
    # connection if nothing at all came from the broker: so idling 7 s checks both
    # that the broker accepts our heartbeats and that it sends its own.
    conn = connect(heartbeat=1)
    assert conn._impl.params.heartbeat == 1
    q = names.queue("heartbeat")
    ch = conn.channel()
    ch.queue_declare(q)
    deadline = time.monotonic() + 7
    while time.monotonic() < deadline:
        conn.process_data_events(time_limit=0.2)
    assert conn.is_open
    ch.confirm_delivery()
    ch.basic_publish("", q, b"still alive")
    assert get_all(ch, q) == [b"still alive"]
