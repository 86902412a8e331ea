"""Vhost limits (`max-connections`, `max-queues`) as RabbitMQ 3.10 sets, lists, enforces and
clears them through the management API. Written against RabbitMQ 3.10.8 first
(AMQP_PORT=5680 MGMT_PORT=15680 against a private node); /work/notes/issue13/limits.md has
what it answered."""

import pika
import pika.exceptions
import pytest

from mgmt_helpers import Mgmt, unique


@pytest.fixture
def vhost(broker, mgmt, request):
    name = unique("lim")
    mgmt.ok("PUT", f"/api/vhosts/{name}", {})
    mgmt.ok("PUT", f"/api/permissions/{name}/guest", {"configure": ".*", "write": ".*", "read": ".*"})
    yield name
    mgmt.request("DELETE", f"/api/vhosts/{name}")


def connect(broker, vhost):
    return pika.BlockingConnection(pika.ConnectionParameters(
        host=broker.host, port=broker.port, virtual_host=vhost, connection_attempts=1))


def test_limits_are_set_listed_and_cleared(mgmt, vhost):
    assert mgmt.request("PUT", f"/api/vhost-limits/{vhost}/max-connections", {"value": 1}).status == 204
    assert mgmt.request("PUT", f"/api/vhost-limits/{vhost}/max-queues", {"value": 1}).status == 204
    expected = [{"vhost": vhost, "value": {"max-queues": 1, "max-connections": 1}}]
    assert mgmt.json(f"/api/vhost-limits/{vhost}") == expected
    assert [e for e in mgmt.json("/api/vhost-limits") if e["vhost"] == vhost] == expected
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
