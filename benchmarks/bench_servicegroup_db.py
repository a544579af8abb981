"""db liveness driver costs: bulk is-up for 10,000 services, heartbeat load.

CI runs each once (``--benchmark-disable``); run
``pytest benchmarks/bench_servicegroup_db.py --benchmark-enable`` for
timings. The heartbeat load is a rate, measured over a window either way.
"""
import datetime
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
from run_mode import full_mode

SERVICES = schema.services
BULK = 10_000
DOWN_TIME = 60
#: The cached answer's goal for 10,000 services is 1 ms; CI machines are
#: slower and busier than the one the goal was set on.
CACHED_CEILING_S = 0.005
MEMBERS, LOAD_INTERVAL_S, WINDOW_S = 1000, 10, 5
#: the same rate check, smaller and shorter, in the test run (run_mode)
SHORT_MEMBERS, SHORT_INTERVAL_S, SHORT_WINDOW_S = 400, 4, 2


@pytest.fixture
def conf():
    options = cfg.ConfigOpts()
    hs_conf.load(args=[], config_files=[], conf=options)
    options.set_override("service_down_time", DOWN_TIME)
    return options


def _half_up(n):
    return 0 if n % 2 == 0 else 2 * DOWN_TIME


def _insert_services(ctx, count, beat_ago=_half_up):
    """``count`` compute services, heartbeat ``beat_ago(n)`` seconds ago on
    the server's clock: with the default, every other one is up."""
    with ctx.engine.begin() as conn:
        now = conn.execute(sa.select(db_api.server_utcnow())).scalar()
        conn.execute(sa.insert(SERVICES), [dict(
            uuid=str(uuid.uuid4()), host=f"host{n:05d}", binary="nova-compute",
            topic="compute", report_count=1, disabled=False, forced_down=False,
            version=1, generation=0, deleted=0, created_at=now,
            last_seen_up=now - datetime.timedelta(seconds=beat_ago(n)))
            for n in range(count)])
    return service_obj.ServiceList.get_by_topic(ctx, "compute").objects


@pytest.fixture
def bulk_services(ctx):
    return _insert_services(ctx, BULK)


def _expected_up(services):
    return [_half_up(int(s.host[4:])) == 0 for s in services]


def test_bulk_is_up_of_10000_services_from_the_database(
        benchmark, ctx, conf, bulk_services):
    driver = db.DbDriver(conf, ctx)
    answers = benchmark(driver.are_up, bulk_services)
    assert answers == _expected_up(bulk_services)


def test_bulk_is_up_of_10000_services_from_the_last_bulk_read(
        benchmark, ctx, conf, bulk_services):
    driver = db.DbDriver(conf, ctx)
    fresh = driver.are_up(bulk_services)
    read_at = driver.last_bulk_read

    answers = benchmark(driver.are_up, bulk_services, max_age=3600)

    assert answers == fresh == _expected_up(bulk_services)
    assert driver.last_bulk_read == read_at          # no read was made
    assert _best_of(20, lambda: driver.are_up(bulk_services, max_age=3600)) \
        < CACHED_CEILING_S


def _best_of(rounds, call):
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - started)
    return best


def _count_writes(ctx, seconds):
    """(UPDATEs of services sent, heartbeats stored) during ``seconds``."""
    statements = []

    def count(conn, cursor, statement, *args):
        if statement.lstrip().upper().startswith("UPDATE SERVICES"):
            statements.append(1)

    before = _total_reports(ctx)
    sa.event.listen(ctx.engine, "before_cursor_execute", count)
    try:
        time.sleep(seconds)
    finally:
        sa.event.remove(ctx.engine, "before_cursor_execute", count)
    return len(statements), _total_reports(ctx) - before


def _total_reports(ctx):
    with ctx.engine.connect() as conn:
        return conn.execute(sa.select(sa.func.sum(SERVICES.c.report_count))).scalar()


def test_heartbeat_load_is_members_per_interval(benchmark, ctx, conf,
                                               request):
    """1,000 members at report_interval 10 s (400 at 4 s in the test run):
    the database must see members / interval writes per second, not more.

    Each member has its own driver, as each compute process does, and they
    started at spread times, as processes do (the first heartbeats are
    spread evenly over one interval). The window opens one interval after
    the start, so every member is on its second or later beat: a driver
    that beat too often, retried or caught up in bursts would show here.
    """
    members, interval, window = (
        (MEMBERS, LOAD_INTERVAL_S, WINDOW_S) if full_mode(request.config)
        else (SHORT_MEMBERS, SHORT_INTERVAL_S, SHORT_WINDOW_S))
    conf.set_override("report_interval", interval)
    services = _insert_services(ctx, members, beat_ago=lambda n: 0)
    drivers = []
    started = time.monotonic()
    try:
        for n, service in enumerate(services):
            # the first beat at started + n * interval / members, however
            # long joining the ones before took
            first = started + n * interval / members
            drivers.append(db.DbDriver(
                conf, ctx, initial_delay=max(0.0, first - time.monotonic())))
            drivers[-1].join(service.host, "compute", service)
        time.sleep(max(0.0, started + interval - time.monotonic()))
        writes, beats = benchmark.pedantic(_count_writes, args=(ctx, window),
                                           rounds=1, iterations=1)
    finally:
        for driver in drivers:
            driver.stop()
    expected = members * window / interval
    benchmark.extra_info.update(writes_per_s=writes / window,
                                heartbeats_per_s=beats / window)
    print(f"\n{ctx.engine.dialect.name}: {writes / window:.1f} writes/s, "
          f"{beats / window:.1f} heartbeats/s for {members} members at "
          f"report_interval {interval} s (expected "
          f"{expected / window:.0f}/s)")
    assert writes <= expected * 1.1
    assert beats >= expected * 0.9
