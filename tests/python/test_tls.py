"""AMQPS as RabbitMQ configures it (`listeners.ssl.*`, `ssl_options.*` in rabbitmq.conf):
pika over TLS against a PKI the test makes with openssl (tls_helpers.py). The server's
certificate is checked by the client; with `verify_peer` the client's by the server, and
with `fail_if_no_peer_cert` a client without one is turned away, as is one whose
certificate another CA signed. A server certificate that expired fails the client's check.
SIGHUP reloads the certificates for new connections. Warrens of this module's own."""

import os
import re
import signal
import socket
import subprocess
import ssl
import time
import urllib.parse

import pika
import pika.exceptions
import pytest

from conftest import own_warren
from mgmt_helpers import Mgmt
from tls_helpers import key, make_pki, pem


# How a failed TLS handshake reaches a pika user: pika re-raises the ssl module's error, or
# reports the connection lost when the server's alert comes after the client's handshake
# (a refused client certificate under TLS 1.3).
REFUSED = (pika.exceptions.AMQPConnectionError, ssl.SSLError, ConnectionError)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("pki"))


def conf(pki, cert="server", verify_peer=False, fail_if_no_peer_cert=False):
    return "\n".join([
        "listeners.ssl.default = 127.0.0.1:0",
        f"ssl_options.certfile = {pem(pki[cert])}",
        f"ssl_options.keyfile = {key(pki[cert])}",
        f"ssl_options.cacertfile = {pem(pki['ca'])}",
        f"ssl_options.verify = {'verify_peer' if verify_peer else 'verify_none'}",
        f"ssl_options.fail_if_no_peer_cert = {'true' if fail_if_no_peer_cert else 'false'}",
        "",
    ])


def start(tmp_path, text):
    proc, _host, port = own_warren(tmp_path, [], conf=text, why="listens for AMQPS")
    assert proc.amqps_port, "no 'listening amqps' line"
    proc.amqp_port = port
    return proc


def client_context(pki, client=None, ca="ca"):
    ctx = ssl.create_default_context(cafile=pem(pki[ca]))
    if client:
        ctx.load_cert_chain(pem(pki[client]), key(pki[client]))
    return ctx


def connect(proc, ctx, server_hostname="localhost"):
    params = pika.ConnectionParameters(
        host="127.0.0.1", port=proc.amqps_port,
        ssl_options=pika.SSLOptions(ctx, server_hostname),
        connection_attempts=1, socket_timeout=5, blocked_connection_timeout=5)
    return pika.BlockingConnection(params)


def round_trip(conn, n=200, size=50_000):
    """Publish with confirms and consume back, bodies big enough to span TLS records."""
    ch = conn.channel()
    ch.confirm_delivery()
    q = ch.queue_declare("", exclusive=True).method.queue
    bodies = [os.urandom(size) for _ in range(n)]
    for b in bodies:
        ch.basic_publish("", q, b)
    got = []
    for method, _props, body in ch.consume(q, inactivity_timeout=10):
        assert method is not None, f"stopped after {len(got)}"
        got.append(body)
        ch.basic_ack(method.delivery_tag)
        if len(got) == n:
            break
    assert got == bodies


def test_amqps_carries_messages_and_plain_amqp_still_works(pki, tmp_path):
    proc = start(tmp_path, conf(pki))
    try:
        conn = connect(proc, client_context(pki))
        round_trip(conn)
        conn.close()
        # The plain listener is unaffected.
        plain = pika.BlockingConnection(pika.ConnectionParameters(host="127.0.0.1", port=proc.amqp_port))
        plain.channel().queue_declare("", exclusive=True)
        plain.close()
        # Plain AMQP and garbage on the TLS port are dropped without harm.
        for junk in (b"AMQP\x00\x00\x09\x01", b"\x16\x03\x01\xff\xff" + b"x" * 100, os.urandom(4096)):
            with socket.create_connection(("127.0.0.1", proc.amqps_port), timeout=5) as s:
                s.sendall(junk)
                s.settimeout(5)
                try:
                    while s.recv(4096):
                        pass
                except ConnectionResetError:
                    pass
        conn = connect(proc, client_context(pki))
        conn.channel().queue_declare("", exclusive=True)
        conn.close()
        # The management API lists the listener as RabbitMQ does, and its health check finds it.
        api = Mgmt(f"http://127.0.0.1:{proc.mgmt_port}")
        listeners = api.json("/api/overview")["listeners"]
        assert {"protocol": "amqp/ssl", "port": proc.amqps_port} in [
            {"protocol": entry["protocol"], "port": entry["port"]} for entry in listeners]
        assert api.get("/api/health/checks/protocol-listener/amqps").status == 200
    finally:
        proc.stop()


