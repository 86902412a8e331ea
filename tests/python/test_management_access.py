"""The management API's connections, channels and consumers; users, permissions and topic
permissions (and what they change for AMQP clients); policies (matching, priority,
apply-to, restart).

Expected answers come from a real RabbitMQ 3.10.8 node; run against RabbitMQ with
AMQP_PORT=5672 MGMT_PORT=15672 to check the tests.
"""

import pika
import pika.exceptions
import pytest

from amqp_helpers import wait_until
from mgmt_helpers import LOGIN_FAILED, NOT_FOUND, Mgmt, enc, eventually, unique, vh

# alice's password "pw" as RabbitMQ 3.10.8 hashed it (captures: 001 and 302).
RABBITMQ_HASH_OF_PW = "H6Q6VamAtptT7nGbb47x0h0fhKmVXXMYtRAslkuQZaYfKzvT"


def connection_named(mgmt, name, **kw):
    """The /api/connections entry whose client_properties.connection_name is `name`."""
    conns = eventually(
        lambda: mgmt.json("/api/connections", **kw),
        lambda cs: any(c["client_properties"].get("connection_name") == name for c in cs),
        what=f"connection {name!r} listed",
    )
    return next(c for c in conns if c["client_properties"].get("connection_name") == name)


def amqp_login(broker, user, password, vhost="/"):
    """True if an AMQP connection opens with these credentials."""
    try:
        conn = broker.connect(vhost=vhost, username=user, password=password)
    except (pika.exceptions.ProbableAuthenticationError, pika.exceptions.ProbableAccessDeniedError,
            pika.exceptions.ConnectionClosedByBroker, pika.exceptions.AMQPConnectionError):
        return False
    conn.close()
    return True


# --- 6. connections, channels, consumers -------------------------------------------------


def test_connection_listing_shows_the_client(mgmt, broker, connect):
    name = unique("conn")
    conn = connect(client_properties={"connection_name": name})
    conn.channel()
    conn.channel()
    c = eventually(lambda: connection_named(mgmt, name), lambda c: c["channels"] == 2, what="2 channels")
    assert c["user"] == "guest" and c["vhost"] == "/"
    assert c["peer_host"] == "127.0.0.1" and c["port"] == broker.port
    assert c["name"] == f"127.0.0.1:{c['peer_port']} -> 127.0.0.1:{broker.port}"
    assert c["user_provided_name"] == name
    assert c["protocol"] == "AMQP 0-9-1" and c["auth_mechanism"] == "PLAIN"
    assert c["client_properties"]["product"] == "Pika Python Client Library"
    assert c["client_properties"]["capabilities"]["publisher_confirms"] is True
    one = mgmt.json(f"/api/connections/{enc(c['name'])}")
    assert one["name"] == c["name"] and one["user_provided_name"] == name
    r = mgmt.get(f"/api/connections/{enc('127.0.0.1:1 -> 127.0.0.1:2')}")
    assert (r.status, r.body) == (404, NOT_FOUND)


def test_connections_and_channels_are_listed_by_vhost_then_name(mgmt, cleanup, broker, connect):
    vhost = cleanup.vhost(unique("order"))
    tags = [unique("c") for _ in range(4)]
    # Opened in turns, so that name (client port) order and vhost order differ.
    for i, tag in enumerate(tags):
        conn = connect(vhost=vhost if i % 2 == 0 else "/", client_properties={"connection_name": tag})
        conn.channel()
    for path in ("/api/connections", "/api/channels"):
        listed = eventually(lambda: mgmt.json(path), lambda xs: sum(x["vhost"] == vhost for x in xs) == 2, what=path)
        keys = [(x["vhost"], x["name"]) for x in listed]
        assert keys == sorted(keys), path


