"""Definitions through the management API: the export's shape, export -> import into a fresh
Warren -> export again, RabbitMQ's own export imported into Warren (what is applied, what is
reported), per-vhost export and import, and round trips with a real RabbitMQ node
(`rabbitmq` marker: Debian's rabbitmq-server, installed when missing).
"""

import copy
import json
import os

import pika
import pytest

from mgmt_helpers import Mgmt, eventually, unique

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "crates", "model", "tests", "fixtures")
PRODUCT_KEYS = ("rabbitmq_version", "product_name", "product_version")
# RabbitMQ writes these global parameters in every export; they describe the node.
NODE_LOCAL = ("internal_cluster_id", "cluster_name")


def load_fixture(name):
    with open(os.path.join(FIXTURES, name)) as f:
        return json.load(f)


def amqp_login(host, port, user, password, vhost="/"):
    params = pika.ConnectionParameters(host=host, port=port, virtual_host=vhost,
                                       credentials=pika.PlainCredentials(user, password),
                                       connection_attempts=1, socket_timeout=10)
    try:
        conn = pika.BlockingConnection(params)
    except pika.exceptions.AMQPError:
        return False
    conn.close()
    return True


def populate(api, broker):
    """A bit of everything definitions carry, in vhost "rt" and "/"."""
    api.ok("PUT", "/api/vhosts/rt", {"description": "round trip", "tags": "x"})
    api.ok("PUT", "/api/users/rt-admin", {"password": "admin-pw", "tags": "administrator"})
    api.ok("PUT", "/api/users/rt-app", {"password": "app-pw", "tags": ["management", "monitoring"]})
    api.ok("PUT", "/api/permissions/rt/rt-app", {"configure": "^rt-", "write": ".*", "read": ".*"})
    api.ok("PUT", "/api/permissions/rt/rt-admin", {"configure": ".*", "write": ".*", "read": ".*"})
    api.ok("PUT", "/api/topic-permissions/rt/rt-app", {"exchange": "amq.topic", "write": "^a", "read": ".*"})
    api.ok("PUT", "/api/policies/rt/rt-pol", {"pattern": "^rt-q", "definition": {"max-length": 7},
                                             "priority": 2, "apply-to": "queues"})
    api.ok("PUT", "/api/queues/rt/rt-q1", {"durable": True, "arguments": {"x-max-length": 10, "x-message-ttl": 60000}})
    api.ok("PUT", "/api/queues/rt/rt-q2", {"durable": False, "auto_delete": True})
    api.ok("PUT", "/api/exchanges/rt/rt-x", {"type": "topic", "durable": True,
                                             "arguments": {"alternate-exchange": "rt-ae"}})
    api.ok("PUT", "/api/exchanges/rt/rt-ae", {"type": "fanout", "durable": True, "internal": True})
    api.ok("POST", "/api/bindings/rt/e/rt-x/q/rt-q1", {"routing_key": "a.#"})
    api.ok("POST", "/api/bindings/rt/e/rt-x/q/rt-q1", {"routing_key": "b", "arguments": {"x-k": "v"}})
    api.ok("POST", "/api/bindings/rt/e/rt-x/e/rt-ae", {"routing_key": ""})
    api.ok("POST", "/api/bindings/rt/e/amq.direct/q/rt-q2", {"routing_key": "d"})
    api.ok("PUT", "/api/queues/%2F/rt-root-q", {"durable": True})
    api.ok("PUT", "/api/user-limits/rt-app/max-channels", {"value": 50}, expect=(204,))
    api.ok("PUT", "/api/vhost-limits/rt/max-queues", {"value": 100}, expect=(204,))


def without_product(defs):
    d = copy.deepcopy(defs)
    for k in PRODUCT_KEYS:
        d.pop(k, None)
    d["global_parameters"] = [p for p in d.get("global_parameters", []) if p["name"] not in NODE_LOCAL]
    return d


def by_key(items, *keys):
    return sorted(items, key=lambda i: tuple(json.dumps(i.get(k), sort_keys=True) for k in keys))


