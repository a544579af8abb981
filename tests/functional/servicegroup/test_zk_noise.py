"""What the zk driver logs, against a real ZooKeeper (support/zookeeper.py)
reached through a TCP proxy that an outage cuts (support/tcp_proxy.py).

An outage is one warning and one recovery line from the driver, and
nothing from kazoo at WARNING or above, however many times kazoo retried
meanwhile (it logged every attempt at WARNING before); a crash played by
``abandon`` logs nothing at WARNING; a reader with ZooKeeper unreachable
raises ServiceGroupUnavailable after the configured connection wait and
logs nothing itself (saying it is the caller's business). Records are
counted by logger and level with caplog; no timing is asserted (the
connection wait is checked as configured, its cost is measured in
benchmarks/ and the report).
"""
import json
import logging
import re
import socket
import subprocess
import sys

import pytest

from hoststate import exception
from hoststate.objects import service as service_obj
from hoststate.servicegroup import api as sg_api
from hoststate.servicegroup.drivers import zk_outage
from hoststate.servicegroup.drivers import zk_session
from functional.servicegroup.test_zk_driver import (  # noqa: F401 (fixtures)
    RECV_TIMEOUT_MS, _forget_zookeeper_overrides, group, make_conf,
    make_driver, service, wait_for)
from support import zookeeper as zk_support
from support.tcp_proxy import TcpProxy

DRIVER_LOG = "hoststate.servicegroup.drivers.zk"
KAZOO_ROUTE = zk_outage.KAZOO_LOG.name
#: kazoo retries a refused connection at least this often in an outage
#: we wait for (0.1 s, 0.2 s, then every <= 0.5 s with report_interval 1)
RETRIES_SEEN = 3


@pytest.fixture
def logs(caplog):
    """caplog seeing everything of the driver and of kazoo's own loggers,
    whatever levels earlier tests left on them."""
    for name in (DRIVER_LOG, "kazoo"):
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


def loud(caplog):
    """(logger, level, message) of every record at WARNING or above from
    hoststate or kazoo."""
    return [(r.name, r.levelname, r.getMessage()) for r in caplog.records
            if r.levelno >= logging.WARNING
            and r.name.split(".")[0] in ("hoststate", "kazoo")]


def of(caplog, name, level):
    return [r.getMessage() for r in caplog.records
            if r.name == name and r.levelno == level]


def kazoo_retries(caplog):
    """kazoo's failed connection attempts, demoted to DEBUG."""
    return [m for m in of(caplog, KAZOO_ROUTE, logging.DEBUG)
            if m.startswith("Connection dropped")]


# --- an outage ---------------------------------------------------------------

@pytest.mark.parametrize("session", ["kept", "expired"])
def test_an_outage_is_one_warning_and_one_recovery_line(
        make_driver, group, zookeeper_server, logs, session):  # noqa: F811
    """The agent reaches ZooKeeper through the proxy; a checker directly.
    "expired": the outage outlasts the session, whose member the server
    deletes; it is made again on reconnection."""
    h1 = service("h1", group)
    with TcpProxy("127.0.0.1", zookeeper_server.port) as proxy:
        servers = f"127.0.0.1:{proxy.port}"
        agent, checker = make_driver(servers), make_driver()
        agent.join("h1", group)
        wait_for(lambda: checker.is_up(h1) and agent.is_up(h1), 2)
        logs.clear()
        proxy.pause()
        wait_for(lambda: len(kazoo_retries(logs)) >= RETRIES_SEEN, 10)
        for _ in range(3):  # every read fails, none logs
            with pytest.raises(exception.ServiceGroupUnavailable):
                agent.is_up(h1)
        if session == "expired":
            wait_for(lambda: not checker.is_up(h1), RECV_TIMEOUT_MS / 1000 + 5)
        proxy.resume()
        wait_for(lambda: of(logs, DRIVER_LOG, logging.INFO), 10)
        wait_for(lambda: checker.is_up(h1) and agent.is_up(h1), 5)
        agent.stop()  # before the proxy closes: no outage at teardown
    [warning] = of(logs, DRIVER_LOG, logging.WARNING)
    assert warning.startswith(f"lost the connection to ZooKeeper at "
                              f"{servers} (")
    assert "; reconnecting every 0.5 s at most, liveness unknown here " \
           "until then; members joined here: 1, their znodes outlive the " \
           "connection by at most 2 s (the session timeout)" in warning
    assert loud(logs) == [(DRIVER_LOG, "WARNING", warning)]
    [recovery] = of(logs, DRIVER_LOG, logging.INFO)
    assert recovery.startswith(f"connection to ZooKeeper at {servers} back "
                               f"after ")
    if session == "expired":
        assert recovery.endswith(", on a new session (the old one "
                                 "expired); 1 member joined again")
    assert len(kazoo_retries(logs)) >= RETRIES_SEEN


