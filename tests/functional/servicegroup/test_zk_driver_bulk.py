"""The zk driver's batches (``join_many``) and ``abandon`` against a real
ZooKeeper (support/zookeeper.py): the znodes of a batch made at once, made
again after a lost session, and left to the server's session expiry by a
crash (recv_timeout 2 s, the test server's tickTime 250 ms).
"""
import logging

import pytest
from kazoo.client import KazooClient

from hoststate.servicegroup.drivers import zk
from hoststate.servicegroup.drivers import zk_session
from functional.servicegroup.test_zk_driver import (  # noqa: F401 (fixtures)
    RECV_TIMEOUT_MS, SG_PREFIX, _forget_zookeeper_overrides, group, kazoo,
    make_conf, make_driver, service, wait_for)

HOSTS = [f"compute-{n:03d}" for n in range(200)]


def _batch(hosts, group):
    return [(host, group, None) for host in hosts]


def _owners(kazoo, group):
    """{host: ephemeral owner session} of the znodes of ``group``."""
    path = f"{SG_PREFIX}/{group}"
    if not kazoo.exists(path):
        return {}
    stats = {host: kazoo.exists(f"{path}/{host}")
             for host in kazoo.get_children(path)}
    return {host: stat.ephemeralOwner for host, stat in stats.items()
            if stat is not None}             # None: expired meanwhile


def test_a_batch_is_made_at_once(make_driver, group, kazoo):
    member, checker = make_driver(), make_driver()
    member.join_many(_batch(HOSTS, group))
    session = member._client.client_id[0]
    assert _owners(kazoo, group) == dict.fromkeys(HOSTS, session)
    wait_for(lambda: checker.get_all(group) == HOSTS, 2)
    assert checker.are_up([service(h, group) for h in HOSTS]) == \
        [True] * len(HOSTS)
    member.leave(HOSTS[0], group)
    wait_for(lambda: checker.get_all(group) == HOSTS[1:], 1)
    member.stop()
    assert _owners(kazoo, group) == {}


def test_a_batch_replaces_znodes_of_an_earlier_session(make_driver, group,
                                                       kazoo):
    kazoo.create(f"{SG_PREFIX}/{group}/{HOSTS[1]}", b'{"pid": 1}',
                 ephemeral=True, makepath=True)
    member = make_driver()
    member.join_many(_batch(HOSTS[:3], group))
    assert _owners(kazoo, group) == dict.fromkeys(
        HOSTS[:3], member._client.client_id[0])


def test_a_lost_session_remakes_the_whole_batch(make_driver, group,
                                                zookeeper_server):  # noqa: F811
    member, checker = make_driver(), make_driver()
    member.join_many(_batch(HOSTS, group))
    wait_for(lambda: checker.get_all(group) == HOSTS, 2)
    old_session = member._client.client_id[0]
    twin = KazooClient(hosts=zookeeper_server.address, timeout=2,
                       client_id=member._client.client_id)
    twin.start(10)
    twin.stop()                         # closes the member's session
    twin.close()
    wait_for(lambda: checker.get_all(group) != HOSTS, 2)
    wait_for(lambda: checker.get_all(group) == HOSTS, 5)
    assert member._client.client_id[0] != old_session


def test_abandon_leaves_the_znodes_to_the_session_expiry(make_driver, group,
                                                         kazoo, caplog):
    crashing, checker = make_driver(), make_driver()
    crashing.join_many(_batch(HOSTS, group))
    session = crashing._client.client_id[0]
    wait_for(lambda: checker.get_all(group) == HOSTS, 2)
    with caplog.at_level(logging.WARNING, logger="hoststate"):
        crashing.abandon()
        # no closeSession was sent: the server still has every znode
        assert _owners(kazoo, group) == dict.fromkeys(HOSTS, session)
        assert checker.get_all(group) == HOSTS
        wait_for(lambda: _owners(kazoo, group) == {},
                 RECV_TIMEOUT_MS / 1000 + 5)
        wait_for(lambda: checker.get_all(group) == [], 1)
        assert checker.are_up([service(h, group) for h in HOSTS[:2]]) == \
            [False, False]
        crashing.stop()                 # nothing left to do
        crashing.abandon()
    assert [r for r in caplog.records if r.name.startswith("hoststate")] == []
    assert crashing._client.state == "LOST"


def test_abandon_cuts_a_given_severable_client(zookeeper_server, group,
                                               kazoo):  # noqa: F811
    conf = make_conf(zookeeper_server.address)
    client = zk_session.make_client(conf, RECV_TIMEOUT_MS / 1000)
    client.start(10)
    try:
        driver = zk.ZooKeeperDriver(conf, client=client)
        driver.join_many(_batch(HOSTS[:2], group))
        driver.abandon()
        assert sorted(_owners(kazoo, group)) == HOSTS[:2]
        wait_for(lambda: _owners(kazoo, group) == {},
                 RECV_TIMEOUT_MS / 1000 + 5)
    finally:
        client.stop()
        client.close()


def test_abandon_refuses_a_client_it_cannot_cut(zookeeper_server, group,
                                                kazoo):  # noqa: F811
    client = KazooClient(hosts=zookeeper_server.address, timeout=2)
    client.start(10)
    try:
        driver = zk.ZooKeeperDriver(make_conf(zookeeper_server.address),
                                    client=client)
        driver.join("h1", group)
        with pytest.raises(TypeError):
            driver.abandon()
        driver.stop()                   # still a working driver
        assert _owners(kazoo, group) == {}
    finally:
        client.stop()
        client.close()