def comparable(defs):
    """Sections as sets (order and product fields aside)."""
    d = without_product(defs)
    for section, keys in (("users", ("name",)), ("vhosts", ("name",)), ("permissions", ("vhost", "user")),
                          ("topic_permissions", ("vhost", "user", "exchange")), ("policies", ("vhost", "name")),
                          ("parameters", ("vhost", "component", "name")),
                          ("queues", ("vhost", "name")), ("exchanges", ("vhost", "name")),
                          ("bindings", ("vhost", "source", "destination", "routing_key", "arguments"))):
        if section in d:
            d[section] = by_key(d[section], *keys)
    return d


# --- 9. definitions ----------------------------------------------------------------------


def test_export_shape(broker_factory):
    b = broker_factory()
    api = Mgmt(b.mgmt_url)
    populate(api, b)
    conn = b.connect()
    conn.channel().queue_declare("", exclusive=True)
    r = api.get("/api/definitions")
    assert r.status == 200 and r.headers["content-type"].startswith("application/json")
    d = r.body
    assert list(d) == ["rabbit_version", "rabbitmq_version", "product_name", "product_version", "users", "vhosts",
                       "permissions", "topic_permissions", "parameters", "global_parameters", "policies",
                       "queues", "exchanges", "bindings"]
    assert d["rabbit_version"] == "3.10.8"
    app = next(u for u in d["users"] if u["name"] == "rt-app")
    assert list(app) == ["name", "password_hash", "hashing_algorithm", "tags", "limits"]
    assert app["hashing_algorithm"] == "rabbit_password_hashing_sha256" and app["tags"] == ["management", "monitoring"]
    assert app["limits"] == {"max-channels": 50}
    assert next(u for u in d["users"] if u["name"] == "rt-admin")["limits"] == {}
    assert d["parameters"] == [{"value": {"max-queues": 100}, "vhost": "rt", "component": "vhost-limits",
                                "name": "limits"}]
    assert {"name": "rt"} in d["vhosts"] and {"name": "/"} in d["vhosts"]
    assert {"user": "rt-app", "vhost": "rt", "configure": "^rt-", "write": ".*", "read": ".*"} in d["permissions"]
    assert {"user": "rt-app", "vhost": "rt", "exchange": "amq.topic", "write": "^a", "read": ".*"} in d["topic_permissions"]
    assert {"vhost": "rt", "name": "rt-pol", "pattern": "^rt-q", "apply-to": "queues",
            "definition": {"max-length": 7}, "priority": 2} in d["policies"]
    q1 = next(q for q in d["queues"] if q["name"] == "rt-q1")
    assert q1 == {"name": "rt-q1", "vhost": "rt", "durable": True, "auto_delete": False,
                  "arguments": {"x-max-length": 10, "x-message-ttl": 60000}}
    # Exclusive queues and the predeclared exchanges are not part of definitions.
    assert all(not q["name"].startswith("amq.gen-") for q in d["queues"])
    assert all(x["name"] and not x["name"].startswith("amq.") for x in d["exchanges"])
    x = next(x for x in d["exchanges"] if x["name"] == "rt-x")
    assert x == {"name": "rt-x", "vhost": "rt", "type": "topic", "durable": True, "auto_delete": False,
                 "internal": False, "arguments": {"alternate-exchange": "rt-ae"}}
    assert {"source": "rt-x", "vhost": "rt", "destination": "rt-q1", "destination_type": "queue",
            "routing_key": "b", "arguments": {"x-k": "v"}} in d["bindings"]
    assert all("properties_key" not in b for b in d["bindings"])
    assert all(b["source"] for b in d["bindings"])  # no default-exchange bindings
    conn.close()


