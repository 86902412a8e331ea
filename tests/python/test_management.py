"""The management HTTP API as a RabbitMQ 3.10 user sees it: authentication and user tags,
vhosts, queues (declare, counts, statistics, get, publish), listings (pagination, sorting,
filtering, columns), exchanges and bindings.

Expected answers come from a real RabbitMQ 3.10.8 node (status codes, error JSON, field
shapes); run against RabbitMQ with AMQP_PORT=5672 MGMT_PORT=15672 to check the tests.
"""

import base64
import json
import socket
import urllib.parse

import pika
import pika.exceptions
import pytest

from amqp_helpers import wait_until
from mgmt_helpers import (
    LOGIN_FAILED,
    NOT_FOUND,
    REALM,
    Mgmt,
    enc,
    eventually,
    not_authorised,
    unique,
    vh,
)


def queue_of(mgmt, vhost, name):
    return mgmt.json(f"/api/queues/{vh(vhost)}/{enc(name)}")


# --- 1. authentication and tags -----------------------------------------------------------


def test_no_credentials_is_a_401_challenge_with_an_empty_body(mgmt):
    r = mgmt.get("/api/overview", user=None)
    assert r.status == 401
    assert r.raw == b""
    assert r.headers.get("www-authenticate") == REALM


@pytest.mark.parametrize("user", [("guest", "wrong"), ("t-nobody-at-all", "guest")])
def test_wrong_password_or_unknown_user_is_login_failed(mgmt, user):
    r = mgmt.get("/api/overview", user=user)
    assert r.status == 401
    assert r.body == LOGIN_FAILED
    assert r.headers.get("www-authenticate") == REALM


def test_user_without_tags_is_not_a_management_user(mgmt, cleanup):
    name = cleanup.user(unique("notags"), tags="")
    cleanup.permissions("/", name)
    for path in ("/api/whoami", "/api/overview", "/api/queues"):
        r = mgmt.get(path, user=(name, "pw"))
        assert r.status == 401, path
        assert r.body == not_authorised("Not management user")
        assert "www-authenticate" not in r.headers


def test_whoami_shows_tags_as_a_list(mgmt, cleanup):
    name = cleanup.user(unique("dave"), tags="management,monitoring")
    assert mgmt.json("/api/whoami", user=(name, "pw")) == {"name": name, "tags": ["management", "monitoring"]}
    assert mgmt.json("/api/whoami") == {"name": "guest", "tags": ["administrator"]}


def test_monitoring_user_sees_node_vhosts_and_connections_but_administers_nothing(mgmt, cleanup, broker, connect):
    """RabbitMQ 3.10's rules: monitoring sees every vhost, connection and node, but the
    contents of a vhost (queues, exchanges, bindings) only where it has permissions."""
    name = cleanup.user(unique("alice"), tags="monitoring")
    as_alice = (name, "pw")
    # A vhost alice has no permissions in, with a queue, and a connection of guest's.
    vhost = cleanup.vhost(unique("vh"))
    q = cleanup.queue(vhost, "q-mon")
    conn_name = unique("conn")
    connect(client_properties={"connection_name": conn_name})

    for path in ("/api/users", f"/api/users/{name}", "/api/definitions", "/api/permissions"):
        r = mgmt.get(path, user=as_alice)
        assert (r.status, r.body) == (401, not_authorised("Not administrator user")), path
        assert "www-authenticate" not in r.headers
    for path in ("/api/vhosts/t-never-created", f"/api/vhosts/{enc(vhost)}"):
        r = mgmt.put(path, user=as_alice)
        assert (r.status, r.body) == (401, not_authorised("Not administrator user")), path
    r = mgmt.get(f"/api/vhosts/{enc(vhost)}", user=as_alice)
    assert (r.status, r.body) == (401, not_authorised("Not administrator user"))
    assert any(v["name"] == vhost for v in mgmt.json("/api/vhosts", user=as_alice))

    # Without permissions in the vhost: not its queues, exchanges or bindings.
    eventually(lambda: mgmt.json("/api/queues"), lambda qs: any(x["vhost"] == vhost for x in qs), what="q listed")
    for kind in ("queues", "exchanges", "bindings"):
        assert [x for x in mgmt.json(f"/api/{kind}", user=as_alice) if x["vhost"] == vhost] == [], kind
        r = mgmt.get(f"/api/{kind}/{enc(vhost)}", user=as_alice)
        assert (r.status, r.body) == (401, not_authorised("User not authorised to access virtual host")), kind
    cleanup.permissions(vhost, name, configure="", write="", read="")
    assert [x["name"] for x in mgmt.json("/api/queues", user=as_alice) if x["vhost"] == vhost] == [q]
    assert mgmt.json(f"/api/queues/{enc(vhost)}/{q}", user=as_alice)["name"] == q
    eventually(
        lambda: mgmt.json("/api/connections", user=as_alice),
        lambda cs: any(c["client_properties"].get("connection_name") == conn_name for c in cs),
        what="guest's connection in alice's /api/connections",
    )
    nodes = mgmt.json("/api/nodes", user=as_alice)
    assert len(nodes) == 1 and nodes[0]["running"] is True and "name" in nodes[0]
    overview = mgmt.json("/api/overview", user=as_alice)
    assert {"node", "listeners", "contexts"} <= overview.keys()


