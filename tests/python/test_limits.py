"""Vhost limits (`max-connections`, `max-queues`) and user limits (`max-connections`,
`max-channels`) as RabbitMQ 3.10 sets, lists, enforces and clears them through the management
API. Written against RabbitMQ 3.10.8 first
(AMQP_PORT=5680 MGMT_PORT=15680 against a private node); /work/notes/issue13/limits.md has
what it answered."""

import os

import pika
import pika.exceptions
import pytest

from conftest import own_warren
from mgmt_helpers import Mgmt, unique


@pytest.fixture
def vhost(broker, mgmt, request):
    name = unique("lim")
    mgmt.ok("PUT", f"/api/vhosts/{name}", {})
    mgmt.ok("PUT", f"/api/permissions/{name}/guest", {"configure": ".*", "write": ".*", "read": ".*"})
    yield name
    mgmt.request("DELETE", f"/api/vhosts/{name}")


def connect(broker, vhost, user="guest", password="guest"):
    return pika.BlockingConnection(pika.ConnectionParameters(
        host=broker.host, port=broker.port, virtual_host=vhost, connection_attempts=1,
        credentials=pika.PlainCredentials(user, password)))


@pytest.fixture
def user(mgmt, cleanup):
    """A user with all permissions on /."""
    name = cleanup.user(unique("limu"), password="pw")
    mgmt.ok("PUT", f"/api/permissions/%2F/{name}", {"configure": ".*", "write": ".*", "read": ".*"})
    return name


def test_limits_are_set_listed_and_cleared(mgmt, vhost):
    assert mgmt.request("PUT", f"/api/vhost-limits/{vhost}/max-connections", {"value": 1}).status == 204
    assert mgmt.request("PUT", f"/api/vhost-limits/{vhost}/max-queues", {"value": 1}).status == 204
    expected = [{"vhost": vhost, "value": {"max-queues": 1, "max-connections": 1}}]
    assert mgmt.json(f"/api/vhost-limits/{vhost}") == expected
    assert [e for e in mgmt.json("/api/vhost-limits") if e["vhost"] == vhost] == expected
    # RabbitMQ lists them as runtime parameters too.
    parameter = {"value": {"max-connections": 1, "max-queues": 1}, "vhost": vhost, "component": "vhost-limits",
                 "name": "limits"}
    for path in ("/api/parameters", "/api/parameters/vhost-limits", f"/api/parameters/vhost-limits/{vhost}"):
        assert [p for p in mgmt.json(path) if p["vhost"] == vhost] == [parameter], path
    r = mgmt.request("PUT", f"/api/vhost-limits/{vhost}/max-foo", {"value": 1})
    assert (r.status, r.body) == (400, {"error": "bad_request", "reason":
                                        'Validation failed\n\nUnrecognised terms [{<<"max-foo">>,1}] in limits\n'})
    r = mgmt.request("PUT", f"/api/vhost-limits/{vhost}/max-queues", {"value": "x"})
    assert (r.status, r.body) == (400, {"error": "bad_request", "reason":
                                        'Validation failed\n\nmax-queues should be a number, actually was <<"x">>\n'})
    assert mgmt.request("DELETE", f"/api/vhost-limits/{vhost}/max-connections").status == 204
    assert mgmt.json(f"/api/vhost-limits/{vhost}") == [{"vhost": vhost, "value": {"max-queues": 1}}]


def test_a_connection_past_max_connections_is_refused_with_530(broker, mgmt, vhost):
    mgmt.ok("PUT", f"/api/vhost-limits/{vhost}/max-connections", {"value": 1}, expect=(204,))
    first = connect(broker, vhost)
    try:
        with pytest.raises(pika.exceptions.ProbableAccessDeniedError) as refused:
            connect(broker, vhost)
        assert (f"NOT_ALLOWED - access to vhost '{vhost}' refused for user 'guest': "
                "connection limit (1) is reached") in str(refused.value)
    finally:
        first.close()
    # A negative limit is none.
    mgmt.ok("PUT", f"/api/vhost-limits/{vhost}/max-connections", {"value": -1}, expect=(204,))
    a, b = connect(broker, vhost), connect(broker, vhost)
    a.close()
    b.close()


