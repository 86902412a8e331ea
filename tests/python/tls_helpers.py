"""A test PKI made with the openssl command line: a CA, a server certificate for localhost
and 127.0.0.1, a client certificate (O=warren-tests, CN=tls-client), a second CA with its own client certificate, and a
server certificate that expired in 2020 (signed with `openssl ca`, which takes any dates)."""

import subprocess
from pathlib import Path


def _openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def _key_and_csr(d, name, subject, san=None):
    """A key and a request whose extensions make a version 3 certificate (webpki, like
    most TLS stacks, refuses version 1): the names for a server, client use for a client."""
    args = ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr",
            "-subj", subject if subject.startswith("/") else f"/CN={subject}"]
    if san:
        args += ["-addext", f"subjectAltName={san}"]
    else:
        args += ["-addext", "extendedKeyUsage=clientAuth"]
    _openssl(*args, cwd=d)


def _ca(d, name, cn):
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key",
             "-out", f"{name}.pem", "-days", "3", "-subj", f"/CN={cn}", cwd=d)


def _sign(d, name, ca, days=3):
    _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key",
             "-CAcreateserial", "-out", f"{name}.pem", "-days", str(days), "-copy_extensions", "copy",
             cwd=d)


def _sign_expired(d, name, ca):
    (d / "db").mkdir(exist_ok=True)
    (d / "db" / "index.txt").write_text("")
    (d / "db" / "serial").write_text("1000\n")
    (d / "ca.cnf").write_text(
        "[ca]\ndefault_ca = test\n[test]\ndatabase = db/index.txt\nserial = db/serial\n"
        "new_certs_dir = db\ndefault_md = sha256\npolicy = any\ncopy_extensions = copy\n"
        "[any]\ncommonName = supplied\n")
    _openssl("ca", "-batch", "-config", "ca.cnf", "-cert", f"{ca}.pem", "-keyfile", f"{ca}.key",
             "-in", f"{name}.csr", "-out", f"{name}.pem", "-notext",
             "-startdate", "20200101000000Z", "-enddate", "20200102000000Z", cwd=d)


def make_pki(d: Path):
    """Every file under `d`; returns {name: path} for ca, server, client, other_ca,
    other_client and expired (each certificate NAME.pem with its key NAME.key)."""
    d.mkdir(parents=True, exist_ok=True)
    _ca(d, "ca", "warren-test-ca")
    _ca(d, "other_ca", "another-ca")
    _key_and_csr(d, "server", "localhost", "DNS:localhost,IP:127.0.0.1")
    _sign(d, "server", "ca")
    # Its distinguished name as RabbitMQ writes it: CN=tls-client,O=warren-tests.
    _key_and_csr(d, "client", "/O=warren-tests/CN=tls-client")
    _sign(d, "client", "ca")
    _key_and_csr(d, "other_client", "tls-client")
    _sign(d, "other_client", "other_ca")
    _key_and_csr(d, "expired", "localhost", "DNS:localhost,IP:127.0.0.1")
    _sign_expired(d, "expired", "ca")
    return {name: d / name for name in ("ca", "server", "client", "other_ca", "other_client", "expired")}


def pem(path):
    return str(path) + ".pem"


def key(path):
    return str(path) + ".key"
