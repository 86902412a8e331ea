"""Nothing secret reaches the log, even at debug level: not the default password, not a
password a client tried, not one set through the API, not a password hash from a
definitions file. A Warren of this module's own, logging at debug."""

import base64

import pika
import pika.exceptions
import pytest

from conftest import own_warren
from mgmt_helpers import Mgmt

DEFAULT_PASS = "Def4ult-S3cret-pass"
WRONG_PASS = "Wr0ng-Guess-9317"
NEW_PASS = "N3w-User-Secret-5521"
# A RabbitMQ SHA-256 hash for a definitions import (of some password; only the text matters).
IMPORTED_HASH = "H6Q6VamAtptT7nGbb47x0h0fhKmVXXMYtRAslkuQZaYfKzvT"


def test_passwords_and_hashes_never_reach_the_log(tmp_path):
    proc, host, port = own_warren(
        tmp_path, ["--default-user", "admin", "--default-pass", DEFAULT_PASS, "--log-level", "debug"],
        why="reads its whole log")
    try:
        api = Mgmt(f"http://{host}:{proc.mgmt_port}", ("admin", DEFAULT_PASS))
        # Failed logins over AMQP and HTTP.
        params = pika.ConnectionParameters(
            host=host, port=port, credentials=pika.PlainCredentials("admin", WRONG_PASS),
            connection_attempts=1)
        with pytest.raises(pika.exceptions.AMQPConnectionError):
            pika.BlockingConnection(params)
        assert Mgmt(f"http://{host}:{proc.mgmt_port}", ("admin", WRONG_PASS)).get("/api/overview").status == 401
        # A user and its password through the API, then a login with it.
        api.ok("PUT", "/api/users/carol", {"password": NEW_PASS, "tags": ""})
        api.ok("PUT", "/api/permissions/%2F/carol", {"configure": ".*", "write": ".*", "read": ".*"})
        pika.BlockingConnection(pika.ConnectionParameters(
            host=host, port=port, credentials=pika.PlainCredentials("carol", NEW_PASS))).close()
        # A definitions import with a password hash, and an export.
        defs = {"users": [{"name": "dave", "password_hash": IMPORTED_HASH,
                           "hashing_algorithm": "rabbit_password_hashing_sha256", "tags": ""}]}
        api.ok("POST", "/api/definitions", defs)
        api.json("/api/definitions")
        # The raw forms a client sends: base64 of user:password (HTTP), \0user\0password (PLAIN).
        secrets = [DEFAULT_PASS, WRONG_PASS, NEW_PASS, IMPORTED_HASH,
                   base64.b64encode(f"admin:{WRONG_PASS}".encode()).decode(),
                   base64.b64encode(f"admin:{DEFAULT_PASS}".encode()).decode()]
        log = "\n".join(proc.tail(100000))
        assert "login refused" in log, "the failed logins were not logged at all"
        leaked = [s for s in secrets if s in log]
        assert not leaked, f"secrets in the log: {leaked}"
    finally:
        proc.stop()