def test_channels_show_prefetch_unacked_and_confirm_mode(mgmt, cleanup, broker, connect):
    q = cleanup.queue("/", unique("chq"))
    name = unique("conn")
    conn = connect(client_properties={"connection_name": name})
    ch = conn.channel()
    ch.basic_qos(prefetch_count=5)
    ch.basic_publish("", q, b"one")
    ch.basic_publish("", q, b"two")
    got = []
    tag = ch.basic_consume(q, lambda c, m, p, b: got.append(m), consumer_tag=unique("ctag"))
    wait_until(conn, lambda: len(got) == 2, what="two deliveries")
    confirming = conn.channel()
    confirming.confirm_delivery()
    cname = connection_named(mgmt, name)["name"]

    def channels():
        return {c["number"]: c for c in mgmt.json(f"/api/connections/{enc(cname)}/channels")}

    chans = eventually(channels, lambda cs: cs[1]["messages_unacknowledged"] == 2 and 2 in cs, what="channel stats")
    first, second = chans[1], chans[2]
    assert first["name"] == f"{cname} (1)"
    assert first["prefetch_count"] == 5 and first["global_prefetch_count"] == 0
    assert first["consumer_count"] == 1 and first["confirm"] is False
    assert first["connection_details"]["name"] == cname
    assert first["user"] == "guest" and first["vhost"] == "/"
    assert second["confirm"] is True and second["messages_unacknowledged"] == 0
    assert {c["name"] for c in mgmt.json("/api/channels")} >= {first["name"], second["name"]}
    assert mgmt.json(f"/api/channels/{enc(first['name'])}")["number"] == 1

    consumers = [c for c in mgmt.json("/api/consumers") if c["consumer_tag"] == tag]
    assert len(consumers) == 1
    c = consumers[0]
    assert c["queue"] == {"name": q, "vhost": "/"}
    assert c["ack_required"] is True and c["prefetch_count"] == 5 and c["exclusive"] is False
    assert c["channel_details"]["connection_name"] == cname
    assert c["channel_details"]["name"] == f"{cname} (1)"
    assert c["channel_details"]["user"] == "guest"
    assert tag in [c["consumer_tag"] for c in mgmt.json("/api/consumers/%2F")]
    for m in got:
        ch.basic_ack(m.delivery_tag)


def test_closing_a_connection_through_the_api(mgmt, broker):
    name = unique("victim")
    conn = broker.connect(client_properties={"connection_name": name})
    try:
        cname = connection_named(mgmt, name)["name"]
        r = mgmt.delete(f"/api/connections/{enc(cname)}", headers={"X-Reason": "maintenance window"})
        assert (r.status, r.raw) == (204, b"")
        with pytest.raises(pika.exceptions.ConnectionClosedByBroker) as info:
            wait_until(conn, lambda: False, timeout=10, what="the broker closing the connection")
        assert (info.value.reply_code, info.value.reply_text) == (320, "CONNECTION_FORCED - maintenance window")
    finally:
        if conn.is_open:
            conn.close()
    eventually(
        lambda: mgmt.get(f"/api/connections/{enc(cname)}").status, lambda s: s == 404, what="connection gone"
    )


def test_closing_without_a_reason_uses_rabbitmqs_default(mgmt, broker):
    name = unique("victim")
    conn = broker.connect(client_properties={"connection_name": name})
    try:
        cname = connection_named(mgmt, name)["name"]
        assert mgmt.delete(f"/api/connections/{enc(cname)}").status == 204
        with pytest.raises(pika.exceptions.ConnectionClosedByBroker) as info:
            wait_until(conn, lambda: False, timeout=10, what="the broker closing the connection")
        assert (info.value.reply_code, info.value.reply_text) == (320, "CONNECTION_FORCED - Closed via management plugin")
    finally:
        if conn.is_open:
            conn.close()


# --- 7. users and permissions ------------------------------------------------------------


def test_user_with_password_can_log_in_over_amqp_and_http(mgmt, cleanup, broker):
    name = unique("u")
    path = cleanup.add(f"/api/users/{name}")
    r = mgmt.put(path, {"password": "s3cret", "tags": "management"})
    assert (r.status, r.raw) == (201, b"")
    assert mgmt.put(path, {"password": "s3cret", "tags": "management"}).status == 204
    u = mgmt.json(path)
    assert sorted(u) == ["hashing_algorithm", "limits", "name", "password_hash", "tags"]
    assert u["name"] == name and u["tags"] == ["management"] and u["limits"] == {}
    assert u["hashing_algorithm"] == "rabbit_password_hashing_sha256" and len(u["password_hash"]) == 48
    assert name in [x["name"] for x in mgmt.json("/api/users")]

    assert not amqp_login(broker, name, "s3cret")  # no permissions in "/" yet
    cleanup.permissions("/", name)
    assert amqp_login(broker, name, "s3cret")
    assert not amqp_login(broker, name, "wrong")
    assert mgmt.get("/api/whoami", user=(name, "s3cret")).status == 200

    # Deleting the user closes its connections.
    conn = broker.connect(username=name, password="s3cret")
    try:
        assert (mgmt.delete(path).status, mgmt.delete(path).body) == (204, NOT_FOUND)
        with pytest.raises(pika.exceptions.ConnectionClosedByBroker) as info:
            wait_until(conn, lambda: False, timeout=10, what="the broker closing the connection")
        assert (info.value.reply_code, info.value.reply_text) == (320, f"CONNECTION_FORCED - user '{name}' is deleted")
    finally:
        if conn.is_open:
            conn.close()
    assert not amqp_login(broker, name, "s3cret")


