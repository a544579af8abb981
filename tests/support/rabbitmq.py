"""The real RabbitMQ broker for tests: a vhost of the test session's own.

RabbitMQ runs at 127.0.0.1:5672 (guest/guest) on the development and CI
machines. Each test session (each pytest-xdist worker too) creates one
vhost, ``hs_<random>``, with ``rabbitmqctl add_vhost`` and gives guest all
rights on it; the vhost, and with it every queue and exchange the tests
declared, is deleted at the session's end. Tests never see each other's
messages, nor those of another session on the same broker.

When the broker does not answer and cannot be started (``rabbitmq-server
-detached``, as root), or ``rabbitmqctl`` is missing, the tests that need it
skip with the reason, except under ``CI=true``, where that is a failure, as
in support/servers.py.

Fixtures (import them into a conftest: ``from support.rabbitmq import
rabbitmq_url  # noqa: F401``):

* ``rabbitmq_vhost``: the session's vhost name;
* ``rabbitmq_url``: ``rabbit://guest:guest@127.0.0.1:5672/<vhost>``.

:func:`restart_broker` stops and starts the broker itself (the restart
fault test); the session vhost survives it (vhosts are durable).
"""
import os
import shutil
import socket
import subprocess
import time
import uuid

import pytest

HOST, PORT = "127.0.0.1", 5672
USER = PASSWORD = "guest"
START_TIMEOUT_S = 60
CTL_TIMEOUT_S = 60

_reachable = []   # memo: [problem or None] once tried


def _answers():
    try:
        with socket.create_connection((HOST, PORT), timeout=2):
            return None
    except OSError as exc:
        return f"nothing answers on {HOST}:{PORT} ({exc.strerror or exc})"


def _ctl(*args):
    ctl = shutil.which("rabbitmqctl") or "/usr/sbin/rabbitmqctl"
    if not os.path.exists(ctl):
        return "rabbitmqctl is not installed"
    result = subprocess.run([ctl, *args], capture_output=True, text=True,
                            timeout=CTL_TIMEOUT_S)
    if result.returncode != 0:
        return (f"rabbitmqctl {' '.join(args)} failed: "
                f"{(result.stderr or result.stdout).strip()[-300:]}")
    return None


def _wait_until_answering():
    deadline = time.monotonic() + START_TIMEOUT_S
    problem = _answers()
    while problem and time.monotonic() < deadline:
        time.sleep(0.5)
        problem = _answers()
    return problem or _ctl("await_startup")


def _start():
    if os.geteuid() != 0:
        return "not root, cannot run rabbitmq-server -detached"
    server = shutil.which("rabbitmq-server") or "/usr/sbin/rabbitmq-server"
    if not os.path.exists(server):
        return "rabbitmq-server is not installed"
    subprocess.run([server, "-detached"], capture_output=True,
                   timeout=CTL_TIMEOUT_S)
    return _wait_until_answering()


def _reach():
    problem = _answers()
    if problem is None:
        return None
    start_problem = _start()
    return None if start_problem is None else (
        f"{problem}; could not start it: {start_problem}")


def require():
    """Skip (fail under CI=true) unless the broker answers."""
    if not _reachable:
        _reachable.append(_reach())
    if _reachable[0]:
        message = f"RabbitMQ unavailable: {_reachable[0]}"
        if os.environ.get("CI") == "true":
            pytest.fail(message + " (CI=true: a missing server fails)")
        pytest.skip(message)


def url_of(vhost):
    return f"rabbit://{USER}:{PASSWORD}@{HOST}:{PORT}/{vhost}"


@pytest.fixture(scope="session")
def rabbitmq_vhost():
    require()
    vhost = f"hs_{uuid.uuid4().hex[:12]}"
    problem = (_ctl("add_vhost", vhost)
               or _ctl("set_permissions", "-p", vhost, USER, ".*", ".*", ".*"))
    if problem:
        _ctl("delete_vhost", vhost)
        if os.environ.get("CI") == "true":
            pytest.fail(f"RabbitMQ vhost: {problem}")
        pytest.skip(f"RabbitMQ vhost: {problem}")
    yield vhost
    _ctl("delete_vhost", vhost)


@pytest.fixture(scope="session")
def rabbitmq_url(rabbitmq_vhost):
    return url_of(rabbitmq_vhost)


def restart_broker():
    """Stop the broker's application and start it again (its Erlang node
    stays up, as on a real restart of the service); returns once it
    answers again."""
    problem = _ctl("stop_app") or _ctl("start_app")
    if problem is None:
        problem = _wait_until_answering()
    if problem:
        raise RuntimeError(problem)


def vhosts():
    """The broker's vhost names (to check none is left behind)."""
    ctl = shutil.which("rabbitmqctl") or "/usr/sbin/rabbitmqctl"
    result = subprocess.run([ctl, "list_vhosts", "-q"], capture_output=True,
                            text=True, timeout=CTL_TIMEOUT_S, check=True)
    return set(result.stdout.split())


def _erlang_list(vhosts):
    return "[" + ", ".join(f'<<"{v}">>' for v in vhosts) + "]"


def _add_vhosts(vhosts):
    """Make ``vhosts``, guest with every right on each: one ``rabbitmqctl
    eval`` for all (each rabbitmqctl run boots an Erlang VM: half a
    second of CPU), else one command each; the first problem, or None."""
    problem = _ctl("eval", (
        "lists:foreach(fun(V) -> rabbit_vhost:add(V, <<\"hs-tests\">>), "
        "rabbit_auth_backend_internal:set_permissions(<<\"guest\">>, V, "
        "<<\".*\">>, <<\".*\">>, <<\".*\">>, <<\"hs-tests\">>) end, "
        f"{_erlang_list(vhosts)})."))
    if problem is None:
        return None
    for vhost in vhosts:
        problem = (_ctl("add_vhost", vhost) or _ctl(
            "set_permissions", "-p", vhost, USER, ".*", ".*", ".*"))
        if problem:
            return problem
    return None


def _delete_vhosts(vhosts):
    if _ctl("eval", "lists:foreach(fun(V) -> rabbit_vhost:delete(V, "
                    f"<<\"hs-tests\">>) end, {_erlang_list(vhosts)}).") \
            is not None:
        for vhost in vhosts:
            _ctl("delete_vhost", vhost)


class _Vhosts:
    """Makes vhosts (``new_url(label)``) and deletes them all at
    ``delete_all``, ``BATCH`` at a time in one ``rabbitmqctl`` run, handed
    out as asked: a test of three cells waits for one run instead of
    six."""

    BATCH = 3

    def __init__(self):
        require()
        self.made = []
        self._ready = []

    def new_url(self, label):
        if not self._ready:
            batch = [f"hs_{uuid.uuid4().hex[:12]}"
                     for _ in range(self.BATCH)]
            self.made += batch
            problem = _add_vhosts(batch)
            if problem:
                pytest.fail(f"RabbitMQ vhost: {problem}")
            self._ready = batch
        return url_of(self._ready.pop(0))

    def delete_all(self):
        if self.made:
            _delete_vhosts(self.made)
        self.made, self._ready = [], []


@pytest.fixture
def rabbitmq_vhosts():
    """A function giving the URL of a new vhost per call (a broker of its
    own for each cell of a test: ``new_url("c1")``), all deleted when the
    test ends (after the fixtures that use them stopped their
    services)."""
    made = _Vhosts()
    yield made.new_url
    made.delete_all()


@pytest.fixture(scope="module")
def rabbitmq_module_vhosts():
    """``rabbitmq_vhosts`` for the fixtures of a whole module."""
    made = _Vhosts()
    yield made.new_url
    made.delete_all()
