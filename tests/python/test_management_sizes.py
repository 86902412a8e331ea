"""Queue sizes in the management API: `messages_ready`, `message_bytes_ready`,
`message_bytes_ram` and `memory` follow what the queue holds, as in RabbitMQ's queue
objects (which report the queue process's memory; Warren reports the messages it holds in
memory plus its own structures)."""

import pika

from mgmt_helpers import unique, vh


def test_byte_counts_and_memory_follow_the_messages_a_queue_holds(broker, mgmt, cleanup):
    q = unique("sizes")
    cleanup.queue("/", q, durable=False)
    empty = mgmt.json(f"/api/queues/{vh('/')}/{q}")
    assert (empty["message_bytes_ready"], empty["message_bytes_ram"]) == (0, 0)

    conn = broker.connect()
    ch = conn.channel()
    body = b"x" * 10_000
    for _ in range(20):
        ch.basic_publish("", q, body)
    conn.close()
    full = mgmt.json(f"/api/queues/{vh('/')}/{q}")
    assert full["messages_ready"] == 20
    # Each message counts its body and its (small) exchange, routing key and properties.
    assert 20 * 10_000 <= full["message_bytes_ready"] < 20 * 10_200
    assert full["message_bytes_ram"] == full["message_bytes_ready"]
    assert full["memory"] >= full["message_bytes_ram"] > empty["memory"]

    mgmt.ok("DELETE", f"/api/queues/{vh('/')}/{q}/contents")
    purged = mgmt.json(f"/api/queues/{vh('/')}/{q}")
    assert (purged["message_bytes_ready"], purged["memory"]) == (0, empty["memory"])