def test_user_from_a_rabbitmq_password_hash_logs_in(mgmt, cleanup, broker):
    name = unique("hashed")
    cleanup.add(f"/api/users/{name}")
    body = {"password_hash": RABBITMQ_HASH_OF_PW, "hashing_algorithm": "rabbit_password_hashing_sha256", "tags": ""}
    assert mgmt.put(f"/api/users/{name}", body).status == 201
    assert mgmt.json(f"/api/users/{name}")["password_hash"] == RABBITMQ_HASH_OF_PW
    cleanup.permissions("/", name)
    assert amqp_login(broker, name, "pw")
    assert not amqp_login(broker, name, "not-pw")


def test_user_tags_as_list_or_comma_string_and_required(mgmt, cleanup):
    a = cleanup.user(unique("a"), tags="management, monitoring")
    b = unique("b")
    cleanup.add(f"/api/users/{b}")
    assert mgmt.put(f"/api/users/{b}", {"password": "pw", "tags": ["policymaker", "management"]}).status == 201
    assert mgmt.json(f"/api/users/{a}")["tags"] == ["management", "monitoring"]
    assert mgmt.json(f"/api/users/{b}")["tags"] == ["policymaker", "management"]
    r = mgmt.put(f"/api/users/{unique('c')}", {"password": "pw"})
    assert (r.status, r.body) == (400, {"error": "bad_request", "reason": "tags_not_present"})
    r = mgmt.put(f"/api/users/{unique('c')}", {"password": "pw", "password_hash": RABBITMQ_HASH_OF_PW, "tags": ""})
    assert (r.status, r.body) == (400, {"error": "bad_request", "reason": "both_password_and_password_hash_are_provided"})
    # A hash that is not base64 is refused (RabbitMQ's reason is ["not_base64", HASH]).
    for bad in ("!!notbase64", "abc"):
        r = mgmt.put(f"/api/users/{unique('c')}", {"password_hash": bad, "tags": ""})
        assert r.status == 400 and r.body["error"] == "bad_request" and "not_base64" in r.body["reason"], r.body


def test_clearing_a_password_stops_logins(mgmt, cleanup, broker):
    name = cleanup.user(unique("clear"), password="pw", tags="management")
    cleanup.permissions("/", name)
    assert amqp_login(broker, name, "pw")
    # An update without password or password_hash clears the password (RabbitMQ).
    assert mgmt.put(f"/api/users/{name}", {"tags": "management"}).status == 204
    u = mgmt.json(f"/api/users/{name}")
    assert u["password_hash"] == "" and u["tags"] == ["management"]
    assert not amqp_login(broker, name, "pw")
    r = mgmt.get("/api/whoami", user=(name, "pw"))
    assert (r.status, r.body) == (401, LOGIN_FAILED)
    # So does an empty password_hash; a new user without either cannot log in either.
    other = unique("nopw")
    cleanup.add(f"/api/users/{other}")
    assert mgmt.put(f"/api/users/{other}", {"tags": "management"}).status == 201
    assert mgmt.get("/api/whoami", user=(other, "")).status == 401


def test_blank_passwords_never_log_in(mgmt, cleanup, broker):
    name = cleanup.user(unique("blank"), password="", tags="management")
    cleanup.permissions("/", name)
    assert mgmt.get("/api/whoami", user=(name, "")).status == 401
    assert not amqp_login(broker, name, "")