def test_members_joined_before_a_first_connection_warn_once(
        make_driver, group, zookeeper_server, logs):  # noqa: F811
    """An agent started while ZooKeeper is down: one warning at the first
    join, none at the next, one line when it connects."""
    with TcpProxy("127.0.0.1", zookeeper_server.port) as proxy:
        proxy.pause()
        agent = make_driver(f"127.0.0.1:{proxy.port}", recv_timeout=1000)
        agent.join("h1", group)
        agent.join_many([("h2", group, None), ("h3", group, None)])
        proxy.resume()
        wait_for(lambda: agent.get_all(group) == ["h1", "h2", "h3"], 10)
        agent.stop()
    [warning] = of(logs, DRIVER_LOG, logging.WARNING)
    assert warning.startswith(f"ZooKeeper at 127.0.0.1:{proxy.port} not "
                              f"reachable (Connection refused); ")
    assert warning.endswith("; members joined here: 1, made once it "
                            "connects")
    assert loud(logs) == [(DRIVER_LOG, "WARNING", warning)]
    wait_for(lambda: of(logs, DRIVER_LOG, logging.INFO), 2)
    [connected] = of(logs, DRIVER_LOG, logging.INFO)
    assert connected.startswith(f"connected to ZooKeeper at "
                                f"127.0.0.1:{proxy.port} after ")
    assert connected.endswith(" s; 3 members joined")


# --- a crash -----------------------------------------------------------------

def test_abandon_logs_nothing_at_warning(make_driver, group, logs):
    crashing, checker = make_driver(), make_driver()
    crashing.join_many([(f"h{n}", group, None) for n in range(3)])
    wait_for(lambda: len(checker.get_all(group)) == 3, 2)
    logs.clear()
    crashing.abandon()
    assert loud(logs) == []
    # kazoo did complain about the cut connection, at DEBUG only
    assert crashing._client.logger.last_complaint is not None
    assert of(logs, KAZOO_ROUTE, logging.DEBUG)


# --- a one-shot reader -------------------------------------------------------

@pytest.mark.parametrize("recv_timeout_ms, connect_timeout, wait", [
    (500, 0.5, 0.5), (4000, 1.0, 2.0), (30000, 1.0, 2.0)])
def test_connection_bounds_follow_recv_timeout(recv_timeout_ms,
                                               connect_timeout, wait):
    session_timeout = recv_timeout_ms / 1000
    assert zk_session.connect_timeout(session_timeout) == connect_timeout
    assert zk_session.first_connection_wait(session_timeout) == wait


def test_one_tcp_attempt_gets_the_capped_timeout():
    """kazoo asks for the whole session timeout; the handler caps it."""
    handler = zk_session.SeverableHandler(connect_timeout=1.0)
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        sock = handler.create_connection(
            address=server.getsockname(), timeout=30.0)
        try:
            assert 0 < sock.gettimeout() <= 1.0
        finally:
            sock.close()


def test_a_reader_without_zookeeper_raises_and_logs_nothing(logs):
    closed = f"127.0.0.1:{zk_support.free_port()}"
    conf = make_conf(closed, recv_timeout=4000)
    api = sg_api.API(conf)
    try:
        driver = api.driver
        assert driver.connect_wait == 2.0
        assert driver._client.handler.connect_timeout == 1.0
        assert driver._client._session_timeout == 4000  # the session's own
        with pytest.raises(exception.ServiceGroupUnavailable) as info:
            api.services_up([service("h1", "compute"),
                             service("h2", "compute")])
    finally:
        api.stop()
    assert info.value.driver == "zk"
    assert f"not connected to ZooKeeper at {closed} (session LOST; no " \
           f"connection in " in str(info.value)
    assert str(info.value).endswith(" s: Connection refused)")
    assert loud(logs) == []
    assert len(kazoo_retries(logs)) >= 1


# --- the command -------------------------------------------------------------

#: the command, as the installed entry point runs it
LAUNCH = ("import sys; from hoststate.cli.main import main; "
          "sys.exit(main(sys.argv[1:]))")


@pytest.mark.slow
@pytest.mark.parametrize("empty_database", ["sqlite"], indirect=True)
def test_service_list_with_zookeeper_down_is_one_line(database, ctx,
                                                      tmp_path):
    """``hoststate service-list`` as a user runs it: the states unknown,
    one warning line on stderr, nothing from kazoo."""
    service_obj.Service(ctx, host="h1", binary=service_obj.COMPUTE_BINARY,
                        topic=service_obj.COMPUTE_TOPIC).create()
    closed = f"127.0.0.1:{zk_support.free_port()}"
    conf_file = tmp_path / "nova.conf"
    conf_file.write_text(f"[DEFAULT]\nservicegroup_driver = zk\n"
                         f"[zookeeper]\naddress = {closed}\n")
    done = subprocess.run(
        [sys.executable, "-c", LAUNCH, "--database-url", database.url,
         "--config-file", str(conf_file), "service-list", "--format", "json"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
        stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    assert [row["state"] for row in json.loads(done.stdout)] == ["unknown"]
    assert done.stderr.count("\n") == 1, done.stderr
    assert re.search(
        rf"not connected to ZooKeeper at {closed} \(session LOST; no "
        rf"connection in \d+\.\d s: Connection refused\); state shown as "
        rf"unknown\n$", done.stderr), done.stderr
