"""Small helpers shared by the pika tests: bounded waits, consumers, markers."""

import collections
import contextlib
import time
import uuid

import pika
import pika.exceptions
import pytest

Message = collections.namedtuple("Message", "method properties body")

MARKER_HEADER = "x-warren-test-marker"


def wait_until(conn, predicate, timeout=10.0, what="condition"):
    """Pump conn's I/O until predicate() is true; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        conn.process_data_events(time_limit=min(0.05, remaining))


def pump(conns, seconds):
    """Pump several connections for about `seconds` (to give unwanted deliveries a chance)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for c in conns:
            c.process_data_events(time_limit=0.01)


class Collector:
    """A basic.consume consumer that stores every delivery."""

    def __init__(self, channel, queue, auto_ack=True, on_message=None, **kw):
        self.channel = channel
        self.queue = queue
        self.messages = []
        self.on_message = on_message
        self.tag = channel.basic_consume(queue, self._on_message, auto_ack=auto_ack, **kw)

    def _on_message(self, ch, method, properties, body):
        msg = Message(method, properties, body)
        self.messages.append(msg)
        if self.on_message is not None:
            self.on_message(msg)

    @property
    def bodies(self):
        return [m.body for m in self.messages]

    def wait_for(self, n, timeout=10.0):
        wait_until(
            self.channel.connection,
            lambda: len(self.messages) >= n,
            timeout,
            f"{n} message(s) on {self.queue!r} (have {len(self.messages)})",
        )
        return self.messages


def is_marker(properties):
    return bool(properties and properties.headers and properties.headers.get(MARKER_HEADER))


def publish_marker(channel, exchange, routing_key):
    """Publish a marker message; when it is consumed, everything published before it
    on the same channel to the same queue has been consumed as well."""
    channel.basic_publish(
        exchange,
        routing_key,
        b"__marker__",
        pika.BasicProperties(headers={MARKER_HEADER: True}),
    )


def consume_until_marker(conn, queue, timeout=10.0, channel=None):
    """Consume (auto-ack) `queue` until the marker arrives; return the bodies before it."""
    ch = channel or conn.channel()
    bodies = []
    done = []

    def on_message(_ch, method, properties, body):
        if done:
            bodies.append(("after-marker", body))
        elif is_marker(properties):
            done.append(True)
        else:
            bodies.append(body)

    tag = ch.basic_consume(queue, on_message, auto_ack=True)
    wait_until(conn, lambda: done, timeout, f"marker on queue {queue!r} (got {bodies!r} so far)")
    ch.basic_cancel(tag)
    if channel is None:
        ch.close()
    return bodies


def dead_letter_setup(ch, names, queue_args, dlx_type="fanout"):
    """A dead-letter exchange with a server-named queue bound, and a work queue using it."""
    dlx = names.exchange("dlx")
    ch.exchange_declare(dlx, exchange_type=dlx_type)
    dlq = ch.queue_declare("", exclusive=True).method.queue
    ch.queue_bind(dlq, dlx, routing_key="#" if dlx_type == "topic" else "")
    q = names.queue("work")
    ch.queue_declare(q, arguments={"x-dead-letter-exchange": dlx, **queue_args})
    return dlx, dlq, q


def get_all(channel, queue, limit=100000):
    """basic.get (auto-ack) until get-empty; return the bodies."""
    out = []
    for _ in range(limit):
        method, _props, body = channel.basic_get(queue, auto_ack=True)
        if method is None:
            return out
        out.append(body)
    raise AssertionError(f"queue {queue!r} did not run empty after {limit} gets")


def queue_exists(conn, queue):
    ch = conn.channel()
    try:
        ch.queue_declare(queue, passive=True)
    except pika.exceptions.ChannelClosedByBroker as e:
        assert e.reply_code == 404, (e.reply_code, e.reply_text)
        return False
    ch.close()
    return True


def message_count(conn, queue):
    ch = conn.channel()
    ok = ch.queue_declare(queue, passive=True)
    ch.close()
    return ok.method.message_count


def wait_queue_gone(conn, queue, timeout=10.0):
    deadline = time.monotonic() + timeout
    while queue_exists(conn, queue):
        if time.monotonic() > deadline:
            raise AssertionError(f"queue {queue!r} still exists after {timeout}s")
        conn.process_data_events(time_limit=0.05)


@contextlib.contextmanager
def channel_error(code, text_contains=None):
    """Expect the block to fail with pika ChannelClosedByBroker(code)."""
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as info:
        yield info
    assert info.value.reply_code == code, (info.value.reply_code, info.value.reply_text)
    if text_contains is not None:
        assert text_contains in info.value.reply_text, info.value.reply_text


def unique(prefix="m"):
    return f"{prefix}-{uuid.uuid4().hex[:10]}"