def test_policymaker_overview_lacks_node_details_and_policies_need_vhost_permissions(mgmt, cleanup):
    name = cleanup.user(unique("pm"), tags="policymaker")
    as_pm = (name, "pw")
    mine = cleanup.vhost(unique("pmvh"))
    other = cleanup.vhost(unique("other"))
    cleanup.permissions(mine, name)

    overview = mgmt.json("/api/overview", user=as_pm)
    assert not {"node", "listeners", "contexts"} & overview.keys()
    assert {"node", "listeners", "contexts"} <= mgmt.json("/api/overview").keys()
    r = mgmt.get("/api/users", user=as_pm)
    assert (r.status, r.body) == (401, not_authorised("Not administrator user"))

    body = {"pattern": "^nothing$", "definition": {"max-length": 1}}
    r = mgmt.put(f"/api/policies/{vh(other)}/p", body, user=as_pm)
    assert (r.status, r.body) == (401, not_authorised("User not authorised to access object"))
    r = mgmt.put(cleanup.add(f"/api/policies/{vh(mine)}/p"), body, user=as_pm)
    assert r.status == 201
    mgmt.ok("PUT", cleanup.add(f"/api/policies/{vh(other)}/p"), body)  # as guest

    seen = {(p["vhost"], p["name"]) for p in mgmt.json("/api/policies", user=as_pm)}
    assert (mine, "p") in seen and (other, "p") not in seen
    seen = {(p["vhost"], p["name"]) for p in mgmt.json("/api/policies")}
    assert {(mine, "p"), (other, "p")} <= seen
    # Only the vhosts with permissions are listed for a non-monitoring user.
    assert [v["name"] for v in mgmt.json("/api/vhosts", user=as_pm)] == [mine]


def test_management_user_sees_its_vhosts_and_its_own_connections(mgmt, cleanup, broker, connect):
    name = cleanup.user(unique("mgr"), tags="management")
    as_mgr = (name, "pw")
    mine = cleanup.vhost(unique("mine"))
    theirs = cleanup.vhost(unique("theirs"))
    cleanup.permissions(mine, name)
    q_mine = cleanup.queue(mine, "q-mine")
    cleanup.queue(theirs, "q-theirs")

    assert [v["name"] for v in mgmt.json("/api/vhosts", user=as_mgr)] == [mine]
    assert [(q["vhost"], q["name"]) for q in mgmt.json("/api/queues", user=as_mgr)] == [(mine, q_mine)]
    r = mgmt.get(f"/api/queues/{vh(theirs)}", user=as_mgr)
    assert (r.status, r.body) == (401, not_authorised("User not authorised to access virtual host"))

    guest_name, own_name = unique("guestconn"), unique("ownconn")
    connect(client_properties={"connection_name": guest_name})
    connect(vhost=mine, username=name, password="pw", client_properties={"connection_name": own_name})
    everyone = eventually(
        lambda: mgmt.json("/api/connections"),
        lambda cs: {guest_name, own_name} <= {c["client_properties"].get("connection_name") for c in cs},
        what="both connections listed for guest",
    )
    assert len(everyone) >= 2
    own = mgmt.json("/api/connections", user=as_mgr)
    assert [c["client_properties"]["connection_name"] for c in own] == [own_name]
    assert own[0]["user"] == name and own[0]["vhost"] == mine


def test_guest_may_use_the_api_from_loopback_only(broker, tmp_path):
    """loopback_users: guest is refused from any other address (needs a non-loopback address
    on this host and a Warren of the test's own listening on all addresses)."""
    import os
    import subprocess

    from conftest import WarrenProcess

    binary = os.environ.get("WARREN_BIN")
    if not binary:
        pytest.skip("needs WARREN_BIN to start a broker listening on every address")
    try:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.connect(("192.0.2.1", 9))  # no packet is sent: picks the outgoing address
        address = s.getsockname()[0]
        s.close()
    except OSError:
        address = None
    if not address or address.startswith("127."):
        pytest.skip("this host has no non-loopback IPv4 address")
    data = tmp_path / "data"
    data.mkdir()
    proc = WarrenProcess(binary, data, tmp_path / "warren.log", bind="0.0.0.0")
    proc.start()
    try:
        remote = Mgmt(f"http://{address}:{proc.mgmt_port}")
        local = Mgmt(f"http://127.0.0.1:{proc.mgmt_port}")
        assert local.get("/api/whoami").status == 200
        r = remote.get("/api/whoami")
        assert (r.status, r.body) == (401, not_authorised("User can only log in via localhost"))
        # Another administrator may log in from anywhere.
        local.ok("PUT", "/api/users/t-remote", {"password": "pw", "tags": "administrator"})
        assert remote.get("/api/whoami", user=("t-remote", "pw")).status == 200
    finally:
        proc.stop()
    del subprocess


