"""Queue features as RabbitMQ 3.10 applies them: message TTL, dead-lettering (x-death),
length limits, priorities, single active consumer, queue expiry, consumer timeout,
sender-selected distribution (CC/BCC) and policies.

Written against RabbitMQ 3.10.8 first (AMQP_PORT=5680 MGMT_PORT=15680 with a private node;
the run is kept in tests/python/transcripts/queue-features-rabbitmq-3.10.8.txt, with the
headers each test saw printed), then run against Warren. Tests marked `warren_only` cover
what RabbitMQ 3.10 lacks (its 3.12 per-queue consumer timeout) or where Warren differs on
purpose (quorum and stream queues are refused until clustering brings them)."""

import datetime
import os
import time

import pika
import pika.exceptions
import pytest

from amqp_helpers import Collector, channel_error, dead_letter_setup, get_all, message_count, pump

warren_only = pytest.mark.skipif(
    not os.environ.get("WARREN_BIN"), reason="Warren's own behaviour (RabbitMQ 3.10 has no equivalent)"
)


def observe(what, value):
    """Print what a test saw (the transcript against RabbitMQ keeps these lines)."""
    print(f"OBSERVED {what}: {value!r}")


def recent(ts):
    """A timestamp header (pika gives a naive UTC datetime) within a minute of now."""
    assert isinstance(ts, datetime.datetime), ts
    now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    return abs((now - ts).total_seconds()) < 60


# --- Message TTL -------------------------------------------------------------------------


def test_expired_message_is_dead_lettered_with_rabbitmqs_headers(connect, names):
    conn = connect()
    ch = conn.channel()
    dlx, dlq, q = dead_letter_setup(ch, names, {"x-message-ttl": 100})
    props = pika.BasicProperties(headers={"app": "x"}, message_id="m-1", delivery_mode=2, priority=3)
    ch.basic_publish("", q, b"short-lived", props)
    m = Collector(conn.channel(), dlq).wait_for(1)[0]
    h = m.properties.headers
    observe("dead letter headers", h)
    assert (m.method.exchange, m.method.routing_key, m.body) == (dlx, q, b"short-lived")
    # Every property but expiration is kept.
    assert (m.properties.message_id, m.properties.delivery_mode, m.properties.priority) == ("m-1", 2, 3)
    assert m.properties.expiration is None
    assert h["app"] == "x"
    assert (h["x-first-death-exchange"], h["x-first-death-queue"], h["x-first-death-reason"]) == ("", q, "expired")
    [death] = h["x-death"]
    assert set(death) == {"count", "reason", "queue", "time", "exchange", "routing-keys"}
    assert (death["count"], death["reason"], death["queue"], death["exchange"]) == (1, "expired", q, "")
    # As RabbitMQ types them: count a signed 64-bit 'l' (pika's `long`), time a timestamp.
    assert type(death["count"]).__name__ == "long"
    assert death["routing-keys"] == [q]
    assert recent(death["time"])
    assert "x-last-death-reason" not in h  # RabbitMQ 3.13 added those; 3.10 has none
    assert message_count(conn, q) == 0


def test_a_short_ttl_waits_behind_a_longer_one(connect, names):
    conn = connect()
    ch = conn.channel()
    dlx, dlq, q = dead_letter_setup(ch, names, {})
    ch.basic_publish("", q, b"long", pika.BasicProperties(expiration="60000"))
    ch.basic_publish("", q, b"short", pika.BasicProperties(expiration="1"))
    pump([conn], 0.3)
    # Expiry happens at the head only: "short" is past its time but still counted.
    assert message_count(conn, q) == 2
    method, props, body = ch.basic_get(q, auto_ack=True)
    assert (body, props.expiration) == (b"long", "60000")
    # Now at the head, "short" is expired: never handed out, dead-lettered instead.
    assert ch.basic_get(q, auto_ack=True) == (None, None, None)
    m = Collector(conn.channel(), dlq).wait_for(1)[0]
    [death] = m.properties.headers["x-death"]
    observe("per-message ttl death", death)
    assert (m.body, death["reason"], death["original-expiration"]) == (b"short", "expired", "1")


