"""Bulk is-up of the mc liveness driver for 10,000 compute services.

One ``are_up`` call (one multi-get) over 10,000 services, half of them up,
against a real memcached, two memcached servers (HashClient) and the
in-process store. Besides pytest-benchmark's own statistics (with
``--benchmark-enable``), each test times a few calls itself and writes the
best into ``benchmark.extra_info``, so the figure is there even in CI's
single-run mode.
"""
import time

import pytest
from oslo_config import cfg

from hoststate import conf as hconf
from hoststate.objects.service import Service
from hoststate.servicegroup.drivers import mc

SERVICES = 10_000
OWN_TIMINGS = 5


@pytest.fixture(scope="module")
def services():
    return [Service(host=f"compute-{i:05d}", binary="nova-compute",
                    topic="compute") for i in range(SERVICES)]


def _driver(servers, client=None):
    conf = hconf.load(args=[], conf=cfg.ConfigOpts(), use_env=False)
    conf.set_override("memcached_servers", servers)
    return mc.MemcachedDriver(conf, client=client)


def _mark_half_up(driver, services):
    stamp = b"2024-01-01T00:00:00+00:00"
    keys = [mc.liveness_key("compute", s.host) for s in services[::2]]
    if hasattr(driver.client, "set_many"):
        driver.client.set_many(dict.fromkeys(keys, stamp), expire=600,
                               noreply=False)
    else:
        for key in keys:
            driver.client.set(key, stamp, expire=600)


def _run(benchmark, driver, services, backend):
    _mark_half_up(driver, services)
    timings = []
    for _ in range(OWN_TIMINGS):
        start = time.perf_counter()
        answers = driver.are_up(services)
        timings.append(time.perf_counter() - start)
    assert answers == [i % 2 == 0 for i in range(SERVICES)]
    assert benchmark(driver.are_up, services) == answers
    benchmark.extra_info.update(
        backend=backend, services=SERVICES, up=sum(answers),
        best_ms=round(min(timings) * 1e3, 3),
        median_ms=round(sorted(timings)[OWN_TIMINGS // 2] * 1e3, 3))
    driver.stop()


def test_bulk_is_up_10k_memcached(benchmark, services, memcached_server):  # noqa: F811
    driver = _driver([memcached_server.address])
    driver.client.flush_all()
    _run(benchmark, driver, services, "memcached, one server")


def test_bulk_is_up_10k_two_memcached(benchmark, services, memcached_factory):  # noqa: F811
    driver = _driver([memcached_factory().address, memcached_factory().address])
    _run(benchmark, driver, services, "memcached, two servers (HashClient)")


def test_bulk_is_up_10k_in_process_store(benchmark, services):
    driver = _driver(None, client=mc.LocalStore())
    _run(benchmark, driver, services, "in-process store")
