"""The RabbitMQ tutorials (https://www.rabbitmq.com/getstarted.html), driven with pika 1.x.

Each test checks what a user following the tutorial would see.
"""

import threading
import time
import uuid

import pika
import pika.exceptions
import pytest

from amqp_helpers import (
    Collector,
    consume_until_marker,
    get_all,
    publish_marker,
    pump,
    wait_until,
)


# --- 1. Hello World -------------------------------------------------------


def test_hello_world(connect, names):
    q = names.queue("hello")
    sender = connect()
    sch = sender.channel()
    sch.queue_declare(q)
    sch.basic_publish(exchange="", routing_key=q, body=b"Hello World!")
    sender.close()

    receiver = connect()
    rch = receiver.channel()
    rch.queue_declare(q)  # idempotent redeclare, as in the tutorial's receive.py
    got = Collector(rch, q, auto_ack=True).wait_for(1)
    assert len(got) == 1
    msg = got[0]
    assert msg.body == b"Hello World!"
    assert msg.method.exchange == ""
    assert msg.method.routing_key == q
    assert msg.method.redelivered is False
    pump([receiver], 0.2)
    assert len(got) == 1, "message delivered more than once"


# --- 2. Work queues -------------------------------------------------------


def test_work_queue_round_robin(connect, names):
    q = names.queue("tasks")
    conn = connect()
    ch = conn.channel()
    ch.queue_declare(q, durable=True)
    workers = []
    for _ in range(2):
        wch = conn.channel()
        workers.append(
            Collector(wch, q, auto_ack=False, on_message=lambda m, c=wch: c.basic_ack(m.method.delivery_tag))
        )
    n = 20
    for i in range(n):
        ch.basic_publish("", q, f"task {i}".encode(), pika.BasicProperties(delivery_mode=2))
    wait_until(conn, lambda: sum(len(w.messages) for w in workers) >= n, 10, "all tasks")
    pump([conn], 0.1)
    counts = [len(w.messages) for w in workers]
    assert sum(counts) == n, counts
    # Round-robin: every worker gets its share (RabbitMQ splits exactly evenly).
    assert min(counts) >= n // 2 - 2, f"uneven round-robin split: {counts}"
    got = sorted(int(b.split()[1]) for w in workers for b in w.bodies)
    assert got == list(range(n))
    # Each worker sees its own tasks in publication order.
    for w in workers:
        idx = [int(b.split()[1]) for b in w.bodies]
        assert idx == sorted(idx)


def test_work_queue_redelivery_after_consumer_dies(connect, names):
    q = names.queue("tasks")
    setup = connect()
    sch = setup.channel()
    sch.queue_declare(q, durable=True)
    sch.basic_publish("", q, b"important task", pika.BasicProperties(delivery_mode=2))

    # Worker 1 takes the task and "crashes" (closes its connection) without acking.
    w1 = connect()
    c1 = w1.channel()
    c1.basic_qos(prefetch_count=1)
    first = Collector(c1, q, auto_ack=False).wait_for(1)
    assert first[0].body == b"important task"
    assert first[0].method.redelivered is False

    # Worker 2 subscribes; the unacked task is not given to it while worker 1 holds it.
    w2 = connect()
    c2 = w2.channel()
    c2.basic_qos(prefetch_count=1)
    second = Collector(c2, q, auto_ack=False)
    pump([w1, w2], 0.3)
    assert second.messages == []

    w1.close()

    got = second.wait_for(1, timeout=10)
    assert got[0].body == b"important task"
    assert got[0].method.redelivered is True
    c2.basic_ack(got[0].method.delivery_tag)
    pump([w2], 0.1)
    assert len(second.messages) == 1
    ok = sch.queue_declare(q, passive=True)
    assert ok.method.message_count == 0
    assert ok.method.consumer_count == 1


def test_fair_dispatch_prefetch_one(connect, names):
    """With prefetch_count=1 a busy (slow) worker is not given more work."""
    q = names.queue("tasks")
    conn = connect()
    ch = conn.channel()
    ch.queue_declare(q, durable=True)

    fast_ch = conn.channel()
    fast_ch.basic_qos(prefetch_count=1)
    slow_ch = conn.channel()
    slow_ch.basic_qos(prefetch_count=1)

    fast = Collector(fast_ch, q, auto_ack=False,
                     on_message=lambda m: fast_ch.basic_ack(m.method.delivery_tag))
    slow_pending = []  # (deadline, delivery_tag)
    slow = Collector(slow_ch, q, auto_ack=False,
                     on_message=lambda m: slow_pending.append((time.monotonic() + 1.0, m.method.delivery_tag)))

    n = 20
    for i in range(n):
        ch.basic_publish("", q, str(i).encode(), pika.BasicProperties(delivery_mode=2))

    deadline = time.monotonic() + 20
    while len(fast.messages) + len(slow.messages) < n or slow_pending:
        assert time.monotonic() < deadline, (len(fast.messages), len(slow.messages))
        conn.process_data_events(time_limit=0.02)
        while slow_pending and slow_pending[0][0] <= time.monotonic():
            slow_ch.basic_ack(slow_pending.pop(0)[1])

    got = sorted(int(b) for b in fast.bodies + slow.bodies)
    assert got == list(range(n))
    # The slow worker holds each task for 1 s; the fast one drains the rest meanwhile.
    assert len(slow.messages) <= 3, (len(fast.messages), len(slow.messages))
    assert len(fast.messages) >= n - 3


