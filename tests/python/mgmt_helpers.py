"""A small client for the management HTTP API (standard library only), and helpers the
management tests share.

    api = Mgmt("http://127.0.0.1:15672")
    r = api.get("/api/queues/%2F/q1")          # Response(status, headers, body)
    r.status, r.headers["content-type"], r.body  # body: parsed JSON, or bytes if not JSON
    api.put(f"/api/queues/{vh('/')}/q1", {"durable": True}, user=("alice", "pw"))

Requests never raise on HTTP errors: tests assert on status codes.
"""

import base64
import collections
import json
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

import pytest

Response = collections.namedtuple("Response", "status headers body raw")

NOT_FOUND = {"error": "Object Not Found", "reason": "Not Found"}
NOT_JSON = {"error": "bad_request", "reason": "not_json"}
LOGIN_FAILED = {"error": "not_authorized", "reason": "Login failed"}
REALM = 'Basic realm="RabbitMQ Management"'


def not_authorised(reason):
    return {"error": "not_authorised", "reason": reason}


def vh(name):
    """A vhost (or any name) as one URL path component: "/" -> "%2F"."""
    return urllib.parse.quote(name, safe="")


enc = vh


def unique(label="x"):
    """A unique name, prefixed "t-" (the prefix used for objects created on shared nodes)."""
    return f"t-{label}-{uuid.uuid4().hex[:8]}"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


_opener = urllib.request.build_opener(_NoRedirect)


class Mgmt:
    """Authenticated requests to a management API; guest/guest unless told otherwise."""

    def __init__(self, base_url, user=("guest", "guest"), timeout=30):
        self.base_url = base_url.rstrip("/")
        self.user = user
        self.timeout = timeout

    def as_user(self, name, password):
        return Mgmt(self.base_url, (name, password), self.timeout)

    def request(self, method, path, body=None, user=..., headers=None, raw_body=None, timeout=None):
        """`body` is sent as JSON; `raw_body` (bytes) as is; `user=None` sends no credentials."""
        user = self.user if user is ... else user
        hdrs = {}
        data = None
        if raw_body is not None:
            data = raw_body
            hdrs["content-type"] = "application/json"
        elif body is not None:
            data = json.dumps(body).encode()
            hdrs["content-type"] = "application/json"
        if user is not None:
            token = base64.b64encode(f"{user[0]}:{user[1]}".encode()).decode()
            hdrs["authorization"] = f"Basic {token}"
        hdrs.update(headers or {})
        req = urllib.request.Request(self.base_url + path, data=data, method=method, headers=hdrs)
        try:
            resp = _opener.open(req, timeout=timeout or self.timeout)
        except urllib.error.HTTPError as e:
            resp = e
        with resp:
            raw = resp.read()
            status = resp.status if hasattr(resp, "status") else resp.code
            headers_ = {k.lower(): v for k, v in resp.headers.items()}
        body_ = raw
        if raw and headers_.get("content-type", "").startswith("application/json"):
            body_ = json.loads(raw)
        return Response(status, headers_, body_, raw)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def put(self, path, body=None, **kw):
        return self.request("PUT", path, body, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    def ok(self, method, path, body=None, expect=(200, 201, 204), **kw):
        """A request that must succeed; returns the parsed body."""
        r = self.request(method, path, body, **kw)
        assert r.status in expect, f"{method} {path} -> {r.status} {r.body!r}"
        return r.body

    def json(self, path, **kw):
        return self.ok("GET", path, expect=(200,), **kw)

    def alive(self):
        """The broker still answers: aliveness of "/" through the API."""
        r = self.get("/api/overview", timeout=10)
        assert r.status == 200, f"broker no longer answers: {r.status} {r.body!r}"
        assert "rabbitmq_version" in r.body


def eventually(fetch, check, timeout=15.0, interval=0.2, what="condition"):
    """Call fetch() until check(value) holds (RabbitMQ's statistics lag by up to 5 s;
    Warren's do not); returns the last value, fails with it after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = fetch()
        try:
            if check(value):
                return value
        except (KeyError, TypeError, IndexError):
            pass
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}; last value: {value!r}")
        time.sleep(interval)


def skip_without_mgmt(broker):
    if broker.mgmt_url is None:
        pytest.skip("no management API: set WARREN_BIN, or MGMT_PORT next to AMQP_PORT")


class Cleanup:
    """Objects created through the API, deleted at teardown (users, vhosts, policies, queues,
    exchanges) in reverse order; missing ones are fine."""

    def __init__(self, api):
        self.api = api
        self.paths = []

    def add(self, path):
        self.paths.append(path)
        return path

    def user(self, name, password="pw", tags="", **extra):
        body = {"password": password, "tags": tags, **extra}
        self.api.ok("PUT", self.add(f"/api/users/{enc(name)}"), body)
        return name

    def vhost(self, name, **body):
        self.api.ok("PUT", self.add(f"/api/vhosts/{enc(name)}"), body or None)
        return name

    def queue(self, vhost, name, **body):
        self.api.ok("PUT", self.add(f"/api/queues/{vh(vhost)}/{enc(name)}"), body or None)
        return name

    def exchange(self, vhost, name, type="direct", **body):
        self.api.ok("PUT", self.add(f"/api/exchanges/{vh(vhost)}/{enc(name)}"), {"type": type, **body})
        return name

    def policy(self, vhost, name, body):
        self.api.ok("PUT", self.add(f"/api/policies/{vh(vhost)}/{enc(name)}"), body)
        return name

    def permissions(self, vhost, user, configure=".*", write=".*", read=".*"):
        self.api.ok(
            "PUT",
            f"/api/permissions/{vh(vhost)}/{enc(user)}",
            {"configure": configure, "write": write, "read": read},
        )

    def run(self):
        for path in reversed(self.paths):
            try:
                self.api.delete(path, timeout=10)
            except Exception:
                pass
        self.paths.clear()