def test_ttl_zero_reaches_only_a_waiting_consumer(connect, names):
    conn = connect()
    ch = conn.channel()
    q = names.queue("now-or-never")
    ch.queue_declare(q, arguments={"x-message-ttl": 0})
    got = Collector(ch, q)
    ch.basic_publish("", q, b"caught")
    got.wait_for(1)
    ch.basic_cancel(got.tag)
    ch.basic_publish("", q, b"missed")
    pump([conn], 0.2)
    assert message_count(conn, q) == 0
    assert get_all(ch, q) == []
    assert got.bodies == [b"caught"]


def test_basic_get_never_returns_an_expired_message(connect, names):
    conn = connect()
    ch = conn.channel()
    q = names.queue("stale")
    ch.queue_declare(q)
    ch.basic_publish("", q, b"stale", pika.BasicProperties(expiration="50"))
    time.sleep(0.2)
    assert ch.basic_get(q, auto_ack=True) == (None, None, None)


@pytest.mark.parametrize(
    "expiration, text",
    [
        ("soon", "invalid expiration 'soon': no_integer"),
        ("10abc", "invalid expiration '10abc': {leftover_string,\"abc\"}"),
        ("-1", "invalid expiration '-1': {value_negative,-1}"),
        ("315360000001", "invalid expiration '315360000001': {value_too_large,315360000001}"),
    ],
)
def test_invalid_expiration_closes_the_channel(connect, names, expiration, text):
    conn = connect()
    ch = conn.channel()
    q = names.queue("exp")
    ch.queue_declare(q)
    ch.confirm_delivery()
    with channel_error(406) as info:
        ch.basic_publish("", q, b"x", pika.BasicProperties(expiration=expiration))
    assert info.value.reply_text == f"PRECONDITION_FAILED - {text}"


# --- Dead-lettering ----------------------------------------------------------------------


def test_delayed_retry_pattern_counts_each_death(connect, names):
    """Work queue W rejects into retry queue R (TTL), which expires back into W: the classic
    delayed retry. The x-death history counts each round, per queue and reason."""
    conn = connect()
    ch = conn.channel()
    w, r = names.queue("work"), names.queue("retry")
    ch.queue_declare(w, arguments={"x-dead-letter-exchange": "", "x-dead-letter-routing-key": r})
    ch.queue_declare(r, arguments={"x-message-ttl": 50, "x-dead-letter-exchange": "", "x-dead-letter-routing-key": w})
    ch.basic_publish("", w, b"job", pika.BasicProperties(delivery_mode=2))
    deliveries = []

    def on_message(msg):
        deliveries.append(msg)
        if len(deliveries) <= 2:
            ch.basic_reject(msg.method.delivery_tag, requeue=False)
        else:
            ch.basic_ack(msg.method.delivery_tag)

    Collector(ch, w, auto_ack=False, on_message=on_message).wait_for(3, timeout=15)
    third = deliveries[2]
    h = third.properties.headers
    observe("x-death after two retries", h["x-death"])
    assert third.method.routing_key == w and third.properties.delivery_mode == 2
    assert [(d["queue"], d["reason"], d["count"]) for d in h["x-death"]] == [(r, "expired", 2), (w, "rejected", 2)]
    by_queue = {d["queue"]: d for d in h["x-death"]}
    assert by_queue[w]["routing-keys"] == [w] and by_queue[w]["exchange"] == ""
    assert by_queue[r]["routing-keys"] == [r] and by_queue[r]["exchange"] == ""
    assert (h["x-first-death-queue"], h["x-first-death-reason"]) == (w, "rejected")


def test_an_automatic_dead_letter_loop_is_dropped(connect, names):
    """A queue whose expired messages route back to itself: RabbitMQ detects the cycle (no
    consumer took part) and drops the message rather than loop."""
    conn = connect()
    ch = conn.channel()
    q = names.queue("loop")
    ch.queue_declare(q, arguments={"x-message-ttl": 20, "x-dead-letter-exchange": ""})
    ch.basic_publish("", q, b"round and round")
    pump([conn], 0.5)
    assert message_count(conn, q) == 0