# --- 3. Publish/Subscribe -------------------------------------------------


def test_fanout_pubsub_exclusive_server_named_queues(connect, names):
    ex = names.exchange("logs")
    pub = connect()
    pch = pub.channel()
    pch.exchange_declare(ex, exchange_type="fanout")
    pch.basic_publish(ex, "", b"nobody listens yet")  # dropped: no queue bound

    subscribers = []
    for _ in range(2):
        c = connect()
        ch = c.channel()
        result = ch.queue_declare(queue="", exclusive=True)
        qname = result.method.queue
        assert qname.startswith("amq.gen-"), qname
        ch.queue_bind(exchange=ex, queue=qname)
        subscribers.append((c, ch, qname))
    assert subscribers[0][2] != subscribers[1][2]

    logs = [b"info: first", b"warning: second", b"error: third"]
    for body in logs:
        pch.basic_publish(ex, "ignored-routing-key", body)
    publish_marker(pch, ex, "")

    for c, ch, qname in subscribers:
        assert consume_until_marker(c, qname, channel=ch) == logs


# --- 4. Routing -----------------------------------------------------------


def test_direct_routing_by_severity(connect, names):
    ex = names.exchange("direct_logs")
    conn = connect()
    ch = conn.channel()
    ch.exchange_declare(ex, exchange_type="direct")
    errors_q = ch.queue_declare("", exclusive=True).method.queue
    all_q = ch.queue_declare("", exclusive=True).method.queue
    ch.queue_bind(errors_q, ex, routing_key="error")
    for sev in ("info", "warning", "error", "error"):  # binding twice is idempotent
        ch.queue_bind(all_q, ex, routing_key=sev)

    for sev in ("debug", "info", "warning", "error", "critical"):
        ch.basic_publish(ex, sev, f"{sev}: something".encode())
    publish_marker(ch, "", errors_q)
    publish_marker(ch, "", all_q)

    assert consume_until_marker(conn, errors_q) == [b"error: something"]
    assert consume_until_marker(conn, all_q) == [
        b"info: something",
        b"warning: something",
        b"error: something",
    ]


# --- 5. Topics ------------------------------------------------------------


def _topic_setup(conn, ex, bindings):
    ch = conn.channel()
    ch.exchange_declare(ex, exchange_type="topic")
    queues = {}
    for label, keys in bindings.items():
        q = ch.queue_declare("", exclusive=True).method.queue
        for k in keys:
            ch.queue_bind(q, ex, routing_key=k)
        queues[label] = q
    return ch, queues


def test_topic_routing_tutorial(connect, names):
    conn = connect()
    ex = names.exchange("topic_logs")
    ch, queues = _topic_setup(
        conn, ex, {"Q1": ["*.orange.*"], "Q2": ["*.*.rabbit", "lazy.#"], "all": ["#"]}
    )
    keys = [
        "quick.orange.rabbit",
        "lazy.orange.elephant",
        "quick.orange.fox",
        "lazy.brown.fox",
        "lazy.pink.rabbit",  # matches both Q2 bindings, delivered once
        "quick.brown.fox",
        "orange",
        "quick.orange.new.rabbit",
        "lazy.orange.new.rabbit",
        "lazy",
        "",
    ]
    for k in keys:
        ch.basic_publish(ex, k, (k or "<empty>").encode())
    for q in queues.values():
        publish_marker(ch, "", q)

    got = {label: [b.decode() for b in consume_until_marker(conn, q)] for label, q in queues.items()}
    assert got["Q1"] == ["quick.orange.rabbit", "lazy.orange.elephant", "quick.orange.fox"]
    assert got["Q2"] == [
        "quick.orange.rabbit",
        "lazy.orange.elephant",
        "lazy.brown.fox",
        "lazy.pink.rabbit",
        "lazy.orange.new.rabbit",
        "lazy",
    ]
    assert got["all"] == [k or "<empty>" for k in keys]


