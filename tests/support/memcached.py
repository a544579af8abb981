"""Real memcached servers for tests, started on free loopback ports.

Debian's ``memcached`` is installed when missing (as root: ``apt-get install
-y memcached``, after ``apt-get update`` if the package lists need it), then
each server runs as ``memcached -l 127.0.0.1 -p <port> -U 0 -m 64`` (``-u
root`` when root, which memcached otherwise refuses) in a subprocess owned by
the test session, and is stopped at its end.

Fixtures (import them into a test module: ``from support.memcached import
memcached_server  # noqa: F401``):

* ``memcached_factory``: ``factory()`` starts one more server (for tests that
  stop or restart it, or need several); all are stopped at session end;
* ``memcached_server``: one server shared by the session.

When memcached cannot be had, tests skip with the reason, except under
``CI=true``, where that is a failure (CI must never pass by skipping), as in
support/servers.py.
"""
import os
import shutil
import socket
import subprocess
import time

import pytest

START_TIMEOUT_S = 10
APT_TIMEOUT_S = 300
_ENV = dict(os.environ, DEBIAN_FRONTEND="noninteractive")

_install_problem = []   # memo: [problem or None] once tried


def memcached_binary():
    return shutil.which("memcached") or (
        "/usr/bin/memcached" if os.path.exists("/usr/bin/memcached") else None)


def _apt(*args):
    result = subprocess.run(["apt-get", *args], capture_output=True, text=True,
                            timeout=APT_TIMEOUT_S, env=_ENV)
    return None if result.returncode == 0 else (
        f"apt-get {' '.join(args)} failed: {result.stderr.strip()[-300:]}")


def ensure_installed():
    """None once ``memcached`` is installed, else why it cannot be."""
    if memcached_binary():
        return None
    if _install_problem:
        return _install_problem[0]
    if os.geteuid() != 0:
        problem = "memcached is not installed and we are not root"
    elif not shutil.which("apt-get"):
        problem = "memcached is not installed and there is no apt-get"
    else:
        problem = _apt("install", "-y", "-q", "memcached")
        if problem:  # stale or missing package lists: refresh once
            problem = _apt("update", "-q") or _apt("install", "-y", "-q",
                                                   "memcached")
        if problem is None and not memcached_binary():
            problem = "apt-get installed memcached but there is no binary"
    _install_problem.append(problem)
    return problem


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def answers(port, timeout=0.5):
    """Whether a memcached answers ``version`` on 127.0.0.1:port."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(b"version\r\n")
            return s.recv(64).startswith(b"VERSION")
    except OSError:
        return False


class MemcachedServer:
    """One memcached subprocess on a fixed loopback port."""

    def __init__(self, port=None):
        self.port = port or free_port()
        self.process = None

    @property
    def address(self):
        """``host:port``, as ``memcached_servers`` lists it."""
        return f"127.0.0.1:{self.port}"

    def command(self):
        command = [memcached_binary(), "-l", "127.0.0.1", "-p", str(self.port),
                   "-U", "0", "-m", "64"]
        return command + (["-u", "root"] if os.geteuid() == 0 else [])

    def start(self):
        """Start it and wait until it answers; None, or why it did not."""
        self.process = subprocess.Popen(
            self.command(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                err = self.process.stderr.read().decode(errors="replace")
                return f"{' '.join(self.command())} exited: {err.strip()[:300]}"
            if answers(self.port):
                return None
            time.sleep(0.02)
        self.stop()
        return f"memcached on port {self.port} did not answer in {START_TIMEOUT_S}s"

    def stop(self):
        """Stop it (its keys are lost); the port stays this server's.

        SIGKILL: memcached keeps nothing to flush, and an idle one takes a
        second to act on SIGTERM."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        if self.process is not None:
            self.process.stderr.close()
        self.process = None

    def restart(self):
        """Stop, then start again on the same port, empty."""
        self.stop()
        return self.start()


def _unavailable(message):
    if os.environ.get("CI") == "true":
        pytest.fail(message + " (CI=true: a missing server fails)")
    pytest.skip(message)


def start_server():
    """A started MemcachedServer (the caller stops it), or skip/fail."""
    problem = ensure_installed()
    if problem:
        _unavailable(f"memcached unavailable: {problem}")
    server = MemcachedServer()
    problem = server.start()
    if problem:  # another process may have taken the free port: retry once
        server = MemcachedServer()
        problem = server.start()
    if problem:
        _unavailable(f"memcached did not start: {problem}")
    return server


# Each fixture stands alone (no fixture argument), so a test module can
# import just the one it uses.

@pytest.fixture(scope="session")
def memcached_factory():
    """``factory()`` -> one more started MemcachedServer, for tests that stop
    or restart it or need several; all are stopped at session end."""
    servers = []

    def factory():
        servers.append(start_server())
        return servers[-1]

    yield factory
    for server in servers:
        server.stop()


@pytest.fixture(scope="session")
def memcached_server():
    """A memcached shared by the whole session (flush it if you need it
    empty; do not stop it)."""
    server = start_server()
    yield server
    server.stop()
