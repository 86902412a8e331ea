"""Health checks and bulk operations of the management API, as RabbitMQ 3.10 answers them:
protocol listener, quorum and mirror-sync criticality, certificate expiration, bulk user
deletion, a user's connections."""

import pika
import pika.exceptions
import pytest

from amqp_helpers import wait_until
from mgmt_helpers import eventually, unique


def test_protocol_listener_check(mgmt):
    assert mgmt.json("/api/health/checks/protocol-listener/amqp") == {"status": "ok", "protocol": "amqp"}
    assert mgmt.json("/api/health/checks/protocol-listener/amqp091")["protocol"] == "amqp"
    r = mgmt.get("/api/health/checks/protocol-listener/mqtt")
    assert r.status == 503
    assert (r.body["status"], r.body["reason"], r.body["missing"]) == ("failed", "No active listener", "mqtt")


def test_single_node_is_never_quorum_or_sync_critical(mgmt):
    for check in ("node-is-quorum-critical", "node-is-mirror-sync-critical"):
        assert mgmt.json(f"/api/health/checks/{check}") == {"status": "ok", "reason": "single node cluster"}


def test_certificate_expiration_check(mgmt):
    assert mgmt.json("/api/health/checks/certificate-expiration/1/months") == {"status": "ok"}
    r = mgmt.get("/api/health/checks/certificate-expiration/1/bogus")
    assert (r.status, r.body["reason"]) == (
        400,
        "Time unit not recognised. Supported units: days, weeks, months, years.",
    )


def test_bulk_delete_deletes_in_order_and_stops_at_an_unknown_name(mgmt):
    a, b, c = unique("bulk"), unique("bulk"), unique("bulk")
    for name in (a, b, c):
        mgmt.ok("PUT", f"/api/users/{name}", {"password": "pw", "tags": ""})
    r = mgmt.post("/api/users/bulk-delete", {"users": [a, "t-nobody-at-all", b]})
    assert (r.status, r.body) == (400, {"error": "bad_request", "reason": ["no_such_user", "t-nobody-at-all"]})
    assert [mgmt.get(f"/api/users/{n}").status for n in (a, b)] == [404, 200]
    assert mgmt.post("/api/users/bulk-delete", {"users": [b, c]}).status == 204
    assert [mgmt.get(f"/api/users/{n}").status for n in (b, c)] == [404, 404]


def test_a_users_connections_are_listed_and_closed_together(broker, mgmt):
    user = unique("conns")
    mgmt.ok("PUT", f"/api/users/{user}", {"password": "pw", "tags": ""})
    mgmt.ok("PUT", f"/api/permissions/%2F/{user}", {"configure": ".*", "write": ".*", "read": ".*"})
    conns = [pika.BlockingConnection(broker.params(username=user, password="pw")) for _ in range(2)]
    try:
        listed = mgmt.json(f"/api/connections/username/{user}")
        assert len(listed) == 2 and {c["user"] for c in listed} == {user}
        r = mgmt.delete(f"/api/connections/username/{user}", headers={"X-Reason": "maintenance"})
        assert r.status == 204
        for c in conns:
            with pytest.raises(pika.exceptions.ConnectionClosedByBroker) as closed:
                wait_until(c, lambda: False, timeout=5, what="the broker closing the connection")
            assert closed.value.reply_code == 320
            assert closed.value.reply_text == "CONNECTION_FORCED - maintenance"
        # The registry forgets a connection once its task has finished closing it.
        left = eventually(lambda: mgmt.json(f"/api/connections/username/{user}"), lambda v: v == [], what="no connections")
        assert left == []
    finally:
        for c in conns:
            if c.is_open:
                c.close()
        mgmt.delete(f"/api/users/{user}")