# --- 2. vhosts -----------------------------------------------------------------------------


def test_vhost_create_update_show_delete(mgmt, cleanup):
    name = unique("vh")
    path = cleanup.add(f"/api/vhosts/{enc(name)}")
    r = mgmt.put(path, {"description": "for tests", "tags": "a,b"})
    assert (r.status, r.raw) == (201, b"")
    assert "location" not in r.headers
    assert mgmt.put(path, {"description": "for tests", "tags": ["a", "b"]}).status == 204

    v = mgmt.json(path)
    assert v["name"] == name
    assert v["description"] == "for tests"
    assert v["tags"] == ["a", "b"]
    assert v["default_queue_type"] == "undefined"
    assert v["metadata"] == {"description": "for tests", "tags": ["a", "b"]}
    assert v["tracing"] is False
    assert list(v["cluster_state"].values()) == ["running"]
    assert name in [x["name"] for x in mgmt.json("/api/vhosts")]

    # The creating administrator may use it at once.
    perm = mgmt.json(f"/api/permissions/{enc(name)}/guest")
    assert perm == {"user": "guest", "vhost": name, "configure": ".*", "write": ".*", "read": ".*"}

    r = mgmt.delete(path)
    assert (r.status, r.raw) == (204, b"")
    r = mgmt.delete(path)
    assert (r.status, r.body) == (404, NOT_FOUND)
    r = mgmt.get(path)
    assert (r.status, r.body) == (404, NOT_FOUND)


def test_vhost_message_counts_follow_its_queues(mgmt, cleanup, broker, connect):
    vhost = cleanup.vhost(unique("vh"))
    q = cleanup.queue(vhost, "counted")
    ch = connect(vhost=vhost).channel()
    for i in range(3):
        ch.basic_publish("", q, b"m%d" % i)
    v = eventually(
        lambda: mgmt.json(f"/api/vhosts/{enc(vhost)}"),
        lambda v: v.get("messages") == 3,
        what="vhost messages == 3",
    )
    assert v["messages_ready"] == 3 and v["messages_unacknowledged"] == 0
    assert "rate" in v["messages_details"]


def test_deleting_a_vhost_closes_its_connections(mgmt, cleanup, broker):
    vhost = cleanup.vhost(unique("doomed"))
    conn = broker.connect(vhost=vhost)
    try:
        conn.channel().queue_declare("q-in-doomed")
        assert mgmt.delete(f"/api/vhosts/{enc(vhost)}").status == 204
        with pytest.raises(pika.exceptions.ConnectionClosedByBroker) as info:
            wait_until(conn, lambda: False, timeout=10, what="the broker closing the connection")
        assert (info.value.reply_code, info.value.reply_text) == (320, f"CONNECTION_FORCED - vhost '{vhost}' is deleted")
    finally:
        if conn.is_open:
            conn.close()
    # Nothing of it is left.
    assert mgmt.get(f"/api/queues/{enc(vhost)}/q-in-doomed").status == 404


# --- 3. queues -----------------------------------------------------------------------------


def test_queue_declare_show_redeclare_and_delete(mgmt, cleanup):
    name = unique("q")
    path = cleanup.add(f"/api/queues/%2F/{enc(name)}")
    r = mgmt.put(path, {"durable": True, "arguments": {"x-max-length": 10}})
    assert (r.status, r.raw) == (201, b"")
    assert mgmt.put(path, {"durable": True, "arguments": {"x-max-length": 10}}).status == 204

    q = eventually(lambda: mgmt.json(path), lambda q: "messages" in q, what="queue statistics")
    assert q["name"] == name and q["vhost"] == "/"
    assert (q["durable"], q["auto_delete"], q["exclusive"]) == (True, False, False)
    assert q["arguments"] == {"x-max-length": 10}
    assert q["type"] == "classic"
    assert q["messages"] == 0 and q["consumers"] == 0
    assert q["consumer_details"] == [] and q["incoming"] == [] and q["deliveries"] == []
    assert q["policy"] is None and q["operator_policy"] is None
    assert q["effective_policy_definition"] == {}

    r = mgmt.put(path, {"durable": False, "arguments": {"x-max-length": 10}})
    assert r.status == 400
    assert r.body == {
        "error": "bad_request",
        "reason": f"inequivalent arg 'durable' for queue '{name}' in vhost '/': received 'false' but current is 'true'",
    }

    assert (mgmt.delete(path).status, mgmt.delete(path).body) == (204, NOT_FOUND)
    r = mgmt.get(path)
    assert (r.status, r.body) == (404, NOT_FOUND)


