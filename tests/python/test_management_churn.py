"""Churn in the overview and nodes: connections, channels and queues opened, declared and
closed. Exact counts, so on a broker of this module's own when WARREN_BIN is set (other
modules' clients would move them); against an external broker, run it alone."""

import pytest

from mgmt_helpers import Mgmt, eventually, unique


def test_churn_rates_count_connections_channels_and_queues(private_broker):
    broker = private_broker
    if broker.mgmt_url is None:
        pytest.skip("no management port known (MGMT_PORT for an external broker)")
    mgmt = Mgmt(broker.mgmt_url)
    keys = (
        "connection_created",
        "connection_closed",
        "channel_created",
        "channel_closed",
        "queue_declared",
        "queue_created",
        "queue_deleted",
    )

    def churn():
        return mgmt.json("/api/overview")["churn_rates"]

    before = churn()
    conn = broker.connect()
    first, second = conn.channel(), conn.channel()
    q = unique("churn")
    first.queue_declare(q)
    first.queue_declare(q)  # declared again: not created again
    first.queue_delete(q)
    second.close()
    conn.close()
    want = {
        "connection_created": 1,
        "connection_closed": 1,
        "channel_created": 2,
        "channel_closed": 2,
        "queue_declared": 2,
        "queue_created": 1,
        "queue_deleted": 1,
    }

    def delta(now):
        return {k: now[k] - before[k] for k in keys}

    after = eventually(churn, lambda now: delta(now) == want, what="churn_rates")
    assert "rate" in after["queue_created_details"]
    node = mgmt.json("/api/nodes")[0]
    assert node["connection_created"] >= after["connection_created"]
