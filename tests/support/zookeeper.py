"""A real ZooKeeper server for tests, from Debian's ``zookeeper`` package.

``zookeeper_server`` (session scope) installs the package when it is missing
(``apt-get install -y --no-install-recommends zookeeper``, after an
``apt-get update`` if that failed; root only), then runs a standalone server
of our own: ``java -cp /usr/share/java/zookeeper.jar
org.apache.zookeeper.server.ZooKeeperServerMain zoo.cfg``, on a free
127.0.0.1 port, with a temporary dataDir and a short tickTime so sessions can
expire in a second or two. The jar's manifest names the jars it needs, so
that one jar is the whole class path. Nothing of the package's system
service is used or started.

When ZooKeeper cannot be installed or started, the tests that use it skip
with the reason, except under ``CI=true``, where that is a failure (as in
support/servers.py).

Test modules import the fixture for now::

    from support.zookeeper import zookeeper_server  # noqa: F401
"""
import os
import shutil
import socket
import subprocess
import tempfile
import time

import pytest

ZOOKEEPER_JAR = "/usr/share/java/zookeeper.jar"
MAIN_CLASS = "org.apache.zookeeper.server.ZooKeeperServerMain"
#: ms; sessions may last from 2 ticks to MAX_SESSION_TIMEOUT_MS, and expire
#: at most one tick late
TICK_MS = 250
MAX_SESSION_TIMEOUT_MS = 30000
START_TIMEOUT_S = 30
#: the server gets SIGTERM when the thread that started it dies, so a killed
#: test run leaves no server behind (util-linux's setpriv)
_DIE_WITH_US = (["setpriv", "--pdeathsig", "TERM"] if shutil.which("setpriv")
                else [])
INSTALL_TIMEOUT_S = 600


def _missing():
    if not shutil.which("java"):
        return "no java"
    if not os.path.exists(ZOOKEEPER_JAR):
        return f"no {ZOOKEEPER_JAR}"
    return None


def _apt_get(*args):
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    result = subprocess.run(["apt-get", *args], capture_output=True, text=True,
                            env=env, timeout=INSTALL_TIMEOUT_S)
    if result.returncode != 0:
        error = result.stderr.strip()[-300:]
        return f"apt-get {' '.join(args)} failed: {error}"
    return None


def install():
    """Install Debian's zookeeper if need be; None, or why it is missing."""
    missing = _missing()
    if missing is None:
        return None
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return f"{missing}, and cannot apt-get install zookeeper (not root)"
    command = ("install", "-y", "--no-install-recommends", "zookeeper")
    problem = _apt_get(*command)
    if problem:  # often only the package lists are missing
        problem = _apt_get("update") or _apt_get(*command)
    if problem:
        return problem
    return _missing()


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def four_letter_word(address, word="ruok", timeout=1.0):
    """Send a four-letter word to ``host:port``; the answer, or None."""
    host, port = address.rsplit(":", 1)
    try:
        with socket.create_connection((host, int(port)), timeout=timeout) as s:
            s.sendall(word.encode())
            chunks = []
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    return b"".join(chunks).decode()
                chunks.append(chunk)
    except OSError:
        return None