def test_queue_put_without_body_is_not_durable(mgmt, cleanup):
    name = cleanup.queue("/", unique("nobody"))
    assert queue_of(mgmt, "/", name)["durable"] is False


def test_queue_put_in_missing_vhost_is_vhost_not_found(mgmt):
    r = mgmt.put("/api/queues/t-no-such-vhost/q1", {"durable": True})
    assert (r.status, r.body) == (404, {"error": "not_found", "reason": "vhost_not_found"})
    r = mgmt.get("/api/queues/t-no-such-vhost/q1")
    assert (r.status, r.body) == (404, NOT_FOUND)


def test_queue_delete_if_empty_and_if_unused(mgmt, cleanup, connect):
    name = cleanup.queue("/", unique("cond"))
    path = f"/api/queues/%2F/{enc(name)}"
    ch = connect().channel()
    ch.basic_publish("", name, b"x")
    eventually(lambda: queue_of(mgmt, "/", name), lambda q: q["messages"] == 1, what="1 message")
    r = mgmt.delete(path + "?if-empty=true")
    assert (r.status, r.body) == (400, {"error": "bad_request", "reason": f"queue '{name}' in vhost '/' not empty"})
    ch.queue_purge(name)
    tag = ch.basic_consume(name, lambda *a: None)
    eventually(lambda: queue_of(mgmt, "/", name), lambda q: q["consumers"] == 1, what="1 consumer")
    r = mgmt.delete(path + "?if-unused=true")
    assert (r.status, r.body) == (400, {"error": "bad_request", "reason": f"queue '{name}' in vhost '/' in use"})
    ch.basic_cancel(tag)
    r = mgmt.delete(path + "?if-unused=true&if-empty=true")
    assert r.status == 204


def test_queue_counts_and_message_stats_follow_traffic(mgmt, cleanup, connect):
    name = cleanup.queue("/", unique("stats"))
    conn = connect()
    ch = conn.channel()
    for i in range(5):
        ch.basic_publish("", name, b"m%d" % i)
    q = eventually(
        lambda: queue_of(mgmt, "/", name),
        lambda q: q["messages_ready"] == 5 and q.get("message_stats", {}).get("publish") == 5,
        what="5 ready and 5 published",
    )
    assert q["messages"] == 5 and q["messages_unacknowledged"] == 0
    assert q["message_stats"]["publish_details"]["rate"] >= 0

    # One delivery left unacknowledged, one consumer.
    ch.basic_qos(prefetch_count=1)
    got = []
    tag = ch.basic_consume(name, lambda c, m, p, b: got.append(m))
    wait_until(conn, lambda: len(got) == 1, what="one delivery")
    q = eventually(
        lambda: queue_of(mgmt, "/", name),
        lambda q: q["messages_unacknowledged"] == 1 and q["consumers"] == 1,
        what="1 unacked, 1 consumer",
    )
    assert q["messages_ready"] == 4 and q["messages"] == 5
    assert [c["consumer_tag"] for c in q["consumer_details"]] == [tag]
    ch.basic_cancel(tag)
    ch.basic_ack(got[0].delivery_tag)
    # A get (with ack), then a rejected get that is redelivered.
    method, _, _ = ch.basic_get(name, auto_ack=False)
    ch.basic_ack(method.delivery_tag)
    method, _, _ = ch.basic_get(name, auto_ack=False)
    ch.basic_reject(method.delivery_tag, requeue=True)
    method, _, _ = ch.basic_get(name, auto_ack=False)
    assert method.redelivered
    ch.basic_ack(method.delivery_tag)
    q = eventually(
        lambda: queue_of(mgmt, "/", name),
        lambda q: q["message_stats"].get("get") == 3 and q["message_stats"].get("ack") == 3
        and q["messages"] == 2 and q["consumers"] == 0,
        what="get 3 / ack 3, 2 messages left",
    )
    s = q["message_stats"]
    assert s["publish"] == 5
    assert s["deliver"] == 1
    assert s["redeliver"] == 1
    assert s["deliver_get"] == 4
    assert q["messages"] == 2 and q["consumers"] == 0


def test_purge_empties_the_queue(mgmt, cleanup, connect):
    name = cleanup.queue("/", unique("purge"))
    ch = connect().channel()
    for _ in range(3):
        ch.basic_publish("", name, b"x")
    eventually(lambda: queue_of(mgmt, "/", name), lambda q: q["messages"] == 3, what="3 messages")
    r = mgmt.delete(f"/api/queues/%2F/{enc(name)}/contents")
    assert (r.status, r.raw) == (204, b"")
    assert ch.queue_declare(name, passive=True).method.message_count == 0
    r = mgmt.delete("/api/queues/%2F/t-no-such-queue/contents")
    assert (r.status, r.body) == (404, NOT_FOUND)