def test_nack_multiple_dead_letters_each_and_keeps_cc(connect, names):
    conn = connect()
    ch = conn.channel()
    dlx, dlq, q = dead_letter_setup(ch, names, {})
    cc = names.queue("cc")
    ch.queue_declare(cc)
    for body in (b"a", b"b"):
        ch.basic_publish("", q, body, pika.BasicProperties(headers={"CC": [cc]}))
    # Sender-selected distribution: the CC queue got its copies too.
    assert message_count(conn, cc) == 2
    first, _, _ = ch.basic_get(q)
    second, _, _ = ch.basic_get(q)
    ch.basic_nack(second.delivery_tag, multiple=True, requeue=False)
    dead = Collector(conn.channel(), dlq).wait_for(2)
    observe("dead letter with CC", dead[0].properties.headers)
    assert [m.body for m in dead] == [b"a", b"b"]
    for m in dead:
        h = m.properties.headers
        assert h["CC"] == [cc]
        [death] = h["x-death"]
        assert (death["reason"], death["routing-keys"]) == ("rejected", [q, cc])


def test_a_dead_letter_routing_key_replaces_keys_and_drops_cc(connect, names):
    conn = connect()
    ch = conn.channel()
    dlx, dlq, q = dead_letter_setup(ch, names, {"x-dead-letter-routing-key": "dead.key"}, dlx_type="topic")
    ch.basic_publish("", q, b"m", pika.BasicProperties(headers={"CC": ["nowhere"]}))
    method, _, _ = ch.basic_get(q)
    ch.basic_reject(method.delivery_tag, requeue=False)
    m = Collector(conn.channel(), dlq).wait_for(1)[0]
    observe("dead letter with a routing key", (m.method.routing_key, m.properties.headers))
    assert m.method.routing_key == "dead.key"
    assert "CC" not in m.properties.headers
    assert m.properties.headers["x-death"][0]["routing-keys"] == [q, "nowhere"]


def test_a_missing_dead_letter_exchange_drops_silently(connect, names):
    conn = connect()
    ch = conn.channel()
    q = names.queue("orphan")
    ch.queue_declare(q, arguments={"x-dead-letter-exchange": names.exchange("absent")})
    ch.basic_publish("", q, b"m")
    method, _, _ = ch.basic_get(q)
    ch.basic_reject(method.delivery_tag, requeue=False)
    pump([conn], 0.2)
    assert ch.is_open and message_count(conn, q) == 0


def test_routing_key_without_dead_letter_exchange_is_refused(connect, names):
    ch = connect().channel()
    q = names.queue("half")
    with channel_error(406) as info:
        ch.queue_declare(q, arguments={"x-dead-letter-routing-key": "k"})
    assert info.value.reply_text == (
        f"PRECONDITION_FAILED - invalid arg 'x-dead-letter-routing-key' for queue '{q}' in vhost '/': "
        "routing_key_but_no_dlx_defined"
    )


# --- Sender-selected distribution --------------------------------------------------------


def test_bcc_routes_a_copy_without_showing_itself(connect, names):
    conn = connect()
    ch = conn.channel()
    to, cc, bcc = names.queue("to"), names.queue("cc"), names.queue("bcc")
    for q in (to, cc, bcc):
        ch.queue_declare(q)
    ch.basic_publish("", to, b"memo", pika.BasicProperties(headers={"CC": [cc], "BCC": [bcc], "k": "v"}))
    seen = {}
    for q in (to, cc, bcc):
        method, props, body = ch.basic_get(q, auto_ack=True)
        assert body == b"memo", q
        seen[q] = props.headers
    observe("headers as delivered", seen[bcc])
    for headers in seen.values():
        assert headers == {"CC": [cc], "k": "v"}


# --- Length limits -----------------------------------------------------------------------


def test_max_length_bytes_counts_message_bodies(connect, names):
    conn = connect()
    ch = conn.channel()
    q = names.queue("bytes")
    ch.queue_declare(q, arguments={"x-max-length-bytes": 10})
    for body in (b"aaaa", b"bbbb", b"cccc"):
        ch.basic_publish("", q, body, pika.BasicProperties(headers={"padding": "x" * 100}))
    assert get_all(ch, q) == [b"bbbb", b"cccc"]


def test_drop_head_dead_letters_the_oldest_as_maxlen(connect, names):
    conn = connect()
    ch = conn.channel()
    dlx, dlq, q = dead_letter_setup(ch, names, {"x-max-length": 1})
    ch.basic_publish("", q, b"old")
    ch.basic_publish("", q, b"new")
    m = Collector(conn.channel(), dlq).wait_for(1)[0]
    assert (m.body, m.properties.headers["x-death"][0]["reason"]) == (b"old", "maxlen")
    assert get_all(ch, q) == [b"new"]