def test_export_import_into_a_fresh_warren_and_export_again(broker_factory):
    one = broker_factory()
    populate(Mgmt(one.mgmt_url), one)
    exported = Mgmt(one.mgmt_url).json("/api/definitions")

    two = broker_factory()
    api2 = Mgmt(two.mgmt_url)
    r = api2.post("/api/definitions", exported)
    assert (r.status, r.raw) == (204, b"")
    again = api2.json("/api/definitions")
    assert comparable(again) == comparable(exported)
    # Imported users log in with their old passwords, over AMQP and HTTP.
    assert amqp_login(two.host, two.port, "rt-app", "app-pw", vhost="rt")
    assert not amqp_login(two.host, two.port, "rt-app", "wrong", vhost="rt")
    assert api2.get("/api/whoami", user=("rt-admin", "admin-pw")).status == 200
    # The objects work: a message published to rt-x reaches rt-q1 through the imported binding.
    conn = two.connect(vhost="rt", username="rt-admin", password="admin-pw")
    ch = conn.channel()
    ch.basic_publish("rt-x", "a.b", b"via import")
    assert ch.basic_get("rt-q1", auto_ack=True)[2] == b"via import"
    conn.close()
    assert api2.json("/api/queues/rt/rt-q1")["policy"] == "rt-pol"
    # Importing the same again changes nothing.
    assert api2.post("/api/definitions", exported).status == 204
    assert comparable(api2.json("/api/definitions")) == comparable(exported)


def test_import_rabbitmqs_export_applies_what_warren_supports(broker_factory):
    b = broker_factory()
    api = Mgmt(b.mgmt_url)
    defs = load_fixture("rabbitmq-3.10.8-definitions.json")
    r = api.post("/api/definitions", defs)
    assert r.status == 400 and r.body["error"] == "bad_request"
    reason = r.body["reason"]
    # Every item not applied is named.
    for text in ("'operator_policy'", "'pol-op'", "global parameter 'pol-gp'", "queue 'pol-qq'",
                 "quorum"):
        assert text in reason, text
    assert "internal_cluster_id" not in reason
    # User and vhost limits are applied, not reported.
    assert "vhost-limits" not in reason and "user 'pol-user'" not in reason
    assert api.json("/api/user-limits/pol-user") == [
        {"user": "pol-user", "value": {"max-channels": 20, "max-connections": 10}}]
    assert api.json("/api/vhost-limits/pol-v1") == [
        {"vhost": "pol-v1", "value": {"max-connections": 100, "max-queues": 50}}]
    # What Warren supports was applied.
    assert {"pol-v1", "pol-v2"} <= {v["name"] for v in api.json("/api/vhosts")}
    assert amqp_login(b.host, b.port, "pol-user", "pol-secret", vhost="pol-v1")
    assert api.json("/api/permissions/pol-v1/pol-user") == {
        "user": "pol-user", "vhost": "pol-v1", "configure": "^pol-", "write": ".*", "read": ""}
    q1 = api.json("/api/queues/pol-v1/pol-q1")
    assert q1["durable"] is True and q1["arguments"] == {"x-max-length": 10, "x-queue-type": "classic"}
    assert q1["policy"] == "pol-p1" and q1["effective_policy_definition"] == {"max-length": 5, "overflow": "reject-publish"}
    assert api.json("/api/exchanges/pol-v1/pol-x")["policy"] == "pol-p2"
    assert api.json("/api/exchanges/pol-v1/pol-int")["internal"] is True
    keys = {(b["source"], b["destination"], b["routing_key"]) for b in api.json("/api/bindings/pol-v1")}
    assert {("amq.direct", "pol-q1", "d"), ("pol-x", "pol-int", ""), ("pol-x", "pol-q1", "a.#")} <= keys
    # The password-less user exists and cannot log in.
    assert api.json("/api/users/pol-nohash")["password_hash"] == ""


def test_per_vhost_export_and_import(broker_factory):
    b = broker_factory()
    api = Mgmt(b.mgmt_url)
    populate(api, b)
    d = api.json("/api/definitions/rt")
    assert list(d) == ["rabbit_version", "parameters", "policies", "queues", "exchanges", "bindings"]
    assert all("vhost" not in item for section in ("policies", "queues", "exchanges", "bindings") for item in d[section])
    assert {q["name"] for q in d["queues"]} == {"rt-q1", "rt-q2"}

    api.ok("PUT", "/api/vhosts/rt-copy")
    r = api.post("/api/definitions/rt-copy", d)
    assert (r.status, r.raw) == (204, b"")
    copied = api.json("/api/definitions/rt-copy")
    # The vhost limits parameter names its vhost even here, and lands in the one imported into.
    assert d["parameters"] == [{"value": {"max-queues": 100}, "vhost": "rt", "component": "vhost-limits",
                                "name": "limits"}]
    assert copied["parameters"] == [dict(d["parameters"][0], vhost="rt-copy")]
    assert comparable(dict(copied, parameters=[])) == comparable(dict(d, parameters=[]))
    assert api.json("/api/queues/rt-copy/rt-q1")["policy"] == "rt-pol"
    r = api.get("/api/definitions/t-no-such-vhost")
    assert r.status == 404
    r = api.post("/api/definitions/t-no-such-vhost", d)
    assert r.status == 404


