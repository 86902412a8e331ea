"""A queue keeps only the head of its backlog in memory (`--queue-memory-bytes`, here 64 KiB);
the rest lives in the store's segments from the start and is read back for consumers, in
order. A lazy queue (x-queue-mode or policy queue-mode "lazy") keeps none. What is in
memory shows in the management API as RabbitMQ names it (`message_bytes_ram`,
`messages_paged_out`). A Warren of this module's own."""


import glob
import os

import pika
import pytest

from amqp_helpers import get_all
from conftest import own_warren
from mgmt_helpers import Mgmt, eventually

HEAD_BYTES = 64 * 1024
DATA_DIRS = []  # the module's broker's data directory
BODY = 1024


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    proc, host, port = own_warren(tmp_path_factory.mktemp("warren-queue-memory"),
                                  ["--queue-memory-bytes", str(HEAD_BYTES)], why="sets a small queue head")
    DATA_DIRS.append(proc.data_dir)
    yield host, port, Mgmt(f"http://{host}:{proc.mgmt_port}")
    proc.stop()


def publish(ch, q, n, **props):
    ch.confirm_delivery()
    for i in range(n):
        ch.basic_publish("", q, b"%06d" % i + b"x" * (BODY - 6), pika.BasicProperties(**props))


def test_a_long_backlog_keeps_only_its_head_in_memory(broker):
    host, port, api = broker
    conn = pika.BlockingConnection(pika.ConnectionParameters(host=host, port=port))
    ch = conn.channel()
    ch.queue_declare("long")
    publish(ch, "long", 2000)
    info = eventually(lambda: api.json("/api/queues/%2F/long"), lambda v: v["messages_ready"] == 2000,
                      what="2000 ready")
    # The head stays in memory (up to the cap and one message past it), the rest is on disk.
    assert info["message_bytes_ram"] <= HEAD_BYTES + BODY
    assert info["messages_paged_out"] >= 2000 - (HEAD_BYTES // BODY + 1)
    assert info["message_bytes_ready"] == 2000 * BODY
    bodies = get_all(ch, "long")
    assert [b[:6] for b in bodies] == [b"%06d" % i for i in range(2000)]
    conn.close()


def test_a_lazy_queue_keeps_no_backlog_in_memory(broker):
    host, port, api = broker
    conn = pika.BlockingConnection(pika.ConnectionParameters(host=host, port=port))
    ch = conn.channel()
    ch.queue_declare("lazy", arguments={"x-queue-mode": "lazy"})
    publish(ch, "lazy", 300, priority=0)
    info = eventually(lambda: api.json("/api/queues/%2F/lazy"), lambda v: v["messages_ready"] == 300,
                      what="300 ready")
    assert info["message_bytes_ram"] <= BODY
    assert info["messages_paged_out"] >= 299
    got = []
    ch.basic_qos(prefetch_count=50)
    for method, _, body in ch.consume("lazy", inactivity_timeout=10):
        assert method is not None, f"stopped after {len(got)}"
        got.append(body[:6])
        ch.basic_ack(method.delivery_tag)
        if len(got) == 300:
            break
    assert got == [b"%06d" % i for i in range(300)]
    conn.close()


def evict_from_page_cache(data_dir):
    """Write the store's segment files out and drop them from the page cache, as if they
    had been written long ago: reads of them must now go to the disk."""
    for path in glob.glob(os.path.join(data_dir, "msgs", "*.seg")):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def test_a_backlog_no_longer_in_the_page_cache_is_read_from_disk_in_order(broker):
    """Records still in the page cache are read on the connection's own thread; once evicted
    they are read on the blocking pool. Either way the consumer gets every message, in order."""
    host, port, api = broker
    conn = pika.BlockingConnection(pika.ConnectionParameters(host=host, port=port))
    ch = conn.channel()
    ch.queue_declare("cold")
    publish(ch, "cold", 3000)
    eventually(lambda: api.json("/api/queues/%2F/cold"), lambda v: v["messages_paged_out"] >= 2900,
               what="the backlog on disk")
    evict_from_page_cache(DATA_DIRS[-1])
    got = []
    ch.basic_qos(prefetch_count=200)
    for method, _, body in ch.consume("cold", inactivity_timeout=10):
        assert method is not None, f"stopped after {len(got)}"
        got.append(body[:6])
        if len(got) % 100 == 0:
            ch.basic_ack(method.delivery_tag, multiple=True)
        if len(got) == 3000:
            break
    assert got == [b"%06d" % i for i in range(3000)]
    conn.close()
