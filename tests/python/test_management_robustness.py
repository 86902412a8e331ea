"""Bad input to the management API: malformed and non-object JSON, wrong types, huge and deeply
nested bodies, unknown paths and methods, odd names. Each answer is checked, and after each
the broker must still answer both the API and AMQP.

Where RabbitMQ 3.10.8 answers a clean 4xx, Warren must answer the same. For much of this input
RabbitMQ itself answers 500 with an empty body (bindings POST with a non-object body, bodies over
20 MiB, unparseable queue arguments) or accepts it (a `null` body, 100k-deep objects as queue
arguments, invalid UTF-8 queue names); there these tests hold Warren to a 4xx that says why.
"""

import socket
import urllib.parse

import pytest

from mgmt_helpers import NOT_FOUND, NOT_JSON, Mgmt, unique


@pytest.fixture
def healthy(mgmt, broker):
    """Checks after the test that the broker still serves the API and AMQP clients."""
    yield
    mgmt.alive()
    r = mgmt.get("/api/aliveness-test/%2F")
    assert (r.status, r.body) == (200, {"status": "ok"})
    conn = broker.connect()
    conn.channel().queue_declare("", exclusive=True)
    conn.close()


def queue_path(name):
    return f"/api/queues/%2F/{urllib.parse.quote(name, safe='')}"


@pytest.mark.parametrize("raw", [b"{bad", b"[1,2]", b'"a string"', b"42", b"null", b"\xff\xfe{}"])
def test_malformed_or_non_object_json_is_not_json(mgmt, cleanup, healthy, raw):
    name = unique("q")
    for path in (queue_path(name), f"/api/exchanges/%2F/{name}", f"/api/vhosts/{name}", f"/api/users/{name}"):
        cleanup.add(path)  # in case a broker accepts the body
    for method, path in (("PUT", queue_path(name)), ("PUT", f"/api/exchanges/%2F/{name}"),
                         ("PUT", f"/api/vhosts/{name}"), ("PUT", f"/api/users/{name}"),
                         ("POST", "/api/exchanges/%2F/amq.default/publish"), ("POST", f"/api/bindings/%2F/e/amq.direct/q/{name}")):
        r = mgmt.request(method, path, raw_body=raw)
        if raw == b'"a string"' and method == "PUT" and "/queues/" in path:
            # RabbitMQ has its own text for a doubly encoded body; a 400 either way.
            assert r.status == 400
            continue
        if "/bindings/" in path:
            assert r.status in (400, 404), path  # the queue does not exist either
            continue
        assert (r.status, r.body) == (400, NOT_JSON), (method, path)
    assert mgmt.get(queue_path(name)).status == 404


@pytest.mark.parametrize(
    "body",
    [
        {"durable": "yes"},
        {"auto_delete": 1},
        {"arguments": "x-max-length=1"},
        {"arguments": {"x-max-length": "ten"}},
        {"arguments": {"x-queue-type": "no-such-type"}},
    ],
)
def test_wrong_types_are_bad_requests(mgmt, cleanup, healthy, body):
    name = unique("q")
    cleanup.add(queue_path(name))
    r = mgmt.put(queue_path(name), body)
    assert r.status == 400 and r.body["error"] == "bad_request", r.body
    assert mgmt.get(queue_path(name)).status == 404


def test_wrong_types_elsewhere(mgmt, cleanup, healthy):
    x = unique("x")
    cleanup.add(f"/api/exchanges/%2F/{x}")
    r = mgmt.put(f"/api/exchanges/%2F/{x}", {"type": "no-such-type"})
    assert r.status in (400, 404) and mgmt.get(f"/api/exchanges/%2F/{x}").status == 404
    r = mgmt.put(f"/api/users/{unique('u')}", {"password": 5, "tags": ""})
    assert r.status == 400
    r = mgmt.put("/api/permissions/%2F/guest", {"configure": "(", "write": ".*", "read": ".*"})
    assert r.status == 400
    assert mgmt.json("/api/permissions/%2F/guest")["configure"] == ".*"
    q = cleanup.queue("/", unique("get"))
    r = mgmt.post(f"{queue_path(q)}/get", {"count": "many", "ackmode": "ack_requeue_true", "encoding": "auto"})
    assert r.status == 400
    r = mgmt.post("/api/exchanges/%2F/amq.default/publish",
                  {"properties": {"delivery_mode": "x"}, "routing_key": q, "payload": "x", "payload_encoding": "string"})
    assert r.status == 400
    r = mgmt.post("/api/exchanges/%2F/amq.default/publish",
                  {"properties": {}, "routing_key": q, "payload": "!!!", "payload_encoding": "base64"})
    assert r.status == 400
    assert mgmt.json(queue_path(q))["messages"] == 0