def test_topic_wildcard_edge_cases(connect, names):
    conn = connect()
    ex = names.exchange("topic")
    ch, queues = _topic_setup(
        conn,
        ex,
        {
            "star": ["*"],
            "hash_a": ["#.a"],
            "a_hash_b": ["a.#.b"],
            "a_star_hash": ["a.*.#"],
            "exact": ["a.b"],
        },
    )
    keys = ["", "a", "a.b", "b.a", "a.b.c", "a.x.y.b", "A.B"]
    for k in keys:
        ch.basic_publish(ex, k, (k or "<empty>").encode())
    for q in queues.values():
        publish_marker(ch, "", q)
    got = {label: [b.decode() for b in consume_until_marker(conn, q)] for label, q in queues.items()}
    assert got == {
        "star": ["a"],  # '*' is exactly one word: not the empty key, not "a.b"
        "hash_a": ["a", "b.a"],  # '#' can match zero words
        "a_hash_b": ["a.b", "a.x.y.b"],
        "a_star_hash": ["a.b", "a.b.c", "a.x.y.b"],
        "exact": ["a.b"],  # routing keys are case-sensitive
    }


# --- headers exchange -----------------------------------------------------


def test_headers_exchange_all_and_any(connect, names):
    ex = names.exchange("headers")
    conn = connect()
    ch = conn.channel()
    ch.exchange_declare(ex, exchange_type="headers")
    q_all = ch.queue_declare("", exclusive=True).method.queue
    q_any = ch.queue_declare("", exclusive=True).method.queue
    q_default = ch.queue_declare("", exclusive=True).method.queue  # no x-match: defaults to all
    ch.queue_bind(q_all, ex, arguments={"x-match": "all", "format": "pdf", "type": "report"})
    ch.queue_bind(q_any, ex, arguments={"x-match": "any", "format": "pdf", "type": "log"})
    ch.queue_bind(q_default, ex, arguments={"format": "pdf", "size": 42})

    cases = [
        ("pdf-report", {"format": "pdf", "type": "report"}),
        ("pdf-only", {"format": "pdf"}),
        ("log-only", {"type": "log"}),
        ("zip-report", {"format": "zip", "type": "report"}),
        ("pdf-report-extra", {"format": "pdf", "type": "report", "extra": True}),
        ("pdf-42", {"format": "pdf", "size": 42}),
        ("pdf-43", {"format": "pdf", "size": 43}),
        ("no-headers", None),
    ]
    for body, headers in cases:
        # the routing key is ignored by a headers exchange
        ch.basic_publish(ex, "some.key", body.encode(), pika.BasicProperties(headers=headers))
    for q in (q_all, q_any, q_default):
        publish_marker(ch, "", q)

    assert consume_until_marker(conn, q_all) == [b"pdf-report", b"pdf-report-extra"]
    assert consume_until_marker(conn, q_any) == [
        b"pdf-report",
        b"pdf-only",
        b"log-only",
        b"pdf-report-extra",
        b"pdf-42",
        b"pdf-43",
    ]
    assert consume_until_marker(conn, q_default) == [b"pdf-42"]


# --- 6. RPC -----------------------------------------------------------------


def fib(n):
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a


class RpcServer(threading.Thread):
    """The tutorial's rpc_server.py, on its own connection in its own thread."""

    def __init__(self, broker, queue):
        super().__init__(name="rpc-server", daemon=True)
        self.broker = broker
        self.queue = queue
        self.ready = threading.Event()
        self.stopping = threading.Event()
        self.error = None
        self.reply_tos = []

    def run(self):
        try:
            conn = self.broker.connect()
            try:
                ch = conn.channel()
                ch.basic_qos(prefetch_count=1)
                ch.basic_consume(self.queue, self._on_request)
                self.ready.set()
                while not self.stopping.is_set():
                    conn.process_data_events(time_limit=0.05)
            finally:
                conn.close()
        except BaseException as e:  # reported by stop()
            self.error = e
            self.ready.set()

    def _on_request(self, ch, method, props, body):
        self.reply_tos.append(props.reply_to)
        response = str(fib(int(body))).encode()
        ch.basic_publish(
            exchange="",
            routing_key=props.reply_to,
            properties=pika.BasicProperties(correlation_id=props.correlation_id),
            body=response,
        )
        ch.basic_ack(delivery_tag=method.delivery_tag)

    def start_and_wait(self):
        self.start()
        assert self.ready.wait(10), "RPC server did not start"
        if self.error:
            raise self.error

    def stop(self):
        self.stopping.set()
        self.join(10)
        assert not self.is_alive(), "RPC server thread did not stop"
        if self.error:
            raise self.error