def test_reject_publish_dlx_nacks_and_dead_letters_the_newcomer(connect, names):
    conn = connect()
    ch = conn.channel()
    dlx, dlq, q = dead_letter_setup(ch, names, {"x-max-length": 1, "x-overflow": "reject-publish-dlx"})
    ch.confirm_delivery()
    ch.basic_publish("", q, b"in")
    with pytest.raises(pika.exceptions.NackError):
        ch.basic_publish("", q, b"out")
    ch.basic_publish(dlx, "", b"after")  # the channel goes on
    dead = Collector(conn.channel(), dlq).wait_for(2)
    assert dead[0].body == b"out" and dead[0].properties.headers["x-death"][0]["reason"] == "maxlen"
    assert get_all(ch, q) == [b"in"]


def test_one_full_queue_nacks_the_publish_while_others_keep_it(connect, names):
    conn = connect()
    ch = conn.channel()
    x = names.exchange("fan")
    ch.exchange_declare(x, exchange_type="fanout")
    full, free = names.queue("full"), names.queue("free")
    ch.queue_declare(full, arguments={"x-max-length": 0, "x-overflow": "reject-publish"})
    ch.queue_declare(free)
    ch.queue_bind(full, x)
    ch.queue_bind(free, x)
    ch.confirm_delivery()
    with pytest.raises(pika.exceptions.NackError):
        ch.basic_publish(x, "", b"m", mandatory=True)
    assert message_count(conn, free) == 1 and message_count(conn, full) == 0
    # Without confirms the refused message is simply gone.
    plain = conn.channel()
    plain.basic_publish(x, "", b"quiet")
    pump([conn], 0.1)
    assert message_count(conn, free) == 2 and message_count(conn, full) == 0


def test_a_transaction_into_a_full_queue_fails_at_commit(connect, names):
    conn = connect()
    ch = conn.channel()
    q = names.queue("full-tx")
    ch.queue_declare(q, arguments={"x-max-length": 0, "x-overflow": "reject-publish"})
    ch.tx_select()
    ch.basic_publish("", q, b"m")
    with channel_error(406) as info:
        ch.tx_commit()
    assert info.value.reply_text == "PRECONDITION_FAILED - partial tx completion"


# --- Priorities --------------------------------------------------------------------------


def test_requeued_messages_return_to_their_place_in_their_priority(connect, names):
    conn = connect()
    ch = conn.channel()
    q = names.queue("prio")
    ch.queue_declare(q, arguments={"x-max-priority": 9})
    for body, prio in [(b"a", 5), (b"b", 5), (b"c", 9)]:
        ch.basic_publish("", q, body, pika.BasicProperties(priority=prio))
    taken = [ch.basic_get(q) for _ in range(2)]
    assert [body for _, _, body in taken] == [b"c", b"a"]
    ch.basic_nack(taken[1][0].delivery_tag, multiple=True, requeue=True)
    assert get_all(ch, q) == [b"c", b"a", b"b"]


def test_a_consumer_receives_by_priority(connect, names):
    conn = connect()
    ch = conn.channel()
    q = names.queue("prio-consume")
    ch.queue_declare(q, arguments={"x-max-priority": 10})
    for i, prio in enumerate([1, 7, 3, 10, 7, 0]):
        ch.basic_publish("", q, b"%d:%d" % (prio, i), pika.BasicProperties(priority=prio))
    ch.basic_qos(prefetch_count=1)
    got = Collector(ch, q, auto_ack=False, on_message=lambda m: ch.basic_ack(m.method.delivery_tag))
    got.wait_for(6)
    assert got.bodies == [b"10:3", b"7:1", b"7:4", b"3:2", b"1:0", b"0:5"]


# --- Single active consumer --------------------------------------------------------------