def test_permissions_put_get_delete_and_their_effect_on_amqp(mgmt, cleanup, broker):
    name = cleanup.user(unique("perm"), tags="")
    path = f"/api/permissions/%2F/{name}"
    r = mgmt.put(path, {"configure": "^allowed-", "write": ".*", "read": ".*"})
    assert (r.status, r.raw) == (201, b"")
    assert mgmt.put(path, {"configure": "^allowed-", "write": ".*", "read": ".*"}).status == 204
    assert mgmt.json(path) == {"user": name, "vhost": "/", "configure": "^allowed-", "write": ".*", "read": ".*"}
    assert mgmt.json(f"/api/users/{name}/permissions") == [mgmt.json(path)]
    assert mgmt.json(path) in mgmt.json("/api/vhosts/%2F/permissions")
    assert mgmt.json(path) in mgmt.json("/api/permissions")

    conn = broker.connect(username=name, password="pw")
    try:
        ch = conn.channel()
        forbidden = unique("forbidden")
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as info:
            ch.queue_declare(forbidden)
        assert (info.value.reply_code, info.value.reply_text) == (
            403, f"ACCESS_REFUSED - access to queue '{forbidden}' in vhost '/' refused for user '{name}'")
        ch = conn.channel()
        allowed = "allowed-" + unique("q")
        assert ch.queue_declare(allowed, exclusive=True).method.queue == allowed
    finally:
        if conn.is_open:
            conn.close()

    # Through the API the same permissions apply, with RabbitMQ's terse reason.
    mgmt.ok("PUT", f"/api/users/{name}", {"password": "pw", "tags": "management"})
    r = mgmt.put(f"/api/queues/%2F/{unique('forbidden')}", {}, user=(name, "pw"))
    assert (r.status, r.body) == (401, {"error": "not_authorised", "reason": "Access refused."})
    r = mgmt.put(cleanup.add("/api/queues/%2F/allowed-" + unique("q")), {}, user=(name, "pw"))
    assert r.status == 201
    r = mgmt.put("/api/exchanges/%2F/amq.t-reserved", {"type": "direct"})
    assert (r.status, r.body) == (401, {"error": "not_authorised", "reason": "Access refused."})
    r = mgmt.delete("/api/exchanges/%2F/amq.direct")
    assert (r.status, r.body) == (401, {"error": "not_authorised", "reason": "Access refused."})

    r = mgmt.delete(path)
    assert (r.status, r.raw) == (204, b"")
    r = mgmt.get(path)
    assert (r.status, r.body) == (404, NOT_FOUND)
    assert not amqp_login(broker, name, "pw")


def test_permission_for_missing_user_or_vhost(mgmt):
    body = {"configure": ".*", "write": ".*", "read": ".*"}
    for path in ("/api/permissions/t-no-such-vhost/guest", "/api/permissions/%2F/t-no-such-user",
                 "/api/topic-permissions/%2F/t-no-such-user"):
        r = mgmt.put(path, dict(body, exchange="amq.topic"))
        assert (r.status, r.body) == (400, {"error": "bad_request", "reason": "vhost_or_user_not_found"}), path
    r = mgmt.put("/api/permissions/%2F/guest", {"configure": ".*"})
    assert (r.status, r.body) == (400, {"error": "bad_request", "reason": "[{key_missing,write},{key_missing,read}]"})


def test_topic_permissions_put_and_get(mgmt, cleanup):
    name = cleanup.user(unique("topic"), tags="")
    cleanup.permissions("/", name)
    path = f"/api/topic-permissions/%2F/{name}"
    r = mgmt.put(path, {"exchange": "amq.topic", "write": "^a", "read": ".*"})
    assert (r.status, r.raw) == (201, b"")
    expected = {"user": name, "vhost": "/", "exchange": "amq.topic", "write": "^a", "read": ".*"}
    assert mgmt.json(path) == [expected]
    assert expected in mgmt.json("/api/topic-permissions")
    assert mgmt.json(f"/api/users/{name}/topic-permissions") == [expected]
    assert mgmt.delete(path).status == 204
    assert mgmt.get(path).status == 404


# --- 8. policies -------------------------------------------------------------------------


def test_policy_put_get_and_errors(mgmt, cleanup):
    name = unique("pol")
    path = cleanup.add(f"/api/policies/%2F/{name}")
    body = {"pattern": "^t-nothing$", "definition": {"max-length": 5}, "priority": 3, "apply-to": "queues"}
    r = mgmt.put(path, body)
    assert (r.status, r.raw) == (201, b"")
    assert mgmt.put(path, body).status == 204
    assert mgmt.json(path) == {
        "vhost": "/",
        "name": name,
        "pattern": "^t-nothing$",
        "apply-to": "queues",
        "definition": {"max-length": 5},
        "priority": 3,
    }
    assert mgmt.json(path) in mgmt.json("/api/policies/%2F")
    r = mgmt.put(f"/api/policies/%2F/{unique('bad')}", {"pattern": "x", "definition": {"no-such-key": 1}})
    assert (r.status, r.body) == (400, {
        "error": "bad_request",
        "reason": 'Validation failed\n\n[{&lt;&lt;"no-such-key"&gt;&gt;,1}] are not recognised policy settings\n',
    })
    r = mgmt.put("/api/policies/t-no-such-vhost/p", body)
    assert (r.status, r.body) == (404, {"error": "not_found", "reason": "vhost_not_found"})
    r = mgmt.get("/api/policies/t-no-such-vhost/p")
    assert (r.status, r.body) == (404, NOT_FOUND)
    assert mgmt.delete(path).status == 204
    r = mgmt.delete(path)
    assert (r.status, r.body) == (404, NOT_FOUND)


