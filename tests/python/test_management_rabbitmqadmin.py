"""rabbitmqadmin (RabbitMQ's own CLI for the management API) against the broker: declare,
publish, get, list with columns and formats, delete, export and import, asserting its stdout
as it prints it for RabbitMQ 3.10.8. Skipped when rabbitmqadmin is not installed.
"""

import json
import shutil
import subprocess
import urllib.parse

import pytest

from mgmt_helpers import eventually, unique

RABBITMQADMIN = shutil.which("rabbitmqadmin") or "/usr/bin/rabbitmqadmin"


@pytest.fixture
def admin(mgmt):
    if not shutil.which(RABBITMQADMIN):
        pytest.skip("rabbitmqadmin is not installed (Debian's rabbitmq-server ships it)")
    host, port = urllib.parse.urlsplit(mgmt.base_url).netloc.split(":")

    def run(*args, ok=True):
        cmd = [RABBITMQADMIN, "-H", host, "-P", port, "-u", "guest", "-p", "guest", *args]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        if ok:
            assert r.returncode == 0, f"{args}: rc {r.returncode}\n{r.stdout}\n{r.stderr}"
        return r

    return run


def table(*rows):
    """rabbitmqadmin's table: columns as wide as their widest cell, headers centred."""
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    line = "+" + "+".join("-" * (w + 2) for w in widths) + "+"
    head = "|" + "|".join(" " + str(c).center(w) + " " for c, w in zip(rows[0], widths)) + "|"
    body = ["|" + "|".join(" " + str(c).ljust(w) + " " for c, w in zip(r, widths)) + "|" for r in rows[1:]]
    return "\n".join([line, head, line, *body, line]) + "\n"


def test_declare_publish_get_list_delete(admin, mgmt):
    vhost = unique("adm")
    try:
        assert admin("declare", "vhost", f"name={vhost}").stdout == "vhost declared\n"
        assert admin("declare", "queue", f"--vhost={vhost}", "name=q1", "durable=true").stdout == "queue declared\n"
        assert admin("declare", "queue", f"--vhost={vhost}", "name=q2", "durable=false").stdout == "queue declared\n"
        assert admin("declare", "exchange", f"--vhost={vhost}", "name=x1", "type=topic").stdout == "exchange declared\n"
        r = admin("declare", "binding", f"--vhost={vhost}", "source=x1", "destination=q1", "routing_key=a.#")
        assert r.stdout == "binding declared\n"
        r = admin("publish", f"--vhost={vhost}", "exchange=x1", "routing_key=a.b", "payload=hello")
        assert r.stdout == "Message published\n"
        r = admin("publish", f"--vhost={vhost}", "exchange=x1", "routing_key=zzz", "payload=lost")
        assert r.stdout == "Message published but NOT routed\n"

        r = admin("get", f"--vhost={vhost}", "queue=q1", "ackmode=ack_requeue_true")
        assert r.stdout == table(
            ("routing_key", "exchange", "message_count", "payload", "payload_bytes", "payload_encoding", "properties",
             "redelivered"),
            ("a.b", "x1", 0, "hello", 5, "string", "", "False"),
        )
        # Requeued: still there, now redelivered.
        r = admin("-f", "raw_json", "get", f"--vhost={vhost}", "queue=q1", "ackmode=ack_requeue_false")
        got = json.loads(r.stdout)
        assert [(m["payload"], m["redelivered"]) for m in got] == [("hello", True)]

        expected = table(("name", "messages", "durable"), ("q1", 0, "True"), ("q2", 0, "False"))
        r = eventually(lambda: admin("list", "queues", f"--vhost={vhost}", "name", "messages", "durable"),
                       lambda r: r.stdout == expected, what="queue statistics")
        assert r.stdout == expected
        r = admin("-V", vhost, "list", "bindings")
        assert r.stdout == table(("source", "destination", "routing_key"), ("", "q1", "q1"), ("", "q2", "q2"),
                                 ("x1", "q1", "a.#"))
        r = admin("-f", "tsv", "-V", vhost, "list", "exchanges", "name", "type")
        lines = r.stdout.splitlines()
        assert lines[0] == "name\ttype"
        assert "\tdirect" in lines and "x1\ttopic" in lines and "amq.topic\ttopic" in lines
        r = admin("-f", "long", "list", "vhosts", "name")
        assert f"name: {vhost}" in r.stdout

        assert admin("delete", "binding", f"--vhost={vhost}", "source=x1", "destination=q1",
                     "destination_type=queue", "properties_key=a.%23").stdout == "binding deleted\n"
        assert admin("delete", "exchange", f"--vhost={vhost}", "name=x1").stdout == "exchange deleted\n"
        assert admin("delete", "queue", f"--vhost={vhost}", "name=q2").stdout == "queue deleted\n"
        assert admin("purge", "queue", f"--vhost={vhost}", "name=q1").stdout == "queue purged\n"
        expected = table(("name", "messages"), ("q1", 0))
        r = eventually(lambda: admin("list", "queues", f"--vhost={vhost}", "name", "messages"),
                       lambda r: r.stdout == expected, what="q2 gone")
        assert r.stdout == expected
        r = admin("delete", "queue", f"--vhost={vhost}", "name=q2", ok=False)
        assert (r.returncode, r.stderr) == (1, f"*** Not found: /api/queues/{vhost}/q2\n\n")
    finally:
        admin("delete", "vhost", f"name={vhost}", ok=False)
    assert mgmt.get(f"/api/vhosts/{vhost}").status == 404