def test_single_active_consumer_hands_over_when_its_channel_closes(connect, names):
    conn = connect()
    q = names.queue("sac")
    setup = conn.channel()
    setup.queue_declare(q, arguments={"x-single-active-consumer": True})
    first_ch, second_ch = conn.channel(), conn.channel()
    first_ch.basic_qos(prefetch_count=1)
    first = Collector(first_ch, q, auto_ack=False)
    second = Collector(second_ch, q, auto_ack=False, on_message=lambda m: second_ch.basic_ack(m.method.delivery_tag))
    for i in range(3):
        setup.basic_publish("", q, b"%d" % i)
    first.wait_for(1)
    pump([conn], 0.2)
    # Only the active consumer receives; the other waits even with credit to spare.
    assert (first.bodies, second.bodies) == ([b"0"], [])
    # basic.get still works on a single-active-consumer queue.
    method, _, body = setup.basic_get(q, auto_ack=True)
    assert body == b"1"
    first_ch.close()  # its unacknowledged message goes back, redelivered to the next in line
    second.wait_for(2)
    assert second.bodies == [b"0", b"2"]
    assert second.messages[0].method.redelivered is True


def test_exclusive_consume_is_refused_on_a_single_active_consumer_queue(connect, names):
    conn = connect()
    ch = conn.channel()
    q = names.queue("sac-excl")
    ch.queue_declare(q, arguments={"x-single-active-consumer": True})
    with channel_error(403) as info:
        ch.basic_consume(q, lambda *a: None, exclusive=True)
    assert info.value.reply_text == f"ACCESS_REFUSED - queue '{q}' in vhost '/' in exclusive use"


def test_the_api_shows_which_consumer_is_active(connect, names, mgmt):
    from mgmt_helpers import eventually

    conn = connect()
    ch = conn.channel()
    q = names.queue("sac-api")
    ch.queue_declare(q, arguments={"x-single-active-consumer": True})
    first = ch.basic_consume(q, lambda *a: None, consumer_tag="first")
    ch.basic_consume(q, lambda *a: None, consumer_tag="second")
    info = eventually(lambda: mgmt.json(f"/api/queues/%2F/{q}"), lambda v: v["consumers"] == 2, what="consumers")
    assert (info["single_active_consumer_tag"], info["exclusive_consumer_tag"]) == ("first", None)
    consumers = eventually(
        lambda: [c for c in mgmt.json("/api/consumers/%2F") if c["queue"]["name"] == q],
        lambda cs: len(cs) == 2,
        what="consumer list",
    )
    status = {c["consumer_tag"]: (c["active"], c["activity_status"]) for c in consumers}
    observe("consumer activity", status)
    assert status == {"first": (True, "single_active"), "second": (False, "waiting")}
    ch.basic_cancel(first)
    info = eventually(
        lambda: mgmt.json(f"/api/queues/%2F/{q}"), lambda v: v["single_active_consumer_tag"] == "second",
        what="the next consumer active")


# --- Queue expiry ------------------------------------------------------------------------


def routable(ch, q):
    """Whether queue `q` still exists, asked without using it: a mandatory publish (a
    declare, even passive, or a basic.get would renew its lease). `ch` confirms."""
    try:
        ch.basic_publish("", q, b"ping", mandatory=True)
        return True
    except pika.exceptions.UnroutableError:
        return False


def wait_expired(ch, q, timeout=5):
    deadline = time.monotonic() + timeout
    while routable(ch, q):
        assert time.monotonic() < deadline, f"queue {q!r} did not expire"
        time.sleep(0.05)


def test_basic_get_keeps_an_expiring_queue_alive(connect, names):
    conn = connect()
    ch = conn.channel()
    q = names.queue("kept")
    ch.queue_declare(q, arguments={"x-expires": 400})
    watch = conn.channel()
    watch.confirm_delivery()
    for _ in range(8):
        ch.basic_get(q, auto_ack=True)
        time.sleep(0.15)
    assert routable(watch, q)
    wait_expired(watch, q)


def test_a_queue_with_consumers_never_expires(connect, names):
    conn = connect()
    ch = conn.channel()
    q = names.queue("consumed")
    ch.queue_declare(q, arguments={"x-expires": 300})
    tag = ch.basic_consume(q, lambda *a: None)
    watch = conn.channel()
    watch.confirm_delivery()
    pump([conn], 0.8)
    assert routable(watch, q)
    ch.basic_cancel(tag)
    wait_expired(watch, q)


# --- Consumer timeout (RabbitMQ 3.12's per-queue x-consumer-timeout) ---------------------