def test_policy_listing_order_and_who_may_list(mgmt, cleanup):
    vhost = cleanup.vhost(unique("polvh"))
    for name, priority in (("a", 5), ("b", 1), ("c", 3)):
        cleanup.policy(vhost, name, {"pattern": "^t-nothing$", "definition": {"max-length": 1}, "priority": priority})
    # RabbitMQ lists policies by priority.
    assert [p["name"] for p in mgmt.json(f"/api/policies/{vh(vhost)}")] == ["b", "c", "a"]
    # Any management user may list them, in the vhosts it has permissions in; only
    # policymakers may change them.
    user = cleanup.user(unique("mgr"), tags="management")
    assert [p for p in mgmt.json("/api/policies", user=(user, "pw")) if p["vhost"] == vhost] == []
    r = mgmt.get(f"/api/policies/{vh(vhost)}", user=(user, "pw"))
    assert (r.status, r.body) == (401, {"error": "not_authorised", "reason": "User not authorised to access virtual host"})
    cleanup.permissions(vhost, user)
    assert [p["name"] for p in mgmt.json(f"/api/policies/{vh(vhost)}", user=(user, "pw"))] == ["b", "c", "a"]
    r = mgmt.put(f"/api/policies/{vh(vhost)}/d", {"pattern": "x", "definition": {"max-length": 1}}, user=(user, "pw"))
    assert (r.status, r.body) == (401, {"error": "not_authorised", "reason": "User not authorised to access object"})
    r = mgmt.get(f"/api/policies/{vh(vhost)}/a", user=(user, "pw"))
    assert (r.status, r.body) == (401, {"error": "not_authorised", "reason": "User not authorised to access object"})


def test_policy_applies_to_matching_queues_by_priority(mgmt, cleanup):
    prefix = unique("pq")
    q = cleanup.queue("/", f"{prefix}-q", arguments={"x-max-length": 10})
    low = cleanup.policy("/", f"{prefix}-low", {"pattern": f"^{prefix}-", "definition": {"max-length": 5}, "priority": 1})
    queue = eventually(lambda: mgmt.json(f"/api/queues/%2F/{q}"), lambda x: x["policy"] == low, what="policy applied")
    assert queue["effective_policy_definition"] == {"max-length": 5}
    assert queue["operator_policy"] is None
    high = cleanup.policy("/", f"{prefix}-high", {"pattern": f"^{prefix}-q$", "definition": {"max-length": 2}, "priority": 2})
    queue = eventually(lambda: mgmt.json(f"/api/queues/%2F/{q}"), lambda x: x["policy"] == high, what="higher priority")
    assert queue["effective_policy_definition"] == {"max-length": 2}
    # An exchanges-only policy leaves queues alone and shows on exchanges.
    x = cleanup.exchange("/", f"{prefix}-x", type="fanout")
    ex = cleanup.policy(
        "/", f"{prefix}-ex", {"pattern": f"^{prefix}-", "definition": {"alternate-exchange": "amq.fanout"},
                              "priority": 9, "apply-to": "exchanges"})
    assert eventually(lambda: mgmt.json(f"/api/exchanges/%2F/{x}"), lambda e: e.get("policy") == ex)["policy"] == ex
    assert mgmt.json(f"/api/queues/%2F/{q}")["policy"] == high
    mgmt.delete(f"/api/policies/%2F/{high}")
    eventually(lambda: mgmt.json(f"/api/queues/%2F/{q}"), lambda x: x["policy"] == low, what="back to the low one")


def test_policies_survive_a_restart(restartable_broker):
    b = restartable_broker
    api = Mgmt(b.mgmt_url)
    api.ok("PUT", "/api/vhosts/v1")
    body = {"pattern": "^keep", "definition": {"max-length": 3}, "priority": 4, "apply-to": "queues"}
    assert api.put("/api/policies/v1/survivor", body).status == 201
    api.ok("PUT", "/api/queues/v1/keep-me", {"durable": True})
    b.restart()
    api = Mgmt(b.mgmt_url)
    assert api.json("/api/policies/v1/survivor") == {"vhost": "v1", "name": "survivor", "pattern": "^keep",
                                                     "apply-to": "queues", "definition": {"max-length": 3}, "priority": 4}
    q = api.json("/api/queues/v1/keep-me")
    assert q["policy"] == "survivor" and q["effective_policy_definition"] == {"max-length": 3}
    assert api.delete("/api/policies/v1/survivor").status == 204
    b.restart()
    api = Mgmt(b.mgmt_url)
    assert api.get("/api/policies/v1/survivor").status == 404
    assert api.json("/api/queues/v1/keep-me")["policy"] is None
