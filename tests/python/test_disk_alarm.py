"""Disk alarm: when free space on the data directory's disk falls below the limit, a
publishing connection gets connection.blocked ("low on disk") and is not read until space
returns, then connection.unblocked; consumers keep working meanwhile.

The data directory sits on a small tmpfs of its own, so the test controls free space exactly
by writing and deleting a file there (mounting needs root, which the test machines have)."""

import os
import subprocess
import time

import pika
import pytest

from conftest import Broker, WarrenProcess

TMPFS_SIZE = 96 * 1024 * 1024
LIMIT = 48 * 1000 * 1000
FILLER = 64 * 1024 * 1024


@pytest.fixture
def small_disk(tmp_path):
    mount = tmp_path / "disk"
    mount.mkdir()
    r = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={TMPFS_SIZE}", "tmpfs", str(mount)],
        capture_output=True, text=True,
    )
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs for the data directory: {r.stderr.strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], capture_output=True)


@pytest.fixture
def alarm_broker(small_disk, tmp_path):
    binary = os.environ.get("WARREN_BIN")
    if not binary:
        pytest.skip("needs WARREN_BIN: the broker's disk must be one the test controls")
    data = small_disk / "data"
    data.mkdir()
    proc = WarrenProcess(binary, data, tmp_path / "warren.log",
                         extra_args=["--disk-free-limit", str(LIMIT)])
    host, port = proc.start()
    yield Broker(host, port, process=proc), small_disk
    proc.stop()


def wait_for(conn, events, what, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if what in [e[0] for e in events]:
            return
        conn.process_data_events(time_limit=0.1)
    raise AssertionError(f"no {what} within {timeout}s; got {events}")


def test_low_disk_blocks_publishers_until_space_returns(alarm_broker):
    broker, disk = alarm_broker
    events = []
    pub = broker.connect()
    pub.add_on_connection_blocked_callback(lambda c, m: events.append(("blocked", m.method.reason)))
    pub.add_on_connection_unblocked_callback(lambda c, m: events.append(("unblocked", None)))
    pch = pub.channel()
    pch.queue_declare("alarm.q")
    pch.basic_publish("", "alarm.q", b"before")
    pub.process_data_events(time_limit=0.5)
    assert events == [], "blocked although the disk has room"

    filler = disk / "filler"
    with open(filler, "wb") as f:
        f.write(b"\0" * FILLER)
    # The monitor checks every second; a publish makes the connection blocked.
    deadline = time.time() + 10
    while time.time() < deadline and not events:
        pch.basic_publish("", "alarm.q", b"during")
        pub.process_data_events(time_limit=0.3)
    assert events and events[0] == ("blocked", "low on disk"), events

    # Other connections (consumers) keep working while publishers are blocked.
    con = broker.connect()
    cch = con.channel()
    method, _, body = cch.basic_get("alarm.q", auto_ack=True)
    assert body == b"before"

    os.remove(filler)
    wait_for(pub, events, "unblocked")
    pch.basic_publish("", "alarm.q", b"after")
    pub.process_data_events(time_limit=0.2)
    deadline = time.time() + 5
    seen = []
    while time.time() < deadline and b"after" not in seen:
        m = cch.basic_get("alarm.q", auto_ack=True)
        if m[0] is None:
            con.process_data_events(time_limit=0.1)
        else:
            seen.append(m[2])
    assert b"after" in seen, f"publishing did not resume after unblock: {seen}"
    con.close()
    pub.close()