@warren_only
def test_an_unacknowledged_delivery_times_out_and_is_requeued(connect, names):
    conn = connect()
    ch = conn.channel()
    q = names.queue("slow")
    ch.queue_declare(q, arguments={"x-consumer-timeout": 500})
    ch.basic_publish("", q, b"work")
    got = Collector(ch, q, auto_ack=False)
    got.wait_for(1)
    conn.call_later(5, ch.stop_consuming)  # bounded: returns (and fails below) if nothing closes
    with channel_error(406) as info:
        ch.start_consuming()
    assert info.value.reply_text == (
        "PRECONDITION_FAILED - delivery acknowledgement on channel 1 timed out. Timeout value used: 500 ms. "
        "This timeout value can be configured, see consumers doc guide to learn more"
    )
    method, _, body = conn.channel().basic_get(q, auto_ack=True)
    assert (body, method.redelivered) == (b"work", True)


@pytest.mark.parametrize(
    "arguments, why",
    [
        ({"x-queue-mode": "eager"}, "invalid arg 'x-queue-mode' for queue '{q}' in vhost '/': \"unsupported queue mode 'eager'\""),
        ({"x-queue-version": 3}, "invalid arg 'x-queue-version' for queue '{q}' in vhost '/': \"unsupported queue version '3'\""),
        ({"x-max-in-memory-length": 5}, "invalid arg 'x-max-in-memory-length' for queue '{q}' in vhost '/' of queue type rabbit_classic_queue"),
        ({"x-delivery-limit": 5}, "invalid arg 'x-delivery-limit' for queue '{q}' in vhost '/' of queue type rabbit_classic_queue"),
    ],
)
def test_classic_queue_arguments_are_checked(connect, names, arguments, why):
    ch = connect().channel()
    q = names.queue("args")
    with channel_error(406) as info:
        ch.queue_declare(q, arguments=arguments)
    assert info.value.reply_text == "PRECONDITION_FAILED - " + why.format(q=q)


def test_lazy_and_version_arguments_are_accepted(connect, names):
    ch = connect().channel()
    q = names.queue("lazy-v2")
    ch.queue_declare(q, arguments={"x-queue-mode": "lazy", "x-queue-version": 2})
    ch.basic_publish("", q, b"m")
    assert get_all(ch, q) == [b"m"]


# --- Queue types -------------------------------------------------------------------------


@warren_only
@pytest.mark.parametrize("kind", ["quorum", "stream"])
def test_quorum_and_stream_queues_are_refused_not_faked(connect, names, kind):
    ch = connect().channel()
    q = names.queue(kind)
    with channel_error(406) as info:
        ch.queue_declare(q, durable=True, arguments={"x-queue-type": kind})
    assert f"invalid arg 'x-queue-type' for queue '{q}'" in info.value.reply_text
    assert kind in info.value.reply_text


# --- Policies ----------------------------------------------------------------------------


@pytest.fixture
def policy(mgmt, names):
    """policy(pattern_name, definition, apply_to="queues") sets a policy on vhost "/" matching
    one object by name; every policy set is cleared after the test."""
    created = []

    def set_policy(name, definition, apply_to="queues"):
        pol = names.queue("pol")
        mgmt.ok("PUT", f"/api/policies/%2F/{pol}", {
            "pattern": f"^{name}$", "definition": definition, "apply-to": apply_to, "priority": 1})
        created.append(pol)
        return pol

    yield set_policy
    for pol in created:
        mgmt.delete(f"/api/policies/%2F/{pol}")


def applied(mgmt, q, policy_name):
    """Wait until the API shows `policy_name` applied to queue `q` (RabbitMQ applies
    policies asynchronously); returns the queue's JSON."""
    from mgmt_helpers import eventually

    return eventually(
        lambda: mgmt.json(f"/api/queues/%2F/{q}"),
        lambda v: v.get("policy") == policy_name,
        what=f"policy {policy_name} on {q}",
    )


def settled_count(conn, q, expected, timeout=5):
    deadline = time.monotonic() + timeout
    while (n := message_count(conn, q)) != expected:
        assert time.monotonic() < deadline, f"{q}: {n} messages, expected {expected}"
        time.sleep(0.05)


