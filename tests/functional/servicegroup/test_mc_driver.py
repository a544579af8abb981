"""The mc liveness driver against a real memcached and the in-process store.

Real clocks with short intervals: report_interval 1 s, service_down_time 3 s.
memcached expires keys on its own one-second clock, so a key set with expiry
3 lives between 2 and 3 s; the in-process store keeps it exactly 3 s.
"""
import collections
import datetime
import logging
import time

import pytest
from oslo_config import cfg
from pymemcache.client.base import Client

from hoststate import conf as hconf
from hoststate import exception
from hoststate.objects.service import Service
from hoststate.servicegroup.drivers import mc
from support.memcached import free_port

REPORT_INTERVAL = 1
DOWN_TIME = 3
SLACK = 0.6


def make_conf(servers=None):
    conf = hconf.load(args=[], conf=cfg.ConfigOpts(), use_env=False)
    conf.set_override("report_interval", REPORT_INTERVAL)
    conf.set_override("service_down_time", DOWN_TIME)
    conf.set_override("memcached_servers", servers)
    return conf


def service(host, topic="compute", **fields):
    return Service(host=host, binary="nova-compute", topic=topic, **fields)


class Spy:
    """Delegates to a client and counts the calls by method name."""

    def __init__(self, inner):
        self.inner = inner
        self.calls = collections.Counter()

    def __getattr__(self, name):
        attr = getattr(self.inner, name)
        if not callable(attr):
            return attr

        def call(*args, **kwargs):
            self.calls[name] += 1
            return attr(*args, **kwargs)
        return call


def crash(driver):
    """Stop every heartbeat of ``driver`` without leaving, as a killed
    process would: its keys stay until they expire."""
    driver.abandon()