def test_a_client_checks_the_server_certificate(pki, tmp_path):
    proc = start(tmp_path, conf(pki))
    try:
        # Trusting another CA only: the server's certificate does not verify.
        with pytest.raises(REFUSED):
            connect(proc, client_context(pki, ca="other_ca"))
        # The name must match too.
        with pytest.raises(REFUSED):
            connect(proc, client_context(pki), server_hostname="not-this-host")
    finally:
        proc.stop()


def test_an_expired_server_certificate_fails_the_clients_check(pki, tmp_path):
    proc = start(tmp_path, conf(pki, cert="expired"))
    try:
        with pytest.raises(ssl.SSLCertVerificationError, match="expired"):
            connect(proc, client_context(pki))
    finally:
        proc.stop()


def test_verify_peer_with_fail_if_no_peer_cert_needs_a_certificate_from_the_ca(pki, tmp_path):
    proc = start(tmp_path, conf(pki, verify_peer=True, fail_if_no_peer_cert=True))
    try:
        conn = connect(proc, client_context(pki, client="client"))
        round_trip(conn, n=20, size=1000)
        conn.close()
        with pytest.raises(REFUSED):
            connect(proc, client_context(pki))
        with pytest.raises(REFUSED):
            connect(proc, client_context(pki, client="other_client"))
        # Refused clients never reached the broker: the listener still serves.
        connect(proc, client_context(pki, client="client")).close()
    finally:
        proc.stop()


def test_verify_peer_without_fail_if_no_peer_cert_lets_clients_without_one_in(pki, tmp_path):
    proc = start(tmp_path, conf(pki, verify_peer=True, fail_if_no_peer_cert=False))
    try:
        connect(proc, client_context(pki)).close()
        connect(proc, client_context(pki, client="client")).close()
        # A certificate that does not verify is still refused.
        with pytest.raises(REFUSED):
            connect(proc, client_context(pki, client="other_client"))
    finally:
        proc.stop()


def test_sighup_reloads_the_certificates_for_new_connections(pki, tmp_path):
    # Start with the expired certificate in place, then put the good one at the same paths.
    live = tmp_path / "live"
    live.mkdir()
    cert, k = live / "server.pem", live / "server.key"
    cert.write_bytes(open(pem(pki["expired"]), "rb").read())
    k.write_bytes(open(key(pki["expired"]), "rb").read())
    text = conf(pki).replace(pem(pki["server"]), str(cert)).replace(key(pki["server"]), str(k))
    proc = start(tmp_path, text)
    try:
        with pytest.raises(REFUSED):
            connect(proc, client_context(pki))
        cert.write_bytes(open(pem(pki["server"]), "rb").read())
        k.write_bytes(open(key(pki["server"]), "rb").read())
        os.kill(proc.proc.pid, signal.SIGHUP)
        deadline = time.monotonic() + 10
        while True:
            try:
                conn = connect(proc, client_context(pki))
                break
            except REFUSED:
                assert time.monotonic() < deadline, "the new certificate was not taken"
                time.sleep(0.1)
        round_trip(conn, n=10, size=100)
        conn.close()
        assert any("TLS certificates reloaded" in line for line in proc.tail(200))
    finally:
        proc.stop()


@pytest.mark.parametrize("problem", ["missing certificate", "key of another certificate", "verify_peer without a CA",
                                     "no cipher suite Warren has"])