def test_a_policy_limits_an_existing_queue_at_once_and_clearing_it_lifts_the_limit(connect, names, mgmt, policy):
    conn = connect()
    ch = conn.channel()
    q = names.queue("policed")
    ch.queue_declare(q)
    for i in range(5):
        ch.basic_publish("", q, b"%d" % i)
    pol = policy(q, {"max-length": 2})
    info = applied(mgmt, q, pol)
    assert info["effective_policy_definition"] == {"max-length": 2}
    settled_count(conn, q, 2)  # drop-head trimmed the oldest at once
    mgmt.ok("DELETE", f"/api/policies/%2F/{pol}")
    from mgmt_helpers import eventually

    eventually(lambda: mgmt.json(f"/api/queues/%2F/{q}"), lambda v: v.get("policy") is None, what="policy cleared")
    for i in range(5, 8):
        ch.basic_publish("", q, b"%d" % i)
    assert get_all(ch, q) == [b"3", b"4", b"5", b"6", b"7"]


def test_a_policy_gives_new_messages_a_ttl_and_a_dead_letter_exchange(connect, names, mgmt, policy):
    conn = connect()
    ch = conn.channel()
    dlx = names.exchange("pol-dlx")
    ch.exchange_declare(dlx, exchange_type="fanout")
    dlq = ch.queue_declare("", exclusive=True).method.queue
    ch.queue_bind(dlq, dlx)
    q = names.queue("pol-ttl")
    ch.queue_declare(q)
    applied(mgmt, q, policy(q, {"message-ttl": 50, "dead-letter-exchange": dlx}))
    ch.basic_publish("", q, b"short")
    m = Collector(conn.channel(), dlq).wait_for(1)[0]
    [death] = m.properties.headers["x-death"]
    assert (m.body, death["queue"], death["reason"]) == (b"short", q, "expired")


def test_the_smaller_of_argument_and_policy_limits_applies(connect, names, mgmt, policy):
    conn = connect()
    ch = conn.channel()
    q = names.queue("min")
    ch.queue_declare(q, arguments={"x-max-length": 3})
    pol = policy(q, {"max-length": 5})
    applied(mgmt, q, pol)
    for i in range(6):
        ch.basic_publish("", q, b"%d" % i)
    settled_count(conn, q, 3)
    mgmt.ok("PUT", f"/api/policies/%2F/{pol}", {
        "pattern": f"^{q}$", "definition": {"max-length": 1}, "apply-to": "queues", "priority": 1})
    settled_count(conn, q, 1)
    assert get_all(ch, q) == [b"5"]


def test_the_overflow_argument_beats_the_policy(connect, names, mgmt, policy):
    conn = connect()
    ch = conn.channel()
    q = names.queue("overflow")
    ch.queue_declare(q, arguments={"x-max-length": 1, "x-overflow": "reject-publish"})
    applied(mgmt, q, policy(q, {"overflow": "drop-head"}))
    ch.confirm_delivery()
    ch.basic_publish("", q, b"kept")
    with pytest.raises(pika.exceptions.NackError):
        ch.basic_publish("", q, b"refused")
    assert get_all(ch, q) == [b"kept"]


def test_a_policy_gives_an_exchange_its_alternate(connect, names, mgmt, policy):
    conn = connect()
    ch = conn.channel()
    x, ae = names.exchange("main"), names.exchange("ae")
    ch.exchange_declare(x, exchange_type="direct")
    ch.exchange_declare(ae, exchange_type="fanout")
    caught = ch.queue_declare("", exclusive=True).method.queue
    ch.queue_bind(caught, ae)
    pol = policy(x, {"alternate-exchange": ae}, apply_to="exchanges")
    from mgmt_helpers import eventually

    eventually(lambda: mgmt.json(f"/api/exchanges/%2F/{x}"), lambda v: v.get("policy") == pol, what="policy on exchange")
    ch.confirm_delivery()
    ch.basic_publish(x, "no-binding", b"stray", mandatory=True)  # routed by the alternate: no return
    assert get_all(ch, caught) == [b"stray"]


@warren_only
def test_a_consumer_timeout_policy_applies_to_deliveries(connect, names, mgmt, policy):
    conn = connect()
    ch = conn.channel()
    q = names.queue("pol-timeout")
    ch.queue_declare(q)
    applied(mgmt, q, policy(q, {"consumer-timeout": 300}))
    ch.basic_publish("", q, b"slow")
    Collector(ch, q, auto_ack=False).wait_for(1)
    conn.call_later(5, ch.stop_consuming)
    with channel_error(406, "Timeout value used: 300 ms"):
        ch.start_consuming()