def test_definitions_are_for_administrators(mgmt, cleanup):
    name = cleanup.user(unique("mon"), tags="monitoring")
    for method, path in (("GET", "/api/definitions"), ("POST", "/api/definitions"), ("GET", "/api/definitions/%2F")):
        r = mgmt.request(method, path, {} if method == "POST" else None, user=(name, "pw"))
        assert (r.status, r.body) == (401, {"error": "not_authorised", "reason": "Not administrator user"}), path


def test_import_of_malformed_definitions(mgmt):
    r = mgmt.post("/api/definitions", raw_body=b"{not json")
    assert (r.status, r.body) == (400, {"error": "bad_request", "reason": "failed_to_parse_json"})
    r = mgmt.post("/api/definitions", raw_body=b"[1, 2]")
    assert r.status == 400


# --- 10. round trips with RabbitMQ ---------------------------------------------------------


@pytest.fixture(scope="module")
def rabbitmq():
    """A private RabbitMQ 3.10 node with management (skipped only if it cannot be installed)."""
    import rabbitmq_node

    node = rabbitmq_node.RabbitMQNode()
    try:
        node.start()
    except rabbitmq_node.Unavailable as e:
        pytest.skip(f"no RabbitMQ for the round trip: {e}")
    yield node
    node.stop()


@pytest.mark.rabbitmq
@pytest.mark.timeout(120)
def test_warren_export_imports_into_rabbitmq_and_back(broker_factory, rabbitmq):
    w = broker_factory()
    wapi = Mgmt(w.mgmt_url)
    populate(wapi, w)
    exported = wapi.json("/api/definitions")

    rapi = Mgmt(rabbitmq.mgmt_url)
    r = rapi.post("/api/definitions", exported)
    assert (r.status, r.raw) == (204, b""), r.body
    # Users log in to RabbitMQ with the passwords they had in Warren.
    assert amqp_login("127.0.0.1", rabbitmq.amqp_port, "rt-app", "app-pw", vhost="rt")
    assert rapi.get("/api/whoami", user=("rt-admin", "admin-pw")).status == 200
    # RabbitMQ holds the same definitions.
    from_rabbit = rapi.json("/api/definitions")
    ours, theirs = comparable(exported), comparable(from_rabbit)
    for section in ("users", "permissions", "topic_permissions", "parameters", "policies", "queues", "exchanges",
                    "bindings"):
        assert theirs[section] == ours[section], section
    assert {v["name"] for v in theirs["vhosts"]} == {v["name"] for v in ours["vhosts"]}

    # And back: RabbitMQ's export imports cleanly into a fresh Warren.
    rapi.ok("PUT", "/api/users/rt-rabbit", {"password": "rabbit-pw", "tags": "management"})
    rapi.ok("PUT", "/api/permissions/rt/rt-rabbit", {"configure": ".*", "write": ".*", "read": ".*"})
    from_rabbit = rapi.json("/api/definitions")
    w2 = broker_factory()
    w2api = Mgmt(w2.mgmt_url)
    r = w2api.post("/api/definitions", from_rabbit)
    assert (r.status, r.raw) == (204, b""), r.body
    assert amqp_login(w2.host, w2.port, "rt-rabbit", "rabbit-pw", vhost="rt")
    assert amqp_login(w2.host, w2.port, "rt-app", "app-pw", vhost="rt")
    back = comparable(w2api.json("/api/definitions"))
    for section in ("users", "permissions", "topic_permissions", "parameters", "policies", "queues", "exchanges",
                    "bindings"):
        assert back[section] == comparable(from_rabbit)[section], section
    assert w2api.json("/api/queues/rt/rt-q1")["policy"] == "rt-pol"