def test_get_messages_with_each_ackmode(mgmt, cleanup, connect):
    name = cleanup.queue("/", unique("get"))
    path = f"/api/queues/%2F/{enc(name)}/get"
    ch = connect().channel()
    ch.basic_publish("", name, b"first", pika.BasicProperties(content_type="text/plain", headers={"h": 1}))
    ch.basic_publish("", name, b"\xff\x00binary")
    ch.basic_publish("", name, b"third")
    ch.basic_publish("", name, b"fourth")
    eventually(lambda: queue_of(mgmt, "/", name), lambda q: q["messages"] == 4, what="4 messages")

    got = mgmt.ok("POST", path, {"count": 2, "ackmode": "ack_requeue_true", "encoding": "auto"}, expect=(200,))
    assert [m["payload"] for m in got] == ["first", base64.b64encode(b"\xff\x00binary").decode()]
    first, second = got
    assert first == {
        "payload_bytes": 5,
        "redelivered": False,
        "exchange": "",
        "routing_key": name,
        "message_count": 3,
        "properties": {"content_type": "text/plain", "headers": {"h": 1}},
        "payload": "first",
        "payload_encoding": "string",
    }
    assert second["payload_encoding"] == "base64" and second["properties"] == []
    assert second["message_count"] == 2

    # Requeued, and redelivered now.
    got = mgmt.ok("POST", path, {"count": 1, "ackmode": "reject_requeue_true", "encoding": "base64"}, expect=(200,))
    assert got[0]["redelivered"] is True
    assert got[0]["payload"] == base64.b64encode(b"first").decode() and got[0]["payload_encoding"] == "base64"

    got = mgmt.ok("POST", path, {"count": 1, "ackmode": "ack_requeue_false", "encoding": "auto", "truncate": 2}, expect=(200,))
    assert got[0]["payload"] == "fi" and got[0]["payload_bytes"] == 5
    got = mgmt.ok("POST", path, {"count": 1, "ackmode": "reject_requeue_false", "encoding": "auto"}, expect=(200,))
    assert len(got) == 1
    eventually(lambda: queue_of(mgmt, "/", name), lambda q: q["messages"] == 2, what="2 left")
    leftover = []
    for _ in range(2):
        method, _, body = ch.basic_get(name, auto_ack=True)
        leftover.append(body)
    assert sorted(leftover) == [b"fourth", b"third"]
    assert mgmt.ok("POST", path, {"count": 5, "ackmode": "ack_requeue_false", "encoding": "auto"}, expect=(200,)) == []

    r = mgmt.post(path, {"count": 1, "encoding": "auto"})
    assert (r.status, r.body) == (400, {"error": "bad_request", "reason": "[{key_missing,ackmode}]"})


def test_publish_through_the_api_reaches_a_pika_consumer(mgmt, cleanup, connect):
    name = cleanup.queue("/", unique("pub"))
    body = {
        "properties": {
            "content_type": "application/json",
            "delivery_mode": 2,
            "priority": 3,
            "correlation_id": "c-1",
            "headers": {"x-n": 7, "x-s": "str", "x-nested": {"a": [1, "b"]}},
        },
        "routing_key": name,
        "payload": json.dumps({"hello": "world"}),
        "payload_encoding": "string",
    }
    r = mgmt.post("/api/exchanges/%2F/amq.default/publish", body)
    assert (r.status, r.body) == (200, {"routed": True})
    encoded = dict(body, payload=base64.b64encode(b"\x00\x01").decode(), payload_encoding="base64", properties={})
    assert mgmt.ok("POST", "/api/exchanges/%2F/amq.default/publish", encoded, expect=(200,)) == {"routed": True}

    ch = connect().channel()
    method, props, payload = ch.basic_get(name, auto_ack=True)
    assert json.loads(payload) == {"hello": "world"}
    assert method.exchange == "" and method.routing_key == name
    assert props.content_type == "application/json"
    assert props.delivery_mode == 2 and props.priority == 3 and props.correlation_id == "c-1"
    assert props.headers["x-n"] == 7
    assert props.headers["x-s"] in ("str", b"str")
    assert props.headers["x-nested"]["a"][0] == 1
    _, _, payload = ch.basic_get(name, auto_ack=True)
    assert payload == b"\x00\x01"


def test_publish_unroutable_and_missing_fields(mgmt, cleanup):
    x = cleanup.exchange("/", unique("x"))
    body = {"properties": {}, "routing_key": "nowhere", "payload": "x", "payload_encoding": "string"}
    assert mgmt.ok("POST", f"/api/exchanges/%2F/{enc(x)}/publish", body, expect=(200,)) == {"routed": False}
    r = mgmt.post(f"/api/exchanges/%2F/{enc(x)}/publish", {"routing_key": "zzz", "payload": "x"})
    assert r.status == 400
    assert r.body == {"error": "bad_request", "reason": "[{key_missing,properties},{key_missing,payload_encoding}]"}
    r = mgmt.post("/api/exchanges/%2F/t-no-such-exchange/publish", body)
    assert (r.status, r.body) == (
        400, {"error": "bad_request", "reason": "404 NOT_FOUND - no exchange 't-no-such-exchange' in vhost '/'"})