def test_a_queue_past_max_queues_is_refused_with_406(broker, mgmt, vhost):
    mgmt.ok("PUT", f"/api/vhost-limits/{vhost}/max-queues", {"value": 1}, expect=(204,))
    conn = connect(broker, vhost)
    try:
        ch = conn.channel()
        ch.queue_declare("q1")
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as refused:
            ch.queue_declare("q2")
        assert refused.value.reply_code == 406
        assert refused.value.reply_text == (
            f"PRECONDITION_FAILED - cannot declare queue 'q2': queue limit in vhost '{vhost}' (1) is reached")
        # Redeclaring the queue that exists is fine.
        conn.channel().queue_declare("q1")
    finally:
        conn.close()


def test_limits_survive_a_restart_and_go_with_their_vhost(restartable_broker):
    b = restartable_broker
    api = Mgmt(b.mgmt_url)
    api.ok("PUT", "/api/vhosts/limited")
    api.ok("PUT", "/api/vhosts/gone")
    api.ok("PUT", "/api/vhost-limits/limited/max-queues", {"value": 7}, expect=(204,))
    api.ok("PUT", "/api/vhost-limits/gone/max-connections", {"value": 3}, expect=(204,))
    api.ok("DELETE", "/api/vhosts/gone", expect=(204,))
    b.restart()
    api = Mgmt(b.mgmt_url)
    assert api.json("/api/vhost-limits") == [{"vhost": "limited", "value": {"max-queues": 7}}]
    # A vhost created again under the old name starts without the old limits.
    api.ok("PUT", "/api/vhosts/gone")
    assert api.json("/api/vhost-limits/gone") == []


def test_user_limits_are_set_listed_and_cleared(mgmt, user):
    assert mgmt.request("PUT", f"/api/user-limits/{user}/max-connections", {"value": 2}).status == 204
    assert mgmt.request("PUT", f"/api/user-limits/{user}/max-channels", {"value": 3}).status == 204
    expected = [{"user": user, "value": {"max-channels": 3, "max-connections": 2}}]
    assert mgmt.json(f"/api/user-limits/{user}") == expected
    assert [e for e in mgmt.json("/api/user-limits") if e["user"] == user] == expected
    assert mgmt.json(f"/api/users/{user}")["limits"] == {"max-channels": 3, "max-connections": 2}
    r = mgmt.request("PUT", f"/api/user-limits/{user}/max-foo", {"value": 4})
    assert (r.status, r.body) == (400, {"error": "bad_request", "reason":
                                        'Unrecognised terms [{<<"max-foo">>,4}] in user-limits'})
    r = mgmt.request("PUT", f"/api/user-limits/{user}/max-channels", {"value": "x"})
    assert (r.status, r.body) == (400, {"error": "bad_request", "reason":
                                        'max-channels should be a number, actually was <<"x">>'})
    r = mgmt.request("PUT", f"/api/user-limits/{user}/max-channels", {"valu": 4})
    assert (r.status, r.body) == (400, {"error": "bad_request", "reason": "[{key_missing,value}]"})
    r = mgmt.request("PUT", "/api/user-limits/t-no-such-user/max-channels", {"value": 4})
    assert (r.status, r.body) == (400, {"error": "bad_request", "reason": ["no_such_user", "t-no-such-user"]})
    assert mgmt.request("GET", "/api/user-limits/t-no-such-user").status == 404
    assert mgmt.request("DELETE", f"/api/user-limits/{user}/max-channels").status == 204
    assert mgmt.json(f"/api/user-limits/{user}") == [{"user": user, "value": {"max-connections": 2}}]
    assert mgmt.request("DELETE", f"/api/user-limits/{user}/max-connections").status == 204
    assert mgmt.json(f"/api/user-limits/{user}") == []
    assert mgmt.json(f"/api/users/{user}")["limits"] == {}


def test_a_users_connection_past_max_connections_is_refused_with_530(broker, mgmt, user):
    mgmt.ok("PUT", f"/api/user-limits/{user}/max-connections", {"value": 1}, expect=(204,))
    first = connect(broker, "/", user, "pw")
    try:
        with pytest.raises(pika.exceptions.ProbableAccessDeniedError) as refused:
            connect(broker, "/", user, "pw")
        assert (f"NOT_ALLOWED - connection refused for user '{user}': "
                "user connection limit (1) is reached") in str(refused.value)
        # Other users are not limited by it.
        connect(broker, "/").close()
    finally:
        first.close()
    # Zero allows none; a negative limit is none.
    mgmt.ok("PUT", f"/api/user-limits/{user}/max-connections", {"value": 0}, expect=(204,))
    with pytest.raises(pika.exceptions.ProbableAccessDeniedError) as refused:
        connect(broker, "/", user, "pw")
    assert "user connection limit (0) is reached" in str(refused.value)
    mgmt.ok("PUT", f"/api/user-limits/{user}/max-connections", {"value": -1}, expect=(204,))
    a, b = connect(broker, "/", user, "pw"), connect(broker, "/", user, "pw")
    a.close()
    b.close()