def test_a_listener_that_cannot_load_its_certificates_stops_warren_with_the_reason(pki, tmp_path, problem):
    binary = os.environ.get("WARREN_BIN")
    if not binary:
        pytest.skip("starts warren itself: needs WARREN_BIN")
    text = conf(pki, verify_peer=True)
    if problem == "missing certificate":
        text = text.replace(pem(pki["server"]), str(tmp_path / "nowhere.pem"))
        reason = "nowhere.pem"
    elif problem == "key of another certificate":
        text = text.replace(key(pki["server"]), key(pki["client"]))
        reason = "AMQPS certificates"
    elif problem == "verify_peer without a CA":
        text = "\n".join(line for line in text.splitlines() if "cacertfile" not in line)
        reason = "cacertfile"
    else:
        text += "\nssl_options.ciphers.1 = DHE-RSA-AES256-SHA\nssl_options.ciphers.2 = AES128-SHA\n"
        reason = "none of ssl_options.ciphers (DHE-RSA-AES256-SHA, AES128-SHA)"
    (tmp_path / "rabbitmq.conf").write_text(text)
    (tmp_path / "data").mkdir()
    done = subprocess.run(
        [binary, "--config", str(tmp_path / "rabbitmq.conf"), "--bind", "127.0.0.1", "--amqp-port", "0",
         "--mgmt-port", "0", "--prometheus-port", "0", "--data-dir", str(tmp_path / "data")],
        capture_output=True, text=True, timeout=30)
    assert done.returncode != 0
    assert reason in done.stdout + done.stderr


def https_get(port, path, ctx, auth=("guest", "guest")):
    import base64
    import http.client
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=10)
    token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
    conn.request("GET", path, headers={"Authorization": f"Basic {token}"})
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    return resp.status, body


