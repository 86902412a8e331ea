"""Compaction: a slow queue that keeps a few old persistent messages does not pin whole
segments. Once the fast queue is drained, sparse segments are rewritten smaller, and the
messages left in them are still served, intact and in order, after a restart."""

import os
import time

import pika
import pytest

from conftest import RestartableBroker, WarrenProcess

SEGMENT = 1 << 20
BODY = 1024
N = 6000
EVERY = 20  # every 20th message also goes to the slow queue


def store_bytes(data_dir):
    msgs = os.path.join(data_dir, "msgs")
    return sum(os.path.getsize(os.path.join(msgs, f)) for f in os.listdir(msgs))


def body(i):
    return f"{i:06d}".encode().ljust(BODY, b"x")


@pytest.fixture
def broker(tmp_path):
    binary = os.environ.get("WARREN_BIN")
    if not binary:
        pytest.skip("needs WARREN_BIN: the test restarts the broker and reads its data dir")
    data = tmp_path / "data"
    data.mkdir()
    b = RestartableBroker("127.0.0.1", 0, process=WarrenProcess(
        binary, data, tmp_path / "warren.log", extra_args=["--segment-size", str(SEGMENT)]))
    b.start()
    yield b, str(data)
    b.stop()


def test_sparse_segments_shrink_and_their_messages_survive_restart(broker):
    b, data = broker
    conn = b.connect()
    ch = conn.channel()
    ch.confirm_delivery()
    ch.exchange_declare("cx", "direct", durable=True)
    for q in ("fast", "slow"):
        ch.queue_declare(q, durable=True)
    ch.queue_bind("fast", "cx", "one")
    ch.queue_bind("fast", "cx", "both")
    ch.queue_bind("slow", "cx", "both")
    persistent = pika.BasicProperties(delivery_mode=2)
    for i in range(N):
        ch.basic_publish("cx", "both" if i % EVERY == 0 else "one", body(i), persistent)
    full = store_bytes(data)
    drained = 0
    while ch.basic_get("fast", auto_ack=True)[0] is not None:
        drained += 1
    assert drained == N
    # The compactor looks once a second; the slow queue holds 1/20 of the messages.
    deadline = time.time() + 10
    while time.time() < deadline and store_bytes(data) > full / 3:
        time.sleep(0.2)
    after = store_bytes(data)
    assert after <= full / 3, f"store still {after} bytes of {full} after the fast queue drained"
    conn.close()

    b.restart()
    conn = b.connect()
    ch = conn.channel()
    got = []
    while True:
        method, _, payload = ch.basic_get("slow", auto_ack=True)
        if method is None:
            break
        got.append(payload)
    assert got == [body(i) for i in range(0, N, EVERY)]
    conn.close()