def test_the_vhost_limit_is_checked_before_the_users(broker, mgmt, vhost, user):
    mgmt.ok("PUT", f"/api/permissions/{vhost}/{user}", {"configure": ".*", "write": ".*", "read": ".*"})
    mgmt.ok("PUT", f"/api/vhost-limits/{vhost}/max-connections", {"value": 1}, expect=(204,))
    mgmt.ok("PUT", f"/api/user-limits/{user}/max-connections", {"value": 1}, expect=(204,))
    first = connect(broker, vhost, user, "pw")
    try:
        with pytest.raises(pika.exceptions.ProbableAccessDeniedError) as refused:
            connect(broker, vhost, user, "pw")
        assert f"access to vhost '{vhost}' refused for user '{user}': connection limit (1)" in str(refused.value)
    finally:
        first.close()


def test_max_channels_counts_the_users_channels_on_all_its_connections(broker, mgmt, user):
    mgmt.ok("PUT", f"/api/user-limits/{user}/max-channels", {"value": 2}, expect=(204,))
    one, two = connect(broker, "/", user, "pw"), connect(broker, "/", user, "pw")
    try:
        ch_one = one.channel()
        two.channel()
        with pytest.raises(pika.exceptions.ConnectionClosedByBroker) as refused:
            one.channel()
        assert refused.value.reply_code == 530
        assert refused.value.reply_text == (
            f"NOT_ALLOWED - number of channels opened for user '{user}' has reached the maximum "
            "allowed user limit of (2)")
        assert not ch_one.is_open
        # The user's other connection carries on, and may open a channel again once one is freed.
        assert two.is_open
        three = connect(broker, "/", user, "pw")
        three.channel().queue_declare("", exclusive=True)
        three.close()
        # Other users are not counted.
        guest = connect(broker, "/")
        guest.channel()
        guest.channel()
        guest.close()
    finally:
        for c in (one, two):
            if c.is_open:
                c.close()


def test_user_limits_survive_a_restart_and_go_with_their_user(restartable_broker):
    b = restartable_broker
    api = Mgmt(b.mgmt_url)
    for name in ("kept", "gone"):
        api.ok("PUT", f"/api/users/{name}", {"password": "pw", "tags": ""})
    api.ok("PUT", "/api/user-limits/kept/max-channels", {"value": 9}, expect=(204,))
    api.ok("PUT", "/api/user-limits/gone/max-connections", {"value": 3}, expect=(204,))
    # Replacing a user keeps its limits (RabbitMQ).
    api.ok("PUT", "/api/users/kept", {"password": "pw2", "tags": "management"})
    api.ok("DELETE", "/api/users/gone", expect=(204,))
    b.restart()
    api = Mgmt(b.mgmt_url)
    assert api.json("/api/user-limits") == [{"user": "kept", "value": {"max-channels": 9}}]
    api.ok("PUT", "/api/users/gone", {"password": "pw", "tags": ""})
    assert api.json("/api/user-limits/gone") == []


def test_consumer_max_per_channel_caps_the_consumers_of_one_channel(tmp_path):
    # RabbitMQ 3.10 has no such key (later releases do; rabbit_channel's texts and codes).
    proc, host, port = own_warren(tmp_path, conf="consumer_max_per_channel = 2\n",
                                  why="needs its own rabbitmq.conf")
    try:
        params = pika.ConnectionParameters(host=host, port=port, connection_attempts=1)
        conn = pika.BlockingConnection(params)
        ch = conn.channel()
        q = ch.queue_declare("", exclusive=True).method.queue
        # The direct reply-to consumer is not counted.
        ch.basic_consume("amq.rabbitmq.reply-to", lambda *a: None, auto_ack=True)
        ch.basic_consume(q, lambda *a: None)
        ch.basic_consume(q, lambda *a: None)
        # Another channel has its own count.
        other = conn.channel()
        other.basic_consume(q, lambda *a: None)
        with pytest.raises(pika.exceptions.ConnectionClosedByBroker) as refused:
            ch.basic_consume(q, lambda *a: None)
        assert refused.value.reply_code == 530
        assert refused.value.reply_text == "NOT_ALLOWED - reached maximum (2) of consumers per channel"
        # Cancelling one makes room again.
        conn = pika.BlockingConnection(params)
        ch = conn.channel()
        q = ch.queue_declare("", exclusive=True).method.queue
        first = ch.basic_consume(q, lambda *a: None)
        ch.basic_consume(q, lambda *a: None)
        ch.basic_cancel(first)
        ch.basic_consume(q, lambda *a: None)
        conn.close()
    finally:
        proc.stop()


