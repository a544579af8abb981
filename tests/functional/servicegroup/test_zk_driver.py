"""The zk liveness driver against a real ZooKeeper (support/zookeeper.py).

Intervals are short: a 2 s session timeout (recv_timeout 2000 ms),
report_interval 1 s, sg_retry_interval 1 s. Measured times are printed
(``pytest -s``) and asserted against the issue's bounds.
"""
import datetime
import json
import multiprocessing
import os
import signal
import time
import uuid

import pytest
from kazoo.client import KazooClient

from hoststate import exception
from hoststate.servicegroup.drivers import zk_session
from hoststate.objects import service as service_obj
from hoststate.servicegroup import api as sg_api
from hoststate.servicegroup.drivers import zk
from support import zookeeper as zk_support

RECV_TIMEOUT_MS = 2000
REPORT_INTERVAL = 1
SG_PREFIX = "/servicegroups"


_confs = []


def make_conf(address, **zookeeper):
    """A ConfigOpts for the zk driver (see support.zookeeper.load_conf:
    its [zookeeper] overrides are cleared after each test)."""
    options = dict(address=address, recv_timeout=RECV_TIMEOUT_MS,
                   sg_prefix=SG_PREFIX, sg_retry_interval=1)
    options.update(zookeeper)
    conf = zk_support.load_conf(
        default=dict(servicegroup_driver="zk", service_down_time=3,
                     report_interval=REPORT_INTERVAL), **options)
    _confs.append(conf)
    return conf


@pytest.fixture(autouse=True)
def _forget_zookeeper_overrides():
    yield
    while _confs:
        zk_support.forget_overrides(_confs.pop())


def service(host, topic, **fields):
    return service_obj.Service(host=host, binary="nova-compute", topic=topic,
                               **fields)


def wait_for(predicate, timeout, step=0.01):
    """Seconds until ``predicate()`` is true (errors count as false);
    fails after ``timeout``."""
    start = time.monotonic()
    while True:
        try:
            if predicate():
                return time.monotonic() - start
        except exception.ServiceGroupUnavailable:
            pass
        if time.monotonic() - start > timeout:
            pytest.fail(f"not true within {timeout}s: {predicate}")
        time.sleep(step)


def raises_unavailable(call):
    try:
        call()
    except exception.ServiceGroupUnavailable:
        return True
    return False


@pytest.fixture
def make_driver(zookeeper_server):  # noqa: F811
    drivers = []

    def make(address=None, **zookeeper):
        driver = zk.ZooKeeperDriver(make_conf(
            address or zookeeper_server.address, **zookeeper))
        drivers.append(driver)
        return driver

    yield make
    for driver in drivers:
        driver.stop()


@pytest.fixture
def group():
    """A group of our own, so tests never see each other's members."""
    return f"compute-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def kazoo(zookeeper_server):  # noqa: F811
    client = KazooClient(hosts=zookeeper_server.address, timeout=2)
    client.start(10)
    yield client
    client.stop()
    client.close()


def test_join_is_up_and_leave_is_down_at_once(make_driver, group):
    member, checker = make_driver(), make_driver()
    h1 = service("h1", group)
    assert checker.is_up(h1) is False
    member.join("h1", group)
    up_after = wait_for(lambda: checker.is_up(h1), 1)
    member.leave("h1", group)
    down_after = wait_for(lambda: not checker.is_up(h1), 1)
    print(f"\nzk join seen after {up_after * 1000:.1f} ms, "
          f"leave after {down_after * 1000:.1f} ms")
    assert down_after < 0.5


def test_znode_is_ephemeral_and_says_who_joined(make_driver, group, kazoo):
    member = make_driver()
    member.join("h1", group)
    data, stat = kazoo.get(f"{SG_PREFIX}/{group}/h1")
    assert stat.ephemeralOwner == member._client.client_id[0]
    content = json.loads(data)
    assert content["pid"] == os.getpid() and content["host"] == "h1"
    assert content["started_at"].endswith("+00:00")


def test_get_all_lists_current_members_sorted(make_driver, group):
    members = [make_driver() for _ in range(3)]
    checker = make_driver()
    for driver, host in zip(members, ["h3", "h1", "h2"]):
        driver.join(host, group)
    wait_for(lambda: checker.get_all(group) == ["h1", "h2", "h3"], 1)
    members[0].stop()
    wait_for(lambda: checker.get_all(group) == ["h1", "h2"], 1)
    assert checker.get_all(f"{group}-empty") == []


def test_are_up_equals_one_by_one(make_driver, group):
    member, checker = make_driver(), make_driver()
    other = f"{group}-other"
    for host in ("h1", "h3"):
        member.join(host, group)
    member.join("h2", other)
    services = [service(h, t) for t in (group, other)
                for h in ("h1", "h2", "h3", "h4")]
    wait_for(lambda: checker.get_all(group) == ["h1", "h3"]
             and checker.get_all(other) == ["h2"], 1)
    one_by_one = [checker.is_up(s) for s in services]
    assert one_by_one == [True, False, True, False, False, True, False, False]
    assert checker.are_up(services) == one_by_one
    # one topic only (the fast path), dicts and a topic-less service
    assert checker.are_up(services[:4]) == one_by_one[:4]
    dicts = [{"host": s.host, "topic": s.topic} for s in services]
    assert checker.are_up(dicts) == one_by_one
    assert checker.are_up([service("h1", None)]) == [False]
    assert checker.are_up([]) == []