def test_exclusive_queue_shows_its_owner(mgmt, connect):
    conn_name = unique("owner")
    conn = connect(client_properties={"connection_name": conn_name})
    ch = conn.channel()
    q = ch.queue_declare(unique("excl"), exclusive=True).method.queue
    conns = eventually(
        lambda: mgmt.json("/api/connections"),
        lambda cs: any(c["client_properties"].get("connection_name") == conn_name for c in cs),
        what="the owner connection",
    )
    owner = next(c for c in conns if c["client_properties"].get("connection_name") == conn_name)
    info = queue_of(mgmt, "/", q)
    assert info["exclusive"] is True
    assert info["owner_pid_details"]["name"] == owner["name"]
    assert info["durable"] is False
    # The API is not the owner: the queue is locked to it (RabbitMQ's RESOURCE_LOCKED text).
    locked = (f"cannot obtain exclusive access to locked queue '{q}' in vhost '/'. It could be originally declared "
              "on another connection or the exclusive property value does not match that of the original declaration.")
    path = f"/api/queues/%2F/{enc(q)}"
    for method, suffix, body, reason in (("PUT", "", {}, locked), ("DELETE", "", None, locked),
                                         ("DELETE", "/contents", None, locked),
                                         ("POST", "/get", {"count": 1, "ackmode": "ack_requeue_true", "encoding": "auto"},
                                          "405 RESOURCE_LOCKED - " + locked)):
        r = mgmt.request(method, path + suffix, body)
        assert (r.status, r.body) == (400, {"error": "bad_request", "reason": reason}), (method, suffix)
    assert ch.queue_declare(q, passive=True).method.queue == q


# --- 4. pagination, sorting, filtering, columns -----------------------------------------


@pytest.fixture
def three_queues(mgmt, cleanup, connect):
    """Queues PFX-a (1 message), PFX-b (3), PFX-c (2) in "/"."""
    prefix = unique("page")
    ch = connect().channel()
    names = {}
    for label, n in (("a", 1), ("b", 3), ("c", 2)):
        name = cleanup.queue("/", f"{prefix}-{label}")
        for _ in range(n):
            ch.basic_publish("", name, b"x")
        names[label] = name
    eventually(
        lambda: [q for q in mgmt.json("/api/queues/%2F") if q["name"].startswith(prefix)],
        lambda qs: sorted(q["messages"] for q in qs) == [1, 2, 3],
        what="message counts of the three queues",
    )
    return prefix, names


def test_pagination_wrapper_and_counts(mgmt, three_queues):
    prefix, names = three_queues
    total = len(mgmt.json("/api/queues"))
    page = mgmt.json(f"/api/queues?page=1&page_size=2&name={prefix}&use_regex=false&sort=name")
    assert sorted(page) == ["filtered_count", "item_count", "items", "page", "page_count", "page_size", "total_count"]
    assert [q["name"] for q in page["items"]] == [names["a"], names["b"]]
    assert (page["filtered_count"], page["item_count"], page["page"], page["page_count"], page["page_size"]) == (3, 2, 1, 2, 2)
    assert page["total_count"] == total
    page = mgmt.json(f"/api/queues?page=2&page_size=2&name={prefix}&sort=name")
    assert [q["name"] for q in page["items"]] == [names["c"]]
    assert (page["item_count"], page["page"]) == (1, 2)
    # One page beyond the filtered items: an empty page, not an error.
    page = mgmt.json(f"/api/queues?page=4&page_size=1&name={prefix}")
    assert (page["items"], page["item_count"], page["page_count"], page["filtered_count"]) == ([], 0, 3, 3)


def test_pagination_errors(mgmt, three_queues):
    r = mgmt.get("/api/queues?page=1&page_size=1000")
    assert r.status == 400
    assert r.body == {
        "error": "invalid_pagination_parameters",
        "reason": "Invalid pagination parameters: page number 1, page size 1000",
    }
    # Out of range: more than one page past the filtered items (len is their number).
    prefix, _ = three_queues
    r = mgmt.get(f"/api/queues?page=5&page_size=1&name={prefix}")
    assert (r.status, r.body) == (
        400, {"error": "page_out_of_range", "reason": "Page out of range, page: 5 page size: 1, len: 3"})
    r = mgmt.get(f"/api/queues?page=3&page_size=2&name={prefix}")
    assert (r.status, r.body) == (
        400, {"error": "page_out_of_range", "reason": "Page out of range, page: 3 page size: 2, len: 3"})
    total = len(mgmt.json("/api/queues"))
    r = mgmt.get(f"/api/queues?page={total + 2}&page_size=1")
    assert r.status == 400 and r.body["reason"].endswith(f"len: {total}")
    r = mgmt.get("/api/queues?page=0")
    assert (r.status, r.body) == (400, {
        "error": "invalid_pagination_parameters",
        "reason": "Invalid pagination parameters: page number 0, page size undefined"})