def wait_until(predicate, timeout):
    """Seconds until ``predicate()`` held, or None after ``timeout``."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if predicate():
            return time.monotonic() - start
        time.sleep(0.02)
    return None


@pytest.fixture(params=["memcached", "local"])
def backend(request):
    """``(conf, client)``: a flushed real memcached, or a fresh LocalStore."""
    if request.param == "memcached":
        server = request.getfixturevalue("memcached_server")
        client = mc.make_client([server.address])
        client.flush_all()
        yield make_conf([server.address]), client
        client.close()
    else:
        yield make_conf(), mc.LocalStore()


@pytest.fixture
def drivers():
    """``new(conf, **kwargs)`` -> a MemcachedDriver stopped after the test."""
    made = []

    def new(conf, **kwargs):
        made.append(mc.MemcachedDriver(conf, **kwargs))
        return made[-1]
    yield new
    for driver in made:
        driver.stop()


# --- Nova's behaviour (nova_behaviour.md 7 item 7) ---------------------------

def test_up_exactly_when_key_compute_fake_host_exists(backend, drivers):
    conf, client = backend
    driver = drivers(conf, client=client)
    svc = service("fake-host")
    assert not driver.is_up(svc)
    client.set("compute:fake-host", b"2024-01-01T00:00:00+00:00", noreply=False)
    assert driver.is_up(svc)
    assert driver.is_up({"host": "fake-host", "topic": "compute"})
    assert not driver.is_up(service("fake-host", topic="conductor"))
    client.delete("compute:fake-host", noreply=False)
    assert not driver.is_up(svc)


# --- the contract -------------------------------------------------------------

def test_join_is_up_at_once_and_listed(backend, drivers):
    conf, client = backend
    driver = drivers(conf, client=client)
    driver.join("h1", "compute")
    driver.join("h2", "compute")
    driver.join("s1", "scheduler")
    assert driver.is_up(service("h1")) and driver.is_up(service("h2"))
    assert not driver.is_up(service("h3"))
    assert driver.get_all("compute") == ["h1", "h2"]
    assert driver.get_all("scheduler") == ["s1"]
    assert driver.get_all("conductor") == []
    stamp = client.get("compute:h1").decode()
    assert datetime.datetime.fromisoformat(stamp).utcoffset() == datetime.timedelta(0)


def test_heartbeats_keep_it_up_and_it_expires_when_they_stop(backend, drivers):
    conf, client = backend
    alive = drivers(conf, client=client)
    dying = drivers(conf, client=client)
    alive.join("alive", "compute")
    dying.join("dying", "compute")
    crash(dying)                    # its last (and only) beat was at join
    took = wait_until(lambda: not alive.is_up(service("dying")), DOWN_TIME + SLACK)
    assert took is not None, "a key that is no longer refreshed never expired"
    # memcached's one-second clock: between DOWN_TIME - 1 and DOWN_TIME
    assert took >= DOWN_TIME - 1 - SLACK
    # past its first key's expiry, only the heartbeats keep "alive" up
    time.sleep(max(0.0, DOWN_TIME + 0.5 - took))
    assert alive.is_up(service("alive"))
    assert alive.get_all("compute") == ["alive"]


def test_leave_is_down_at_once(backend, drivers):
    conf, client = backend
    driver = drivers(conf, client=client)
    driver.join("h1", "compute")
    driver.join("h2", "compute")
    driver.leave("h1", "compute")
    assert not driver.is_up(service("h1"))
    assert driver.get_all("compute") == ["h2"]
    time.sleep(REPORT_INTERVAL + 0.3)   # no heartbeat revives it
    assert not driver.is_up(service("h1"))
    assert driver.get_all("compute") == ["h2"]


def test_stop_leaves_every_member_and_ends_the_threads(backend, drivers):
    conf, client = backend
    driver = drivers(conf, client=client)
    for host in ("h1", "h2", "h3"):
        driver.join(host, "compute")
    threads = [r.thread for r in driver._reporters.values()]
    start = time.monotonic()
    driver.stop()
    assert time.monotonic() - start < 0.5
    assert not any(thread.is_alive() for thread in threads)
    assert driver.are_up([service(h) for h in ("h1", "h2", "h3")]) == [False] * 3
    assert driver.get_all("compute") == []


def test_are_up_is_one_multi_get_and_equals_one_by_one(backend, drivers):
    conf, client = backend
    spy = Spy(client)
    driver = drivers(conf, client=spy)
    for host in ("h1", "h3", "h5"):
        driver.join(host, "compute")
    crash(driver)
    services = [service(f"h{i}") for i in range(8)] + [
        service("h1"), {"host": "h3", "topic": "compute"}, service("h1", "other")]
    spy.calls.clear()
    bulk = driver.are_up(services)
    assert spy.calls == {"get_many": 1}
    assert bulk == [driver.is_up(s) for s in services]
    assert bulk == [False, True, False, True, False, True, False, False,
                    True, True, False]
    assert driver.are_up([]) == []


def test_get_all_prunes_hosts_that_died_without_leaving(backend, drivers):
    conf, client = backend
    driver = drivers(conf, client=client)
    dead = "dead-host"
    key = mc.bucket_key("compute", mc.bucket_of(dead))
    client.set(key, b'["dead-host"]', noreply=False)   # listed, no key
    assert driver.get_all("compute") == []
    # the next write to that bucket drops it
    other = next(h for h in (f"h{i}" for i in range(100))
                 if mc.bucket_of(h) == mc.bucket_of(dead))
    driver.join(other, "compute")
    assert client.get(key) == b'["%s"]' % other.encode()


def test_hosts_that_are_not_memcached_keys_are_hashed(backend, drivers):
    conf, client = backend
    driver = drivers(conf, client=client)
    # "compute:" + 255 characters (the longest host a services row holds)
    # is longer than memcached's 250-byte keys
    odd = ["host with spaces", "hôte", "x" * 255]
    for host in odd:
        driver.join(host, "compute")
    assert driver.are_up([service(h) for h in odd]) == [True] * 3
    assert driver.get_all("compute") == sorted(odd)


def test_updated_time_is_the_newer_of_memcached_and_the_service(backend, drivers):
    conf, client = backend
    driver = drivers(conf, client=client)
    utc = datetime.timezone.utc
    assert driver.updated_time(service("h1")) is None
    old = datetime.datetime(2020, 1, 1, tzinfo=utc)
    assert driver.updated_time(service("h1", updated_at=old)) == old.replace(tzinfo=None)
    before = datetime.datetime.now(utc).replace(tzinfo=None)
    driver.join("h1", "compute")
    reported = driver.updated_time(service("h1"))
    assert before <= reported <= datetime.datetime.now(utc).replace(tzinfo=None)
    assert driver.updated_time(service("h1", updated_at=old)) == reported
    future = datetime.datetime(2999, 1, 1, tzinfo=utc)
    assert driver.updated_time(service("h1", updated_at=future)) == \
        future.replace(tzinfo=None)


# --- storage ------------------------------------------------------------------

def test_without_servers_drivers_of_one_process_share_the_local_store(drivers):
    member = drivers(make_conf())
    checker = drivers(make_conf())
    assert member.client is mc.PROCESS_STORE is checker.client
    member.join("shared-host", "compute")
    assert checker.is_up(service("shared-host"))
    assert "shared-host" in checker.get_all("compute")
    member.leave("shared-host", "compute")
    assert not checker.is_up(service("shared-host"))


def test_local_store_answers_like_memcached():
    now = [100.0]
    store = mc.LocalStore(clock=lambda: now[0])
    assert store.set("k", "v", expire=3) is True
    assert store.get("k") == b"v" and store.get_many(["k", "x"]) == {"k": b"v"}
    assert store.add("k", b"w") is False
    value, token = store.gets("k")
    assert store.cas("k", b"w", token) is True
    assert store.cas("k", b"z", token) is False            # EXISTS
    assert store.cas("nothing", b"z", token) is None       # NOT_FOUND
    assert store.gets("nothing") == (None, None)
    now[0] += 2.999
    assert store.get("k") == b"w"                          # cas kept expire 0
    store.set("t", b"1", expire=3)
    now[0] += 2.999
    assert store.get("t") == b"1"
    now[0] += 0.001
    assert store.get("t") is None and store.get_many(["t"]) == {}
    assert store.add("t", b"2") is True                    # gone means addable
    assert store.delete("t") is True and store.delete("t") is False


def test_several_servers_spread_keys_and_each_is_found(memcached_factory, drivers):
    servers = [memcached_factory(), memcached_factory()]
    conf = make_conf([s.address for s in servers])
    driver = drivers(conf)
    assert type(driver.client).__name__ == "HashClient"
    hosts = [f"compute-{i:03d}" for i in range(60)]
    for host in hosts:
        driver.join(host, "compute")
    crash(driver)
    keys = [mc.liveness_key("compute", h) for h in hosts]
    per_server = []
    for server in servers:
        direct = Client(server.address)
        per_server.append(set(direct.get_many(keys)))
        direct.close()
    assert all(len(found) >= 10 for found in per_server), [len(f) for f in per_server]
    assert per_server[0].isdisjoint(per_server[1])
    assert per_server[0] | per_server[1] == set(keys)
    spy = Spy(driver.client)
    driver.client = spy
    assert driver.are_up([service(h) for h in hosts]) == [True] * len(hosts)
    assert spy.calls == {"get_many": 1}
    assert driver.get_all("compute") == sorted(hosts)


# --- faults -------------------------------------------------------------------

def test_unreachable_memcached_is_unknown_liveness_not_down(drivers, caplog):
    conf = make_conf([f"127.0.0.1:{free_port()}"])     # nobody listens
    driver = drivers(conf)
    with caplog.at_level(logging.WARNING, logger=mc.__name__):
        driver.join("h1", "compute")                   # does not raise
    assert len(caplog.records) == 1 and "heartbeat" in caplog.text
    for _ in range(3):                                 # every time, not once
        with pytest.raises(exception.ServiceGroupUnavailable) as info:
            driver.is_up(service("h1"))
        assert info.value.driver == "mc"
    for call in (lambda: driver.are_up([service("h1")]),
                 lambda: driver.get_all("compute"),
                 lambda: driver.updated_time(service("h1"))):
        with pytest.raises(exception.ServiceGroupUnavailable):
            call()


def test_one_dead_server_of_two_is_an_error_every_time(memcached_factory, drivers):
    live = memcached_factory()
    conf = make_conf([live.address, f"127.0.0.1:{free_port()}"])
    driver = drivers(conf)
    hosts = [f"compute-{i:03d}" for i in range(20)]
    # pymemcache's failover would answer misses, then rehash: never here
    for _ in range(4):
        with pytest.raises(exception.ServiceGroupUnavailable):
            driver.are_up([service(h) for h in hosts])


def test_memcached_restart_members_back_within_one_report_interval(
        memcached_factory, drivers, caplog):
    server = memcached_factory()
    conf = make_conf([server.address])
    members = drivers(conf)
    checker = drivers(conf)
    hosts = ["h1", "h2", "h3"]
    for host in hosts:
        members.join(host, "compute")
    assert checker.get_all("compute") == hosts
    with caplog.at_level(logging.INFO, logger=mc.__name__):
        server.stop()
        with pytest.raises(exception.ServiceGroupUnavailable):
            checker.are_up([service(h) for h in hosts])
        time.sleep(2 * REPORT_INTERVAL + 0.2)          # two failed beats each
        assert server.start() is None                  # same port, empty
        back = time.monotonic()
        took = wait_until(lambda: checker.get_all("compute") == hosts,
                          REPORT_INTERVAL + SLACK)
    assert took is not None, "members did not come back in one report_interval"
    assert checker.are_up([service(h) for h in hosts]) == [True] * 3
    assert time.monotonic() - back <= REPORT_INTERVAL + SLACK
    failed = [r for r in caplog.records if "failed" in r.getMessage()]
    recovered = [r for r in caplog.records if "recovered" in r.getMessage()]
    assert len(failed) == 3 and len(recovered) == 3    # once per member
