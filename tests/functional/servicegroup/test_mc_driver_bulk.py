"""The mc driver's batches (``join_many``) and ``abandon``, against a real
memcached and the in-process store: one thread per batch, multi-sets, one
members-list read per group and beat, and a crash that deletes nothing.
"""
import threading
import time

import pytest

from hoststate.servicegroup.drivers import mc
from functional.servicegroup.test_mc_driver import (  # noqa: F401 (fixtures)
    DOWN_TIME, REPORT_INTERVAL, SLACK, Spy, backend, drivers, service,
    wait_until)

HOSTS = [f"compute-{n:03d}" for n in range(50)]


def _batch(hosts, group="compute"):
    return [(host, group, None) for host in hosts]


def _heartbeat_threads():
    return [t for t in threading.enumerate()
            if t.name.startswith("mc-heartbeat-")]


def _listed(client, group):
    """Every host in ``group``'s members lists."""
    lists = client.get_many([mc.bucket_key(group, i)
                             for i in range(mc.MEMBER_BUCKETS)])
    return set().union(*(mc._decode_hosts(raw) for raw in lists.values()))


def test_a_batch_is_up_at_once_with_one_thread(backend, drivers):
    conf, client = backend
    driver = drivers(conf, client=client)
    before = len(_heartbeat_threads())
    driver.join_many(_batch(HOSTS) + _batch(["s1"], "scheduler"))
    assert len(_heartbeat_threads()) == before + 1
    assert driver.are_up([service(h) for h in HOSTS]) == [True] * len(HOSTS)
    assert driver.get_all("compute") == HOSTS
    assert driver.get_all("scheduler") == ["s1"]


def test_a_beat_is_one_multi_set_and_one_list_read_per_group(backend, drivers):
    conf, client = backend
    spy = Spy(client)
    driver = drivers(conf, client=spy)
    driver.join_many(_batch(HOSTS) + _batch(["s1", "s2"], "scheduler"))
    first = dict(spy.calls)
    # the first beat lists every member: one write per bucket used
    buckets = {mc.bucket_of(h) for h in HOSTS} | {mc.bucket_of("s1"),
                                                  mc.bucket_of("s2")}
    assert first["set_many"] == 1 and first["get_many"] >= 2
    assert first.get("add", 0) + first.get("cas", 0) >= len(buckets)
    spy.calls.clear()
    driver._reporters[("compute", HOSTS[0])].beat()
    assert spy.calls == {"set_many": 1, "get_many": 2}


def test_the_batch_heals_lost_lists_within_one_report_interval(backend,
                                                               drivers):
    conf, client = backend
    driver = drivers(conf, client=client)
    driver.join_many(_batch(HOSTS))
    for index in range(mc.MEMBER_BUCKETS):
        client.delete(mc.bucket_key("compute", index), noreply=False)
    assert driver.get_all("compute") == []
    assert wait_until(lambda: driver.get_all("compute") == HOSTS,
                      REPORT_INTERVAL + SLACK) is not None


def test_leave_of_a_batch_member_is_down_at_once_and_stays_down(backend,
                                                                drivers):
    conf, client = backend
    driver = drivers(conf, client=client)
    driver.join_many(_batch(["h1", "h2", "h3"]))
    driver.leave("h2", "compute")
    assert driver.are_up([service(h) for h in ("h1", "h2", "h3")]) == \
        [True, False, True]
    time.sleep(REPORT_INTERVAL + 0.3)        # no beat of the batch revives it
    assert driver.get_all("compute") == ["h1", "h3"]


def test_stop_deletes_a_batch_in_bulk(backend, drivers):
    conf, client = backend
    spy = Spy(client)
    driver = drivers(conf, client=spy)
    driver.join_many(_batch(HOSTS))
    spy.calls.clear()
    driver.stop()
    assert spy.calls["delete_many"] == 1 and spy.calls["delete"] == 0
    assert not any(driver.are_up([service(h) for h in HOSTS]))
    assert _listed(client, "compute") == set()


def test_abandon_deletes_nothing_and_the_keys_expire(backend, drivers):
    conf, client = backend
    spy = Spy(client)
    crashing = drivers(conf, client=spy)
    checker = drivers(conf, client=client)
    crashing.join_many(_batch(HOSTS))
    crashing.join("single", "compute")
    threads = _heartbeat_threads()
    spy.calls.clear()
    crashing.abandon()
    crashing.stop()
    assert spy.calls == {}                   # no delete, no list touched
    assert not any(t.is_alive() for t in threads)
    assert checker.get_all("compute") == sorted(HOSTS + ["single"])
    assert wait_until(lambda: checker.get_all("compute") == [],
                      DOWN_TIME + SLACK) is not None
    assert _listed(client, "compute") == set(HOSTS) | {"single"}


@pytest.mark.parametrize("size", [mc.MANY + 1])
def test_a_batch_larger_than_one_call_is_split(backend, drivers, size):
    conf, client = backend
    spy = Spy(client)
    driver = drivers(conf, client=spy)
    hosts = [f"h{n:05d}" for n in range(size)]
    driver.join_many(_batch(hosts))
    assert spy.calls["set_many"] == 2
    assert driver.are_up([service(h) for h in hosts]) == [True] * size
    assert driver.get_all("compute") == hosts