def test_api_loads_zk_driver_and_forced_down_wins(
        zookeeper_server, group):  # noqa: F811
    group_api = sg_api.API(make_conf(zookeeper_server.address))
    try:
        assert isinstance(group_api.driver, zk.ZooKeeperDriver)
        group_api.join("h1", group)
        h1 = service("h1", group)
        wait_for(lambda: group_api.service_is_up(h1), 1)
        h1.forced_down = True
        assert group_api.service_is_up(h1) is False
        assert group_api.services_up([h1, service("h1", group)]) == [False,
                                                                     True]
    finally:
        group_api.stop()


def test_updated_time_is_when_the_member_joined(make_driver, group):
    member = make_driver()
    member.join("h1", group)
    joined = member.updated_time(service("h1", group))
    now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    assert joined.tzinfo is None  # naive UTC, ZooKeeper's clock is ours
    assert abs((now - joined).total_seconds()) < 2
    assert member.updated_time(service("h2", group)) is None


def test_join_replaces_znode_left_by_an_earlier_session(make_driver, group,
                                                        kazoo):
    path = f"{SG_PREFIX}/{group}/h1"
    kazoo.create(path, b'{"pid": 1}', ephemeral=True, makepath=True)
    member = make_driver()
    member.join("h1", group)
    data, stat = kazoo.get(path)
    assert stat.ephemeralOwner == member._client.client_id[0]
    assert json.loads(data)["pid"] == os.getpid()


def test_unreachable_zookeeper_is_unknown_not_down(make_driver, group):
    closed = f"127.0.0.1:{zk_support.free_port()}"
    driver = make_driver(closed, recv_timeout=1000)
    assert driver.connect_wait == 1.0  # waited that long, no longer
    driver.join("h1", group)  # remembered for later, does not raise
    h1 = service("h1", group)
    for call in (lambda: driver.is_up(h1), lambda: driver.are_up([h1]),
                 lambda: driver.get_all(group),
                 lambda: driver.updated_time(h1)):
        with pytest.raises(exception.ServiceGroupUnavailable) as info:
            call()
        assert info.value.driver == "zk"
        assert closed in str(info.value)


def test_lost_session_is_rejoined(
        make_driver, group, zookeeper_server):  # noqa: F811
    member, checker = make_driver(), make_driver()
    member.join("h1", group)
    h1 = service("h1", group)
    wait_for(lambda: checker.is_up(h1), 1)
    old_session = member._client.client_id[0]
    # expire the member's session: a twin client takes it over and closes it
    twin = KazooClient(hosts=zookeeper_server.address, timeout=2,
                       client_id=member._client.client_id)
    twin.start(10)
    twin.stop()
    twin.close()
    wait_for(lambda: not checker.is_up(h1), 2)
    back_after = wait_for(lambda: checker.is_up(h1), 5)
    print(f"\nzk member re-created {back_after * 1000:.0f} ms after its "
          "session was seen lost")
    assert member._client.client_id[0] != old_session
    assert back_after <= REPORT_INTERVAL


def test_sigkilled_member_is_down_within_session_timeout(
        make_driver, group, zookeeper_server):  # noqa: F811
    checker = make_driver()
    h1 = service("h1", group)
    assert checker.is_up(h1) is False
    spawn = multiprocessing.get_context("spawn")
    joined = spawn.Event()
    options = dict(address=zookeeper_server.address, sg_prefix=SG_PREFIX,
                   recv_timeout=RECV_TIMEOUT_MS)
    child = spawn.Process(target=zk_support.join_and_wait,
                          args=(options, group, "h1", joined))
    child.start()
    try:
        assert joined.wait(60), "the child never joined"
        wait_for(lambda: checker.is_up(h1), 2)
        os.kill(child.pid, signal.SIGKILL)
        killed = time.monotonic()
        child.join(10)
        down_after = wait_for(lambda: not checker.is_up(h1), 10)
        down_after = time.monotonic() - killed
    finally:
        if child.is_alive():
            child.kill()
            child.join()
    print(f"\nzk SIGKILLed member seen down after {down_after:.2f} s "
          f"(session timeout {RECV_TIMEOUT_MS / 1000} s)")
    assert down_after <= RECV_TIMEOUT_MS / 1000 + 1


def test_server_restart_is_unknown_then_members_come_back(
        make_driver, group, zookeeper_server):  # noqa: F811
    member, checker = make_driver(), make_driver()
    member.join("h1", group)
    h1, h2 = service("h1", group), service("h2", group)
    wait_for(lambda: checker.is_up(h1), 1)
    try:
        zookeeper_server.stop()
        wait_for(lambda: raises_unavailable(lambda: checker.is_up(h2)), 2)
        time.sleep(RECV_TIMEOUT_MS / 1000)  # down longer than a session
        for call in (lambda: checker.is_up(h1), lambda: checker.are_up([h1]),
                     lambda: checker.get_all(group)):
            with pytest.raises(exception.ServiceGroupUnavailable):
                call()
    finally:
        started = time.monotonic()
        zookeeper_server.start()  # returns once it serves (polled / 50 ms)
    back_after = wait_for(lambda: checker.is_up(h1), 10)
    print(f"\nzk members back {back_after * 1000:.0f} ms after the server "
          f"served again ({time.monotonic() - started:.2f} s after its start)")
    # an attempt in flight when the server came back may wait its whole
    # connect timeout; the next one is at most a retry gap (half a report
    # interval) later, and the member re-registers within a report interval
    assert back_after <= (zk_session.CONNECT_TIMEOUT_S + REPORT_INTERVAL / 2
                          + REPORT_INTERVAL + 0.5)
    assert checker.is_up(h2) is False
    assert checker.get_all(group) == ["h1"]