def items(page):
    return [q["name"] for q in page["items"]]


def test_name_filter_regex_and_sort_by_nested_field(mgmt, three_queues):
    prefix, names = three_queues
    paged = "/api/queues/%2F?page=1&page_size=500&name="
    assert items(mgmt.json(f"{paged}{prefix}-[ab]$&use_regex=true")) == [names["a"], names["b"]]
    # Without use_regex the same text is a substring: nothing matches.
    assert items(mgmt.json(f"{paged}{prefix}-[ab]$")) == []
    # Both are case-insensitive.
    assert items(mgmt.json(f"{paged}{prefix.upper()}-C")) == [names["c"]]
    assert items(mgmt.json(f"{paged}^{prefix.upper()}-C$&use_regex=true")) == [names["c"]]
    # The name filter is part of pagination: without `page` it is ignored (RabbitMQ).
    assert len(mgmt.json(f"/api/queues/%2F?name={prefix}")) == len(mgmt.json("/api/queues/%2F"))

    listed = mgmt.json(f"{paged}{prefix}&sort=message_stats.publish&sort_reverse=true")
    assert items(listed) == [names["b"], names["c"], names["a"]]
    listed = mgmt.json(f"{paged}{prefix}&sort=messages")
    assert items(listed) == [names["a"], names["c"], names["b"]]


def test_columns_trim_keys_including_nested_ones(mgmt, three_queues):
    prefix, names = three_queues
    listed = mgmt.json(f"/api/queues/%2F?page=1&name={prefix}&columns=name,messages,message_stats.publish&sort=name")
    assert listed["items"] == [
        {"name": names["a"], "messages": 1, "message_stats": {"publish": 1}},
        {"name": names["b"], "messages": 3, "message_stats": {"publish": 3}},
        {"name": names["c"], "messages": 2, "message_stats": {"publish": 2}},
    ]
    one = mgmt.json(f"/api/queues/%2F/{enc(names['b'])}?columns=name,messages_ready")
    assert one == {"name": names["b"], "messages_ready": 3}
    overview = mgmt.json("/api/overview?columns=rabbitmq_version,cluster_name")
    assert sorted(overview) == ["cluster_name", "rabbitmq_version"]


# --- 5. exchanges and bindings -----------------------------------------------------------


def test_exchange_declare_list_show_delete(mgmt, cleanup):
    name = unique("ex")
    path = cleanup.add(f"/api/exchanges/%2F/{enc(name)}")
    r = mgmt.put(path, {"type": "topic", "durable": True, "arguments": {"alternate-exchange": "amq.fanout"}})
    assert (r.status, r.raw) == (201, b"")
    assert mgmt.put(path, {"type": "topic", "durable": True, "arguments": {"alternate-exchange": "amq.fanout"}}).status == 204
    x = mgmt.json(path)
    assert (x["name"], x["vhost"], x["type"], x["durable"], x["auto_delete"], x["internal"]) == (
        name, "/", "topic", True, False, False)
    assert x["arguments"] == {"alternate-exchange": "amq.fanout"}
    assert x["incoming"] == [] and x["outgoing"] == []
    assert "policy" not in x  # shown only when a policy applies
    assert name in [e["name"] for e in mgmt.json("/api/exchanges/%2F")]

    r = mgmt.put(path, {"type": "direct"})
    assert r.status == 400
    assert r.body["error"] == "bad_request"
    assert r.body["reason"] == (
        f"inequivalent arg 'type' for exchange '{name}' in vhost '/': received 'direct' but current is 'topic'")
    # Defaults are exchange.declare's: type direct, not durable.
    for body in ({"type": "fanout"}, None):
        other = cleanup.add(f"/api/exchanges/%2F/{unique('x')}")
        assert mgmt.put(other, body).status == 201
        x = mgmt.json(f"{other}?columns=type,durable,auto_delete,internal")
        assert x == {"type": body["type"] if body else "direct", "durable": False, "auto_delete": False, "internal": False}

    assert mgmt.delete(path).status == 204
    r = mgmt.delete(path)
    assert (r.status, r.body) == (404, NOT_FOUND)


def test_default_exchange_is_fetched_as_amq_default(mgmt):
    x = mgmt.json("/api/exchanges/%2F/amq.default")
    assert (x["name"], x["type"], x["durable"]) == ("", "direct", True)
    listed = {e["name"] for e in mgmt.json("/api/exchanges/%2F")}
    assert {"", "amq.direct", "amq.fanout", "amq.topic", "amq.headers", "amq.match"} <= listed
    r = mgmt.get("/api/exchanges/%2F/t-no-such-exchange")
    assert (r.status, r.body) == (404, NOT_FOUND)