@pytest.fixture
def rpc_server(broker, connect, names):
    q = names.queue("rpc_queue")
    connect().channel().queue_declare(q)
    server = RpcServer(broker, q)
    server.start_and_wait()
    yield server
    server.stop()


def test_rpc_reply_to_and_correlation_id(connect, rpc_server):
    conn = connect()
    ch = conn.channel()
    callback_queue = ch.queue_declare("", exclusive=True).method.queue
    responses = {}

    def on_response(_ch, method, props, body):
        responses[props.correlation_id] = body

    ch.basic_consume(callback_queue, on_response, auto_ack=True)

    requests = {}
    for n in (0, 1, 2, 10, 30, 7):
        corr_id = str(uuid.uuid4())
        requests[corr_id] = n
        ch.basic_publish(
            exchange="",
            routing_key=rpc_server.queue,
            properties=pika.BasicProperties(reply_to=callback_queue, correlation_id=corr_id),
            body=str(n).encode(),
        )
    wait_until(conn, lambda: len(responses) >= len(requests), 15, "RPC responses")
    assert set(responses) == set(requests)
    for corr_id, n in requests.items():
        assert int(responses[corr_id]) == fib(n)
    assert rpc_server.reply_tos == [callback_queue] * len(requests)


def test_rpc_direct_reply_to(connect, rpc_server):
    conn = connect()
    ch = conn.channel()
    responses = {}
    deliveries = []

    def on_response(_ch, method, props, body):
        deliveries.append(method)
        responses[props.correlation_id] = body

    # Direct reply-to: consume the pseudo-queue in no-ack mode *before* publishing.
    ch.basic_consume("amq.rabbitmq.reply-to", on_response, auto_ack=True)
    requests = {}
    for n in (5, 20, 3):
        corr_id = str(uuid.uuid4())
        requests[corr_id] = n
        ch.basic_publish(
            exchange="",
            routing_key=rpc_server.queue,
            properties=pika.BasicProperties(reply_to="amq.rabbitmq.reply-to", correlation_id=corr_id),
            body=str(n).encode(),
        )
    wait_until(conn, lambda: len(responses) >= len(requests), 15, "direct reply-to responses")
    assert {c: int(b) for c, b in responses.items()} == {c: fib(n) for c, n in requests.items()}
    # The server sees a per-channel reply address, not the pseudo-queue name.
    assert len(rpc_server.reply_tos) == len(requests)
    for reply_to in rpc_server.reply_tos:
        assert reply_to.startswith("amq.rabbitmq.reply-to."), reply_to
        assert len(reply_to) > len("amq.rabbitmq.reply-to.")
    assert all(d.redelivered is False for d in deliveries)


def test_direct_reply_to_errors(connect, names):
    conn = connect()
    # Publishing with reply_to=amq.rabbitmq.reply-to without consuming it first.
    ch = conn.channel()
    ch.confirm_delivery()
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as info:
        ch.basic_publish("", names.queue("nowhere"), b"x",
                         pika.BasicProperties(reply_to="amq.rabbitmq.reply-to"))
    assert info.value.reply_code == 406
    # Replies to direct reply-to can't be acknowledged: consuming needs no-ack mode.
    ch = conn.channel()
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as info:
        ch.basic_consume("amq.rabbitmq.reply-to", lambda *a: None, auto_ack=False)
    assert info.value.reply_code == 406
    assert conn.is_open


# --- 7. Publisher confirms --------------------------------------------------


def test_publisher_confirms(connect, names):
    q = names.queue("confirmed")
    conn = connect()
    ch = conn.channel()
    ch.queue_declare(q)
    ch.confirm_delivery()

    ch.basic_publish("", q, b"one")  # acked: returns normally
    ch.basic_publish("", q, b"two", mandatory=True)  # routable mandatory: fine

    with pytest.raises(pika.exceptions.UnroutableError) as info:
        ch.basic_publish("", names.queue("does-not-exist"), b"lost", mandatory=True)
    returned = info.value.messages
    assert len(returned) == 1
    assert returned[0].body == b"lost"
    assert returned[0].method.reply_code == 312  # NO_ROUTE

    # Non-mandatory unroutable message is silently dropped (and confirmed).
    ch.basic_publish("", names.queue("does-not-exist-either"), b"dropped")
    # Unroutable mandatory via an exchange with no bindings.
    ex = names.exchange("empty")
    ch.exchange_declare(ex, exchange_type="direct")
    with pytest.raises(pika.exceptions.UnroutableError):
        ch.basic_publish(ex, "nobody", b"lost too", mandatory=True)

    assert ch.is_open
    ch.basic_publish("", q, b"three")
    assert get_all(ch, q) == [b"one", b"two", b"three"]
