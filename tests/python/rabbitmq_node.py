"""A private RabbitMQ node (Debian's rabbitmq-server) with the management plugin, for round
trips between Warren and RabbitMQ. Same approach as scripts/lib/rabbitmq-node.sh: its own node
name, ports and data dir, run as the rabbitmq user through setpriv; the start is bounded in
time and the node is stopped at the end.

Ports (not 5672/15672, the reference node's 5680/15680/25680, the bench's 5692-5695/25692 or
the conformance node's 5674/25674): AMQP 5688, management 15688, distribution 25688; override
with RMQ_RT_AMQP_PORT, RMQ_RT_MGMT_PORT, RMQ_RT_DIST_PORT.
"""

import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request

SBIN = "/usr/lib/rabbitmq/bin"
START_TIMEOUT = 45  # seconds until the management API answers
INSTALL_TIMEOUT = 300


class Unavailable(Exception):
    """RabbitMQ cannot be run here (the reason says why)."""


def _root_prefix():
    if os.geteuid() == 0:
        return []
    if shutil.which("sudo") and subprocess.run(["sudo", "-n", "true"], capture_output=True).returncode == 0:
        return ["sudo", "-n"]
    raise Unavailable("starting RabbitMQ as the rabbitmq user needs root or password-less sudo")


def _installed():
    try:
        import pwd

        pwd.getpwnam("rabbitmq")
    except KeyError:
        return False
    return os.access(f"{SBIN}/rabbitmq-server", os.X_OK) and shutil.which("setpriv") is not None


def ensure_installed():
    """Install rabbitmq-server with apt-get when missing (a service the package starts is
    stopped again); Unavailable if that is not possible."""
    if _installed():
        return
    root = _root_prefix()
    if not shutil.which("apt-get"):
        raise Unavailable("rabbitmq-server is not installed and there is no apt-get to install it")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    try:
        r = subprocess.run(root + ["apt-get", "install", "-y", "rabbitmq-server"], env=env,
                           capture_output=True, timeout=INSTALL_TIMEOUT)
        if r.returncode != 0:
            subprocess.run(root + ["apt-get", "update"], env=env, capture_output=True, timeout=INSTALL_TIMEOUT)
            subprocess.run(root + ["apt-get", "install", "-y", "rabbitmq-server"], env=env,
                           capture_output=True, timeout=INSTALL_TIMEOUT)
        subprocess.run(root + ["service", "rabbitmq-server", "stop"], capture_output=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise Unavailable(f"installing rabbitmq-server failed: {e}") from e
    if not _installed():
        raise Unavailable("rabbitmq-server is not installed and apt-get could not install it")


def _port_free(port):
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class RabbitMQNode:
    def __init__(self):
        self.amqp_port = int(os.environ.get("RMQ_RT_AMQP_PORT", "5688"))
        self.mgmt_port = int(os.environ.get("RMQ_RT_MGMT_PORT", "15688"))
        self.dist_port = int(os.environ.get("RMQ_RT_DIST_PORT", "25688"))
        self.nodename = f"warrenrt{os.getpid()}@localhost"
        self.dir = None
        self.proc = None
        self.root = []

    @property
    def mgmt_url(self):
        return f"http://127.0.0.1:{self.mgmt_port}"

    def _env(self):
        d = self.dir
        return [
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            f"HOME={d}", "LANG=C.UTF-8", "LC_ALL=C.UTF-8",
            f"RABBITMQ_NODENAME={self.nodename}",
            f"RABBITMQ_NODE_PORT={self.amqp_port}",
            f"RABBITMQ_DIST_PORT={self.dist_port}",
            f"RABBITMQ_MNESIA_BASE={d}/mnesia",
            f"RABBITMQ_LOG_BASE={d}/log",
            f"RABBITMQ_PID_FILE={d}/rabbitmq.pid",
            f"RABBITMQ_CONFIG_FILE={d}/rabbitmq.conf",
            f"RABBITMQ_ENABLED_PLUGINS_FILE={d}/enabled_plugins",
            f"RABBITMQ_CONF_ENV_FILE={d}/rabbitmq-env.conf",
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS=-kernel inet_dist_use_interface {127,0,0,1}",
        ]

    def _cmd(self, *argv):
        """argv run as the rabbitmq user with this node's environment (no PAM: setpriv)."""
        script = 'cd "$1" || exit 1; shift; ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec "$@"'
        return self.root + ["sh", "-c", script, "sh", self.dir, "env", "-i", *self._env(),
                            "setpriv", "--reuid=rabbitmq", "--regid=rabbitmq", "--init-groups", *argv]

    def start(self):
        ensure_installed()
        self.root = _root_prefix()
        for port in (self.amqp_port, self.mgmt_port, self.dist_port):
            if not _port_free(port):
                raise Unavailable(f"port {port} is in use (set RMQ_RT_AMQP_PORT/RMQ_RT_MGMT_PORT/RMQ_RT_DIST_PORT)")
        self.dir = tempfile.mkdtemp(prefix="warren-rmq-rt-", dir="/tmp")
        os.makedirs(f"{self.dir}/mnesia")
        os.makedirs(f"{self.dir}/log")
        with open(f"{self.dir}/rabbitmq.conf", "w") as f:
            f.write(f"listeners.tcp.1 = 127.0.0.1:{self.amqp_port}\n"
                    f"management.tcp.port = {self.mgmt_port}\n"
                    "management.tcp.ip = 127.0.0.1\n")
        with open(f"{self.dir}/enabled_plugins", "w") as f:
            f.write("[rabbitmq_management].\n")
        open(f"{self.dir}/rabbitmq-env.conf", "w").close()
        subprocess.run(self.root + ["chown", "-R", "rabbitmq:rabbitmq", self.dir], check=True)
        self.log = open(f"{self.dir}/server.out", "wb")
        self.proc = subprocess.Popen(self._cmd(f"{SBIN}/rabbitmq-server"), stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"RabbitMQ exited during start:\n{self.tail()}")
            try:
                req = urllib.request.Request(self.mgmt_url + "/api/overview",
                                             headers={"authorization": "Basic Z3Vlc3Q6Z3Vlc3Q="})
                with urllib.request.urlopen(req, timeout=2) as r:
                    if r.status == 200:
                        return self
            except OSError:
                pass
            time.sleep(0.25)
        self.stop()
        raise RuntimeError(f"RabbitMQ's management API did not answer within {START_TIMEOUT}s:\n{self.tail()}")

    def tail(self, n=40):
        try:
            with open(f"{self.dir}/server.out", errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def stop(self):
        if self.proc is None:
            return
        # RabbitMQ shuts down cleanly on SIGTERM (faster than rabbitmqctl stop). It runs as
        # another user: signal its process group through root.
        subprocess.run(self.root + ["kill", "-TERM", "--", f"-{self.proc.pid}"], capture_output=True)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            subprocess.run(self.root + ["kill", "-KILL", "--", f"-{self.proc.pid}"], capture_output=True)
            self.proc.wait(timeout=10)
        self.proc = None
        self.log.close()
        subprocess.run(self.root + ["rm", "-rf", self.dir], capture_output=True)