def test_bindings_create_show_list_delete(mgmt, cleanup, connect):
    x = cleanup.exchange("/", unique("src"), type="topic")
    q = cleanup.queue("/", unique("dst"))
    base = f"/api/bindings/%2F/e/{enc(x)}/q/{enc(q)}"

    r = mgmt.post(base, {"routing_key": "a.#"})
    assert (r.status, r.raw) == (201, b"")
    assert r.headers["location"] == f"{enc(q)}/a.%2523"
    b = mgmt.json(f"{base}/a.%2523")
    assert b == {
        "source": x,
        "vhost": "/",
        "destination": q,
        "destination_type": "queue",
        "routing_key": "a.#",
        "arguments": {},
        "properties_key": "a.%23",
    }
    # With arguments the properties key is an opaque "~…" token from the Location header.
    r = mgmt.post(base, {"routing_key": "", "arguments": {"x": 1}})
    assert r.status == 201
    dest, props = r.headers["location"].split("/")
    assert dest == enc(q) and props.startswith("~")
    b = mgmt.json(f"{base}/{props}")
    assert b["arguments"] == {"x": 1} and b["routing_key"] == "" and b["properties_key"] == urllib.parse.unquote(props)

    listed = mgmt.json(base)
    assert [(b["routing_key"], b["arguments"]) for b in listed] == [("", {"x": 1}), ("a.#", {})]
    assert {b["routing_key"] for b in mgmt.json(f"/api/exchanges/%2F/{enc(x)}/bindings/source")} == {"", "a.#"}
    on_queue = mgmt.json(f"/api/queues/%2F/{enc(q)}/bindings")
    # Every queue is bound to the default exchange with its name.
    assert ("", q) in [(b["source"], b["routing_key"]) for b in on_queue]
    assert {b["routing_key"] for b in on_queue if b["source"] == x} == {"", "a.#"}
    assert any(b["source"] == x and b["routing_key"] == "a.#" for b in mgmt.json("/api/bindings/%2F"))

    # Routing follows the binding.
    ch = connect().channel()
    ch.basic_publish(x, "a.b.c", b"routed")
    assert ch.basic_get(q, auto_ack=True)[2] == b"routed"

    assert mgmt.delete(f"{base}/a.%2523").status == 204
    r = mgmt.delete(f"{base}/a.%2523")
    assert (r.status, r.body) == (404, NOT_FOUND)
    r = mgmt.get(f"{base}/a.%2523")
    assert (r.status, r.body) == (404, NOT_FOUND)
    assert mgmt.delete(f"{base}/{props}").status == 204
    assert [b for b in mgmt.json(base)] == []


def test_exchange_to_exchange_bindings(mgmt, cleanup):
    src = cleanup.exchange("/", unique("src"), type="fanout")
    dst = cleanup.exchange("/", unique("dst"), type="fanout")
    r = mgmt.post(f"/api/bindings/%2F/e/{enc(src)}/e/{enc(dst)}", {"routing_key": "k"})
    assert r.status == 201 and r.headers["location"] == f"{enc(dst)}/k"
    dest = mgmt.json(f"/api/exchanges/%2F/{enc(dst)}/bindings/destination")
    assert [(b["source"], b["destination_type"], b["routing_key"]) for b in dest] == [(src, "exchange", "k")]
    assert mgmt.delete(f"/api/bindings/%2F/e/{enc(src)}/e/{enc(dst)}/k").status == 204


def test_binding_with_missing_ends_is_404(mgmt, cleanup):
    q = cleanup.queue("/", unique("q"))
    r = mgmt.post(f"/api/bindings/%2F/e/t-no-such-exchange/q/{enc(q)}", {"routing_key": "k"})
    assert (r.status, r.body) == (404, {"error": "not_found", "reason": "no exchange 't-no-such-exchange' in vhost '/'"})
    r = mgmt.post("/api/bindings/%2F/e/amq.direct/q/t-no-such-queue", {"routing_key": "k"})
    assert (r.status, r.body) == (404, {"error": "not_found", "reason": "no queue 't-no-such-queue' in vhost '/'"})
    r = mgmt.get(f"/api/bindings/%2F/e/amq.direct/q/{enc(q)}/nope")
    assert (r.status, r.body) == (404, NOT_FOUND)
    # Listing the bindings between missing ends: none.
    assert mgmt.json("/api/bindings/%2F/e/amq.direct/q/t-no-such-queue") == []
    assert mgmt.json(f"/api/bindings/%2F/e/t-no-such-exchange/q/{enc(q)}") == []
    r = mgmt.delete(f"/api/bindings/%2F/e/amq.direct/q/{enc(q)}/nope")
    assert (r.status, r.body) == (404, NOT_FOUND)
    r = mgmt.post("/api/bindings/t-no-such-vhost/e/amq.direct/q/q", {"routing_key": "k"})
    assert r.status == 404