def test_queue_names_longer_than_255_bytes_are_refused(mgmt, cleanup, healthy):
    name = "t-" + "a" * 298
    cleanup.add(queue_path(name))
    r = mgmt.put(queue_path(name), {})
    assert (r.status, r.body) == (400, {"error": "bad_request", "reason": "queue should be less than 255 bytes, actually was 300\n"})
    assert mgmt.get(queue_path(name)).status == 404


def test_huge_body_is_413_and_the_broker_keeps_serving(mgmt, broker, cleanup, healthy):
    """Bodies beyond 20 MiB (RabbitMQ's default max) are refused without being kept in memory."""
    size = 21 << 20
    host, port = urllib.parse.urlsplit(mgmt.base_url).netloc.split(":")
    head = (
        f"PUT /api/queues/%2F/{unique('huge')} HTTP/1.1\r\nHost: {host}\r\n"
        "Authorization: Basic Z3Vlc3Q6Z3Vlc3Q=\r\ncontent-type: application/json\r\n"
        f"Content-Length: {size}\r\nConnection: close\r\n\r\n"
    ).encode()
    chunk = b" " * (1 << 20)
    cleanup.add(head.split(b" ")[1].decode())
    with socket.create_connection((host, int(port)), timeout=30) as s:
        s.sendall(head + b'{"a":"')
        try:
            for _ in range(size // len(chunk)):
                s.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed before the end: fine
        response = b""
        try:
            while True:
                data = s.recv(65536)
                if not data:
                    break
                response += data
        except ConnectionResetError:
            pass
    assert response.startswith(b"HTTP/1.1 413"), response[:200]


def test_deeply_nested_json_is_refused_without_a_crash(mgmt, cleanup, healthy):
    depth = 100_000
    for raw in (b"[" * depth + b"]" * depth, b'{"arguments":' + b'{"a":' * depth + b"1" + b"}" * depth + b"}"):
        r = mgmt.put(cleanup.add(queue_path(unique("deep"))), raw_body=raw)
        assert (r.status, r.body) == (400, NOT_JSON)
        r = mgmt.post("/api/definitions", raw_body=raw)
        assert r.status == 400


def test_unknown_paths_are_object_not_found(mgmt, healthy):
    for path in ("/api/nosuchthing", "/api/queues/%2F/q/nosuchthing", "/api/bindings/%2F/x/a/q/b",
                 "/api/nodes/t-no-such-node"):
        r = mgmt.get(path)
        assert (r.status, r.body) == (404, NOT_FOUND), path
    r = mgmt.get("/api/queues/t-no-such-vhost")
    assert (r.status, r.body) == (404, NOT_FOUND)


@pytest.mark.parametrize("method,path", [("POST", "/api/overview"), ("PUT", "/api/queues"),
                                         ("DELETE", "/api/nodes"), ("POST", "/api/queues/%2F/q1/bindings")])
def test_methods_a_resource_does_not_have_are_405(mgmt, healthy, method, path):
    r = mgmt.request(method, path, {} if method != "DELETE" else None)
    assert r.status == 405, (r.status, r.body)
    assert r.raw == b""
    assert "GET" in r.headers.get("allow", "")


def test_invalid_utf8_and_odd_names(mgmt, cleanup, healthy, connect):
    r = mgmt.put(cleanup.add("/api/queues/%2F/t-%FF%FE"), {})
    assert 400 <= r.status < 500
    assert all("\ufffd" not in q["name"] for q in mgmt.json("/api/queues/%2F"))
    # Names with spaces, slashes, percent signs and non-ASCII letters work, URL-encoded.
    for name in ("t- spaced name", "t-a/b", "t-100%", "t-ünïcødé-名前"):
        cleanup.queue("/", name)
        assert mgmt.json(queue_path(name))["name"] == name
        ch = connect().channel()
        assert ch.queue_declare(name, passive=True).method.queue == name
    r = mgmt.get("/api/queues/%2F/t-x%00y")
    assert (r.status, r.body) == (404, NOT_FOUND)


def test_bad_credentials_headers(mgmt, healthy):
    for value in ("Basic !!!notbase64", "Basic " + "QQ==", "Bearer abc", "Basic", "Basic " + "A" * 10000):
        r = mgmt.get("/api/overview", user=None, headers={"authorization": value})
        assert r.status == 401, value


def test_bad_pagination_parameters(mgmt, healthy):
    r = mgmt.get("/api/queues?page=abc")
    assert (r.status, r.body) == (400, {"error": "bad_request", "reason": "Pagination parameters are invalid"})
    r = mgmt.get("/api/queues?page=1&page_size=-1")
    assert (r.status, r.body) == (400, {
        "error": "invalid_pagination_parameters",
        "reason": "Invalid pagination parameters: page number 1, page size -1"})
    r = mgmt.get("/api/queues?page=1&page_size=2&name=(&use_regex=true")
    assert r.status in (400, 500)


def test_changes_sent_from_another_site_are_refused(mgmt, cleanup, healthy):
    """Cross-site request forgery: a browser that logged in through its Basic dialog would
    send those credentials with a form another site posts. A change marked as coming from
    another site (its Origin, or Sec-Fetch-Site) is refused with 403 and changes nothing;
    reads, same-origin changes and clients that send neither header (rabbitmqadmin, curl)
    are not affected. (Warren's own guard: RabbitMQ relies on CORS settings.)"""
    name = unique("csrf")
    path = f"/api/vhosts/{name}"
    cleanup.add(path)
    host = mgmt.base_url.split("://", 1)[1].rstrip("/")
    for foreign in ({"origin": "http://evil.example"}, {"origin": "null"},
                    {"sec-fetch-site": "cross-site"}, {"origin": f"http://{host}.evil.example"}):
        r = mgmt.request("PUT", path, {}, headers=foreign)
        assert r.status == 403, (foreign, r)
        assert r.body == {"error": "forbidden", "reason": "cross-site request refused"}
        assert mgmt.request("GET", path).status == 404, f"{foreign} created the vhost"
    # Reading from another site is not refused (the browser keeps the answer from it).
    assert mgmt.request("GET", "/api/overview", headers={"origin": "http://evil.example"}).status == 200
    # The same origin, or no origin at all, changes things as before.
    r = mgmt.request("PUT", path, {}, headers={"origin": f"http://{host}", "sec-fetch-site": "same-origin"})
    assert r.status in (201, 204), r
    assert mgmt.request("DELETE", path).status == 204
    assert mgmt.request("PUT", path, {}).status in (201, 204)


def test_an_address_that_keeps_failing_http_logins_is_slowed_and_no_other(tmp_path):
    """A brake like that of AMQP logins for the management API (Warren's own: RabbitMQ has
    none), counted per address and user name: the guesser waits, other addresses and the
    other users of the same address (a proxy, the operator's browser) do not, and their
    successes do not clear it. A Warren of its own: other tests' logins stay fast."""
    import base64
    import http.client
    import time

    from conftest import own_warren

    proc, host, _port = own_warren(tmp_path, why="counts failed logins per address")
    try:
        api = Mgmt(f"http://{host}:{proc.mgmt_port}")
        api.ok("PUT", "/api/users/t-other", {"password": "other-pw", "tags": "management"})

        def attempt(source, user, password):
            conn = http.client.HTTPConnection(host, proc.mgmt_port, timeout=30,
                                              source_address=(source, 0))
            token = base64.b64encode(f"{user}:{password}".encode()).decode()
            started = time.monotonic()
            conn.request("GET", "/api/whoami", headers={"Authorization": f"Basic {token}"})
            status = conn.getresponse().status
            conn.close()
            return status, time.monotonic() - started

        guesser, other = "127.0.0.3", "127.0.0.4"
        for _ in range(3):
            status, took = attempt(guesser, "guest", "wrong")
            assert status == 401 and took < 0.08, took
        waits = [attempt(guesser, "guest", "wrong") for _ in range(3)]
        assert all(status == 401 for status, _ in waits)
        assert waits[1][1] >= 0.1 and waits[2][1] >= 0.2, waits
        # Another address is answered at once, right or wrong.
        assert attempt(other, "guest", "wrong")[1] < 0.08
        status, took = attempt(other, "guest", "guest")
        assert status == 200 and took < 0.08, took
        # Another user from the guesser's address is not slowed, and its success clears
        # nothing: the guesser still waits.
        status, took = attempt(guesser, "t-other", "other-pw")
        assert status == 200 and took < 0.08, took
        assert attempt(guesser, "guest", "wrong")[1] >= 0.4
        # The right password still waits its turn, then clears the brake.
        status, took = attempt(guesser, "guest", "guest")
        assert status == 200 and took >= 0.1, took
        status, took = attempt(guesser, "guest", "wrong")
        assert status == 401 and took < 0.08, took
        # One address trying a new name each time (spraying) is slowed after 50 failures.
        sprayer = "127.0.0.5"
        for n in range(51):
            assert attempt(sprayer, f"t-name-{n}", "pw")[0] == 401
        status, took = attempt(sprayer, "t-name-x", "pw")
        assert status == 401 and took >= 0.1, took
    finally:
        proc.stop()