class ZooKeeperServer:
    """A standalone ZooKeeper on 127.0.0.1:<port> with its own dataDir."""

    def __init__(self, port=None, tick_ms=TICK_MS):
        self.port = port or free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.tick_ms = tick_ms
        self.directory = tempfile.mkdtemp(prefix="hoststate-zk-")
        self.data_dir = os.path.join(self.directory, "data")
        self.config = os.path.join(self.directory, "zoo.cfg")
        self.log = os.path.join(self.directory, "server.log")
        self.process = None
        os.mkdir(self.data_dir)
        with open(self.config, "w") as cfg:
            cfg.write(
                f"tickTime={tick_ms}\n"
                f"minSessionTimeout={2 * tick_ms}\n"
                f"maxSessionTimeout={MAX_SESSION_TIMEOUT_MS}\n"
                f"dataDir={self.data_dir}\n"
                f"clientPort={self.port}\n"
                "clientPortAddress=127.0.0.1\n"
                "maxClientCnxns=0\n"
                "admin.enableServer=false\n"
                "4lw.commands.whitelist=ruok,stat,srvr,mntr,cons\n"
                # a test server: no fsync per transaction
                "forceSync=no\n")

    def start(self):
        """Start the server and wait until it serves requests."""
        if self.process is not None and self.process.poll() is None:
            return
        log = open(self.log, "ab")
        try:
            self.process = subprocess.Popen(
                [*_DIE_WITH_US, "java", "-Xmx256m", "-XX:+UseSerialGC",
                 "-XX:TieredStopAtLevel=1", "-cp", ZOOKEEPER_JAR,
                 MAIN_CLASS, self.config],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                cwd=self.directory)
        finally:
            log.close()
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"ZooKeeper exited with {self.process.returncode}: "
                    f"{self._log_tail()}")
            if self.serving():
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"ZooKeeper did not serve within "
                           f"{START_TIMEOUT_S}s: {self._log_tail()}")

    def serving(self):
        """Whether the server serves requests (``ruok`` answers ``imok``
        already while it is still loading, and it then drops clients)."""
        answer = four_letter_word(self.address, "srvr", timeout=0.5) or ""
        return "Mode: " in answer

    def stop(self):
        """Stop the server (SIGTERM, then SIGKILL after 10 s); the data
        stays, so a restart keeps the sessions and znodes."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def restart(self):
        """Stop and start again on the same port and dataDir."""
        self.stop()
        self.start()

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)

    def _log_tail(self):
        try:
            with open(self.log, "rb") as log:
                return log.read()[-500:].decode(errors="replace").strip()
        except OSError:
            return ""


def _unavailable(message):
    if os.environ.get("CI") == "true":
        pytest.fail(message + " (CI=true: a missing server fails)")
    pytest.skip(message)


@pytest.fixture(scope="session")
def zookeeper_server():
    """A running ZooKeeper (``.address`` is ``127.0.0.1:<port>``), stopped
    and deleted at the end of the session."""
    problem = install()
    if problem:
        _unavailable(f"ZooKeeper unavailable: {problem}")
    server = ZooKeeperServer()
    try:
        server.start()
    except (OSError, RuntimeError) as exc:
        server.cleanup()
        _unavailable(f"ZooKeeper did not start: {exc}")
    try:
        yield server
    finally:
        server.cleanup()


# --- configuration -----------------------------------------------------------

#: every [zookeeper] option
OPTIONS = ("address", "recv_timeout", "sg_prefix", "sg_retry_interval")


def load_conf(default=None, **zookeeper):
    """A loaded ConfigOpts with every [zookeeper] option overridden (to the
    value given, else its default) and ``default`` ({name: value}) set in
    [DEFAULT]. Call ``forget_overrides(conf)`` when done.

    oslo.config keeps the overrides of a group in the option table of the
    OptGroup object, and hoststate.conf registers the same module-level
    OptGroup on every ConfigOpts: a [zookeeper] override is seen by every
    ConfigOpts until cleared. So every option is set here (others' leftovers
    cannot show through), and cleared afterwards (ours do not leak).
    """
    from oslo_config import cfg

    from hoststate import conf as hs_conf

    conf = hs_conf.load(args=[], config_files=[], conf=cfg.ConfigOpts(),
                        use_env=False)
    for name, value in (default or {}).items():
        conf.set_override(name, value)
    for name in OPTIONS:
        conf.clear_override(name, group="zookeeper")
        value = zookeeper.get(name, conf.zookeeper[name])
        conf.set_override(name, value, group="zookeeper")
    return conf


def forget_overrides(conf):
    for name in OPTIONS:
        conf.clear_override(name, group="zookeeper")


# --- code run in child processes ---------------------------------------------

def join_and_wait(zookeeper_options, group, member, joined):
    """Join ``member`` to ``group`` with the zk driver configured by
    ``zookeeper_options`` ({option: value} of [zookeeper]), set the
    multiprocessing Event ``joined``, then sleep until killed."""
    from hoststate.servicegroup.drivers import zk

    driver = zk.ZooKeeperDriver(load_conf(**zookeeper_options))
    driver.join(member, group)
    joined.set()
    while True:
        time.sleep(60)