def test_users_and_permissions(admin, mgmt):
    user = unique("admu")
    try:
        assert admin("declare", "user", f"name={user}", "password=pw", "tags=monitoring").stdout == "user declared\n"
        r = admin("declare", "permission", "vhost=/", f"user={user}", "configure=", "write=.*", "read=.*")
        assert r.stdout == "permission declared\n"
        r = admin("-f", "tsv", "list", "users", "name", "tags")
        assert f"{user}\tmonitoring" in r.stdout.splitlines()
        r = admin("-f", "tsv", "list", "permissions", "vhost", "user", "configure", "write", "read")
        assert f"/\t{user}\t\t.*\t.*" in r.stdout.splitlines()
        r = subprocess.run([RABBITMQADMIN, "-H", urllib.parse.urlsplit(mgmt.base_url).hostname,
                            "-P", str(urllib.parse.urlsplit(mgmt.base_url).port), "-u", user, "-p", "pw",
                            "list", "users"], capture_output=True, text=True, timeout=30)
        assert (r.returncode, r.stderr) == (1, "*** Access refused: /api/users\n\n")
    finally:
        admin("delete", "user", f"name={user}", ok=False)


def test_export_and_import(admin, mgmt, tmp_path):
    vhost = unique("admx")
    path = tmp_path / "defs.json"
    try:
        admin("declare", "vhost", f"name={vhost}")
        admin("declare", "queue", f"--vhost={vhost}", "name=kept", "durable=true")
        admin("declare", "exchange", f"--vhost={vhost}", "name=xk", "type=fanout", "durable=true")
        admin("declare", "binding", f"--vhost={vhost}", "source=xk", "destination=kept")
        r = admin("export", str(path))
        assert r.stdout.startswith("Exported definitions for ")
        defs = json.loads(path.read_text())
        assert {"name": "kept", "vhost": vhost, "durable": True, "auto_delete": False, "arguments": {}} in defs["queues"]

        admin("delete", "queue", f"--vhost={vhost}", "name=kept")
        admin("delete", "exchange", f"--vhost={vhost}", "name=xk")
        r = admin("import", str(path))
        assert r.stdout.startswith("Uploaded definitions from ")
        assert mgmt.json(f"/api/queues/{vhost}/kept")["durable"] is True
        assert [b["destination"] for b in mgmt.json(f"/api/exchanges/{vhost}/xk/bindings/source")] == ["kept"]
    finally:
        admin("delete", "vhost", f"name={vhost}", ok=False)
