"""What the management API changes is journaled like an AMQP declare: users (with their
password and tags), vhosts (with their metadata), permissions, topic permissions, durable
exchanges, queues and bindings survive a restart, and deletions stay deleted."""

import pika
import pytest

from mgmt_helpers import Mgmt


def snapshot(api):
    """The metadata a restart must keep, as the API lists it."""
    return {
        "users": api.json("/api/users"),
        "vhosts": [
            {k: v[k] for k in ("name", "description", "tags", "default_queue_type")}
            for v in api.json("/api/vhosts")
        ],
        "permissions": api.json("/api/permissions"),
        "topic": api.json("/api/topic-permissions"),
        "exchanges": [
            {k: x[k] for k in ("vhost", "name", "type", "durable", "arguments")}
            for x in api.json("/api/exchanges/keep")
        ],
        "queues": [
            {k: q[k] for k in ("vhost", "name", "durable", "arguments")}
            for q in api.json("/api/queues/keep")
        ],
        "bindings": api.json("/api/bindings/keep"),
    }


def test_api_changes_survive_a_restart_and_deletions_stay_deleted(restartable_broker):
    b = restartable_broker
    api = Mgmt(b.mgmt_url)
    api.ok("PUT", "/api/vhosts/keep", {"description": "kept", "tags": "a,b"})
    api.ok("PUT", "/api/vhosts/gone")
    api.ok("PUT", "/api/users/kate", {"password": "kate-pw", "tags": "management"})
    api.ok("PUT", "/api/users/temp", {"password": "x", "tags": ""})
    api.ok("PUT", "/api/permissions/keep/kate", {"configure": "^k", "write": ".*", "read": ".*"})
    api.ok("PUT", "/api/topic-permissions/keep/kate", {"exchange": "amq.topic", "write": "^k", "read": ".*"})
    api.ok("PUT", "/api/exchanges/keep/kx", {"type": "topic", "durable": True, "arguments": {"alternate-exchange": "amq.fanout"}})
    api.ok("PUT", "/api/queues/keep/kq", {"durable": True, "arguments": {"x-max-length": 5}})
    api.ok("PUT", "/api/queues/keep/transient", {"durable": False})
    api.ok("POST", "/api/bindings/keep/e/kx/q/kq", {"routing_key": "k.#", "arguments": {"x": 1}})
    api.ok("DELETE", "/api/vhosts/gone")
    api.ok("DELETE", "/api/users/temp")
    before = snapshot(api)
    assert [q["name"] for q in before["queues"]] == ["kq", "transient"]

    b.restart()
    api = Mgmt(b.mgmt_url)
    after = snapshot(api)
    # A non-durable queue goes with the restart, and its (default-exchange) binding with it.
    before["queues"] = [q for q in before["queues"] if q["name"] != "transient"]
    before["bindings"] = [x for x in before["bindings"] if x["destination"] != "transient"]
    assert after == before
    assert api.get("/api/vhosts/gone").status == 404
    assert api.get("/api/users/temp").status == 404
    # The user logs in over AMQP with the password set through the API.
    conn = pika.BlockingConnection(b.params(vhost="keep", username="kate", password="kate-pw"))
    conn.close()
