"""One bulk heartbeat round (``join_many``) for 10,000 members.

What ``hoststate simulate`` pays every ``report_interval`` to keep its
simulated hosts alive through one reporter thread: on the db driver
(chunked ``UPDATE ... WHERE id IN (...)``, on SQLite, PostgreSQL and
MariaDB) and the mc driver (multi-sets plus one members-list read per
group, on a real memcached and the in-process store).

CI runs each once with 1,000 members (``--benchmark-disable``);
``pytest benchmarks/bench_servicegroup_bulk.py --benchmark-enable`` times
10,000. Besides pytest-benchmark's statistics, each test times a few rounds
itself and writes the best into ``benchmark.extra_info`` (and prints it),
so the figure is there in either mode.
"""
import time
import uuid

import pytest
import sqlalchemy as sa
from oslo_config import cfg

from hoststate import conf as hs_conf
from hoststate.db import api as db_api
from hoststate.db import schema
from hoststate.objects import service as service_obj
from hoststate.servicegroup.drivers import db
from hoststate.servicegroup.drivers import mc
from run_mode import full_mode

FULL, SHORT = 10_000, 1_000
OWN_TIMINGS = 5
NEVER = 3600.0     # an initial delay: the test drives every round itself


def _size(request):
    """Full size when timings are wanted (``--benchmark-enable``)."""
    return FULL if full_mode(request.config) else SHORT


def _conf(servers=None):
    options = hs_conf.load(args=[], config_files=[], conf=cfg.ConfigOpts(),
                           use_env=False)
    options.set_override("service_down_time", 60)
    options.set_override("memcached_servers", servers)
    return options


def _time_rounds(benchmark, beat, count, label):
    """Best and median of a few rounds of ``beat``, then pytest-benchmark's."""
    timings = []
    for _ in range(OWN_TIMINGS):
        start = time.perf_counter()
        beat()
        timings.append(time.perf_counter() - start)
    benchmark(beat)
    best, median = min(timings), sorted(timings)[OWN_TIMINGS // 2]
    benchmark.extra_info.update(backend=label, members=count,
                                best_ms=round(best * 1e3, 1),
                                median_ms=round(median * 1e3, 1))
    print(f"\n{label}: one bulk heartbeat of {count} members: best "
          f"{best * 1e3:.1f} ms, median {median * 1e3:.1f} ms")


# --- db ----------------------------------------------------------------------

def _insert_services(ctx, count):
    with ctx.engine.begin() as conn:
        now = conn.execute(sa.select(db_api.server_utcnow())).scalar()
        conn.execute(sa.insert(schema.services), [dict(
            uuid=str(uuid.uuid4()), host=f"host{n:05d}", binary="nova-compute",
            topic="compute", report_count=0, disabled=False, forced_down=False,
            version=1, generation=0, deleted=0, created_at=now)
            for n in range(count)])
    return service_obj.ServiceList.get_by_topic(ctx, "compute").objects


def test_db_bulk_heartbeat_round(benchmark, request, ctx):
    count = _size(request)
    services = _insert_services(ctx, count)
    driver = db.DbDriver(_conf(), ctx, initial_delay=NEVER)
    try:
        driver.join_many([(s.host, "compute", s) for s in services])
        reporter = driver._reporters[(services[0].host, "compute")]

        def beat():
            assert len(reporter.beat()) == count

        _time_rounds(benchmark, beat, count, f"db, {ctx.engine.dialect.name}")
    finally:
        driver.stop()
    with ctx.engine.connect() as conn:
        low, high = conn.execute(sa.select(
            sa.func.min(schema.services.c.report_count),
            sa.func.max(schema.services.c.report_count))).one()
    assert low == high >= OWN_TIMINGS + 1     # every round beat every member
    assert driver.are_up(services) == [True] * count


# --- mc ----------------------------------------------------------------------

@pytest.fixture(params=["memcached", "in-process store"])
def mc_driver(request):
    if request.param == "memcached":
        server = request.getfixturevalue("memcached_server")
        driver = mc.MemcachedDriver(_conf([server.address]),
                                    initial_delay=NEVER)
        driver.client.flush_all()
    else:
        driver = mc.MemcachedDriver(_conf(), client=mc.LocalStore(),
                                    initial_delay=NEVER)
    yield request.param, driver
    driver.stop()


def test_mc_bulk_heartbeat_round(benchmark, request, mc_driver):
    label, driver = mc_driver
    count = _size(request)
    hosts = [f"compute-{n:05d}" for n in range(count)]
    driver.join_many([(host, "compute", None) for host in hosts])
    reporter = driver._reporters[("compute", hosts[0])]
    reporter.beat()                  # the first round lists every member
    _time_rounds(benchmark, reporter.beat, count, f"mc, {label}")
    assert reporter.failing is False
    assert driver.get_all("compute") == hosts