def test_connection_max_holds_further_clients_until_a_connection_ends(tmp_path):
    """`connection_max` as RabbitMQ's ranch applies it: past the limit a client is not
    accepted (it waits in the listen backlog, its handshake unanswered) until a connection
    ends."""
    import socket
    import time

    proc, host, port = own_warren(tmp_path, conf="connection_max = 2\n", why="needs its own rabbitmq.conf")
    try:
        params = pika.ConnectionParameters(host=host, port=port, connection_attempts=1)
        first, second = pika.BlockingConnection(params), pika.BlockingConnection(params)
        # A third client's protocol header gets no connection.start while two are open.
        with socket.create_connection((host, port), timeout=5) as s:
            s.sendall(b"AMQP\x00\x00\x09\x01")
            s.settimeout(1.0)
            with pytest.raises(socket.timeout):
                s.recv(7)
            # One ends: the waiting client is taken in and answered.
            first.close()
            s.settimeout(5.0)
            assert s.recv(7)[:1] == b"\x01", "connection.start once a slot is free"
        # Its slot is free again once it went away.
        deadline = time.monotonic() + 5
        while True:
            try:
                third = pika.BlockingConnection(pika.ConnectionParameters(
                    host=host, port=port, connection_attempts=1, socket_timeout=2, stack_timeout=3))
                break
            except pika.exceptions.AMQPConnectionError:
                assert time.monotonic() < deadline, "no slot came free"
        third.close()
        second.close()
    finally:
        proc.stop()



@pytest.mark.skipif(not os.environ.get("WARREN_BIN"),
                    reason="Warren's own rule (RabbitMQ 3.10 lets policymakers change it)")
def test_only_administrators_change_the_vhost_limits_parameter(mgmt, vhost, cleanup):
    """A policymaker of the vhost may read its `vhost-limits` parameter but not change it:
    otherwise a tenant could lift the quota an administrator set."""
    name = cleanup.user(unique("pm"), password="pw", tags="policymaker")
    mgmt.ok("PUT", f"/api/permissions/{vhost}/{name}", {"configure": ".*", "write": ".*", "read": ".*"})
    mgmt.ok("PUT", f"/api/vhost-limits/{vhost}/max-queues", {"value": 5}, expect=(204,))
    path = f"/api/parameters/vhost-limits/{vhost}/limits"
    assert mgmt.json(path, user=(name, "pw"))["value"] == {"max-queues": 5}
    for method, body in (("PUT", {"value": {"max-queues": 500}}), ("DELETE", None)):
        r = mgmt.request(method, path, body, user=(name, "pw"))
        assert (r.status, r.body) == (401, {"error": "not_authorised", "reason": "Not administrator user"}), method
    assert mgmt.json(f"/api/vhost-limits/{vhost}") == [{"vhost": vhost, "value": {"max-queues": 5}}]
    # An administrator may.
    mgmt.ok("PUT", path, {"value": {"max-queues": 6}}, expect=(204,))
    assert mgmt.json(f"/api/vhost-limits/{vhost}") == [{"vhost": vhost, "value": {"max-queues": 6}}]


def test_imported_user_limits_merge_with_those_set(mgmt, user):
    """A user's `limits` in definitions are added to the ones it has (RabbitMQ's
    `update_limits(add, …)`); an empty `limits` keeps them."""
    mgmt.ok("PUT", f"/api/user-limits/{user}/max-channels", {"value": 9}, expect=(204,))
    defs = {"users": [{"name": user, "password": "pw", "tags": "", "limits": {"max-connections": 3}}]}
    assert mgmt.post("/api/definitions", defs).status == 204
    assert mgmt.json(f"/api/user-limits/{user}") == [
        {"user": user, "value": {"max-channels": 9, "max-connections": 3}}]
    defs["users"][0]["limits"] = {}
    assert mgmt.post("/api/definitions", defs).status == 204
    assert mgmt.json(f"/api/user-limits/{user}")[0]["value"] == {"max-channels": 9, "max-connections": 3}