def test_management_and_prometheus_over_https_only(pki, tmp_path):
    """management.ssl.* and prometheus.ssl.* as RabbitMQ takes them: with only the TLS port
    configured, the API, the UI and the metrics are served over HTTPS and not over HTTP."""
    text = "\n".join([
        "management.ssl.port = 0",
        "management.ssl.ip = 127.0.0.1",
        f"management.ssl.certfile = {pem(pki['server'])}",
        f"management.ssl.keyfile = {key(pki['server'])}",
        "prometheus.ssl.port = 0",
        "prometheus.ssl.ip = 127.0.0.1",
        f"prometheus.ssl.certfile = {pem(pki['server'])}",
        f"prometheus.ssl.keyfile = {key(pki['server'])}",
        "",
    ])
    binary = os.environ.get("WARREN_BIN")
    if not binary:
        pytest.skip("starts warren with a configuration of its own: needs WARREN_BIN")
    (tmp_path / "rabbitmq.conf").write_text(text)
    (tmp_path / "data").mkdir()
    # Started without --mgmt-port / --prometheus-port, as a deployment would be.
    proc = subprocess.Popen(
        [binary, "--config", str(tmp_path / "rabbitmq.conf"), "--bind", "127.0.0.1", "--amqp-port", "0",
         "--data-dir", str(tmp_path / "data")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        ports, lines = {}, []
        deadline = time.monotonic() + 30
        while "amqp" not in ports and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            for name in ("management-https", "prometheus-https", "management", "prometheus", "amqp"):
                marker = f"listening {name} "
                if marker in line:
                    ports[name] = int(line.rsplit(":", 1)[1])
                    break
        assert {"management-https", "prometheus-https", "amqp"} <= set(ports), "".join(lines)
        assert "management" not in ports and "prometheus" not in ports, "plain HTTP still served"
        ctx = client_context(pki)
        status, body = https_get(ports["management-https"], "/api/overview", ctx)
        assert status == 200, body
        listeners = {entry["protocol"] for entry in __import__("json").loads(body)["listeners"]}
        assert "https" in listeners and "http" not in listeners
        status, body = https_get(ports["management-https"], "/", ctx)
        assert status == 200 and b"<html" in body.lower()
        status, body = https_get(ports["prometheus-https"], "/metrics", ctx)
        assert status == 200 and b"rabbitmq_identity_info" in body
        # An HTTPS client that does not trust the CA is refused by its own check.
        with pytest.raises(ssl.SSLError):
            https_get(ports["management-https"], "/api/overview", client_context(pki, ca="other_ca"))
        # Plain HTTP on the HTTPS port gets nothing useful, and the listener carries on.
        with socket.create_connection(("127.0.0.1", ports["management-https"]), timeout=5) as s:
            s.sendall(b"GET /api/overview HTTP/1.1\r\nHost: x\r\n\r\n")
            s.settimeout(5)
            try:
                assert b"200 OK" not in s.recv(4096)
            except (ConnectionResetError, socket.timeout):
                pass
        assert https_get(ports["management-https"], "/api/overview", ctx)[0] == 200
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def external_conf(pki, login_from=None, fail_if_no_peer_cert=True):
    lines = [conf(pki, verify_peer=True, fail_if_no_peer_cert=fail_if_no_peer_cert),
             "auth_mechanisms.1 = PLAIN", "auth_mechanisms.2 = AMQPLAIN", "auth_mechanisms.3 = EXTERNAL"]
    if login_from:
        lines.append(f"ssl_cert_login_from = {login_from}")
    return "\n".join(lines) + "\n"


def add_user(proc, name):
    api = Mgmt(f"http://127.0.0.1:{proc.mgmt_port}")
    quoted = urllib.parse.quote(name, safe="")
    api.ok("PUT", f"/api/users/{quoted}", {"password": "unused-here", "tags": ""}, expect=(201, 204))
    api.ok("PUT", f"/api/permissions/%2F/{quoted}", {"configure": ".*", "write": ".*", "read": ".*"},
           expect=(201, 204))
    return api


def connect_external(proc, ctx, port=None):
    params = pika.ConnectionParameters(
        host="127.0.0.1", port=port or proc.amqps_port,
        ssl_options=pika.SSLOptions(ctx, "localhost") if port is None else None,
        credentials=pika.credentials.ExternalCredentials(),
        connection_attempts=1, socket_timeout=5)
    return pika.BlockingConnection(params)


@pytest.mark.parametrize("login_from,user", [
    (None, "CN=tls-client,O=warren-tests"),  # RabbitMQ's default: the distinguished name
    ("distinguished_name", "CN=tls-client,O=warren-tests"),
    ("common_name", "tls-client"),
])
def test_sasl_external_logs_in_as_the_user_the_certificate_names(pki, tmp_path, login_from, user):
    proc = start(tmp_path, external_conf(pki, login_from))
    try:
        api = add_user(proc, user)
        conn = connect_external(proc, client_context(pki, client="client"))
        round_trip(conn, n=5, size=100)
        seen = eventually_connections(api)
        assert [(c["user"], c["auth_mechanism"], c["ssl"]) for c in seen] == [(user, "EXTERNAL", True)]
        conn.close()
    finally:
        proc.stop()


def eventually_connections(api):
    deadline = time.monotonic() + 10
    while True:
        seen = api.json("/api/connections")
        if seen or time.monotonic() > deadline:
            return seen
        time.sleep(0.1)


def test_sasl_external_is_offered_only_over_tls_with_a_verified_certificate(pki, tmp_path):
    proc = start(tmp_path, external_conf(pki, "common_name", fail_if_no_peer_cert=False))
    try:
        add_user(proc, "tls-client")
        # Over TLS without a client certificate, and on the plain port: not offered.
        with pytest.raises(pika.exceptions.AMQPConnectionError):
            connect_external(proc, client_context(pki))
        with pytest.raises(pika.exceptions.AMQPConnectionError):
            connect_external(proc, None, port=proc.amqp_port)
        # Password logins go on as before on both listeners.
        plain = pika.BlockingConnection(pika.ConnectionParameters(host="127.0.0.1", port=proc.amqp_port))
        plain.close()
        connect(proc, client_context(pki, client="client")).close()
    finally:
        proc.stop()


def test_sasl_external_refuses_a_certificate_naming_no_user(pki, tmp_path):
    proc = start(tmp_path, external_conf(pki, "common_name"))
    try:
        with pytest.raises(pika.exceptions.ProbableAuthenticationError, match="ACCESS_REFUSED - Login was refused using authentication mechanism EXTERNAL"):
            connect_external(proc, client_context(pki, client="client"))
        assert any("no such user" in line for line in proc.tail(100))
    finally:
        proc.stop()


@pytest.fixture(scope="module")
def go_client(tmp_path_factory):
    """The Go client of tests/go/tlsclient, built with Debian's golang-go and amqp091-go
    (installed by the test command's conformance step) in GOPATH mode."""
    import shutil
    gocode = "/usr/share/gocode/src/github.com/rabbitmq/amqp091-go"
    if not shutil.which("go") or not os.path.isdir(gocode):
        pytest.skip("needs golang-go and golang-github-rabbitmq-amqp091-go-dev (the test command installs them)")
    root = tmp_path_factory.mktemp("gotls")
    src = root / "src" / "tlsclient"
    src.mkdir(parents=True)
    here = os.path.dirname(os.path.abspath(__file__))
    shutil.copy(os.path.join(here, "..", "go", "tlsclient", "main.go"), src / "main.go")
    env = dict(os.environ, GOPATH=f"{root}:/usr/share/gocode", GO111MODULE="off",
               GOCACHE=str(root / "cache"), GOTOOLCHAIN="local", GOFLAGS="-p=1")
    binary = root / "tlsclient"
    subprocess.run(["go", "build", "-o", str(binary), "."], cwd=src, env=env, check=True,
                   capture_output=True, timeout=600)
    return str(binary)


def go_run(go_client, proc, pki, *args, ca="ca"):
    url = f"amqps://guest:guest@localhost:{proc.amqps_port}/"
    done = subprocess.run([go_client, url, pem(pki[ca]), *args], capture_output=True, text=True, timeout=60)
    return done.returncode, done.stdout + done.stderr


def test_the_go_client_over_amqps(pki, tmp_path, go_client):
    proc = start(tmp_path, conf(pki))
    try:
        code, out = go_run(go_client, proc, pki)
        assert (code, out.strip()) == (0, "OK"), out
        code, out = go_run(go_client, proc, pki, ca="other_ca")
        assert code == 2 and "certificate" in out, out
    finally:
        proc.stop()


def test_the_go_client_refuses_an_expired_server_certificate(pki, tmp_path, go_client):
    proc = start(tmp_path, conf(pki, cert="expired"))
    try:
        code, out = go_run(go_client, proc, pki)
        assert code == 2 and "expired" in out, out
    finally:
        proc.stop()


def test_the_go_client_logs_in_with_external(pki, tmp_path, go_client):
    proc = start(tmp_path, external_conf(pki, "common_name"))
    try:
        add_user(proc, "tls-client")
        code, out = go_run(go_client, proc, pki, pem(pki["client"]), key(pki["client"]), "external")
        assert (code, out.strip()) == (0, "OK"), out
        # Without a client certificate the server refuses the TLS handshake itself.
        code, out = go_run(go_client, proc, pki, "external")
        assert code == 2, out
    finally:
        proc.stop()


@pytest.mark.parametrize("offered,refused_client", [("tlsv1.3", ssl.TLSVersion.TLSv1_2),
                                                    ("tlsv1.2", ssl.TLSVersion.TLSv1_3)])
def test_ssl_options_versions_limit_what_is_offered(pki, tmp_path, offered, refused_client):
    """`ssl_options.versions.N`: a client that speaks only another version is refused, one
    that speaks the offered version gets in."""
    proc = start(tmp_path, conf(pki) + f"ssl_options.versions.1 = {offered}\n")
    try:
        other_only = client_context(pki)
        other_only.minimum_version = refused_client
        other_only.maximum_version = refused_client
        with pytest.raises(REFUSED):
            connect(proc, other_only)
        conn = connect(proc, client_context(pki))
        round_trip(conn, n=5, size=100)
        seen = eventually_connections(Mgmt(f"http://127.0.0.1:{proc.mgmt_port}"))
        assert [c["ssl_protocol"] for c in seen] == [offered]
        conn.close()
    finally:
        proc.stop()


def connection_seen(api, ssl_expected):
    deadline = time.monotonic() + 10
    while True:
        seen = [c for c in api.json("/api/connections") if c["ssl"] is ssl_expected]
        if seen or time.monotonic() > deadline:
            return seen
        time.sleep(0.1)


@pytest.mark.parametrize("honor,picked", [("true", "aes_128_gcm"), ("false", "aes_256_gcm")])
def test_ssl_options_ciphers_and_honor_cipher_order(pki, tmp_path, honor, picked):
    """`ssl_options.ciphers.N` offers only those suites (names rustls lacks are left out with
    a warning); `honor_cipher_order = true` picks by the server's order, else the client's.
    The API describes the suite as RabbitMQ does."""
    text = conf(pki) + "\n".join([
        "ssl_options.versions.1 = tlsv1.2",
        "ssl_options.ciphers.1 = ECDHE-RSA-AES128-GCM-SHA256",
        "ssl_options.ciphers.2 = ECDHE-RSA-AES256-GCM-SHA384",
        "ssl_options.ciphers.3 = DHE-RSA-AES256-SHA",
        f"ssl_options.honor_cipher_order = {honor}",
        "",
    ])
    proc = start(tmp_path, text)
    try:
        log = open(proc.log_path, encoding="utf-8", errors="replace").read()
        assert "DHE-RSA-AES256-SHA" in log and "left out" in log
        chacha_only = client_context(pki)
        chacha_only.set_ciphers("ECDHE-RSA-CHACHA20-POLY1305")
        with pytest.raises(REFUSED):
            connect(proc, chacha_only)
        prefers_256 = client_context(pki)
        prefers_256.set_ciphers("ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-GCM-SHA256")
        conn = connect(proc, prefers_256)
        api = Mgmt(f"http://127.0.0.1:{proc.mgmt_port}")
        [c] = connection_seen(api, True)
        assert (c["ssl_protocol"], c["ssl_key_exchange"], c["ssl_cipher"], c["ssl_hash"]) == (
            "tlsv1.2", "ecdhe_rsa", picked, "aead")
        # No client certificate: its fields are there, null (as RabbitMQ shows them).
        assert (c["peer_cert_subject"], c["peer_cert_issuer"], c["peer_cert_validity"]) == (None, None, None)
        conn.close()
        # A plain connection shows every TLS field null.
        plain = pika.BlockingConnection(pika.ConnectionParameters(host="127.0.0.1", port=proc.amqp_port))
        [p] = connection_seen(api, False)
        assert all(p[k] is None for k in ("ssl_protocol", "ssl_key_exchange", "ssl_cipher", "ssl_hash",
                                          "peer_cert_subject", "peer_cert_issuer", "peer_cert_validity"))
        plain.close()
    finally:
        proc.stop()


def test_a_client_certificate_shows_its_subject_issuer_and_validity(pki, tmp_path):
    proc = start(tmp_path, conf(pki, verify_peer=True, fail_if_no_peer_cert=True))
    try:
        conn = connect(proc, client_context(pki, "client"))
        [c] = connection_seen(Mgmt(f"http://127.0.0.1:{proc.mgmt_port}"), True)
        assert c["peer_cert_subject"].startswith("CN=") and c["peer_cert_issuer"].startswith("CN=")
        assert c["peer_cert_issuer"] != c["peer_cert_subject"]
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ - \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ",
                            c["peer_cert_validity"]), c["peer_cert_validity"]
        conn.close()
    finally:
        proc.stop()


def test_ssl_handshake_timeout_drops_a_client_that_never_starts_tls(pki, tmp_path):
    """`ssl_handshake_timeout` (RabbitMQ's default 5 s) bounds the TLS handshake, before the
    AMQP handshake's own `handshake_timeout` (here 60 s) starts."""
    proc = start(tmp_path, conf(pki) + "ssl_handshake_timeout = 500\nhandshake_timeout = 60000\n")
    try:
        with socket.create_connection(("127.0.0.1", proc.amqps_port), timeout=30) as s:
            started = time.monotonic()
            try:
                while s.recv(4096):
                    pass
            except ConnectionResetError:
                pass
            took = time.monotonic() - started
        assert 0.4 <= took < 5, took
    finally:
        proc.stop()
