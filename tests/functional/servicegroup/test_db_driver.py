"""The db liveness driver's judgement on SQLite, PostgreSQL and MariaDB:
Nova's is-up rule, the bulk read, the database server's clock.

Times are set in the rows relative to the database server's "now", which
is the clock the driver stamps and judges with (see the driver's docstring).
"""
import datetime
import socket
import time

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from hoststate import context as hs_context
from hoststate import exception
from hoststate.db import api as db_api
from hoststate.db import engine as db_engine
from hoststate.db import schema
from hoststate.objects import service as service_obj
from support.db_liveness import (  # noqa: F401 (conf: a fixture make_driver uses)
    DOWN_TIME, SERVICES, ago, conf, counted_selects, make_driver, make_service,
    row, server_now, set_row)


def _freeze_server_clock(monkeypatch, ctx, at):
    """Make the driver's "server now" a constant, as Nova's tests freeze
    utcnow: an exact boundary cannot be hit with a running clock."""
    frozen = sa.literal(at, schema.DateTime)
    if ctx.engine.dialect.name != "sqlite":
        frozen = sa.cast(frozen, schema.DateTime)
    monkeypatch.setattr(db_api, "server_utcnow", lambda: frozen)


# --- judging (Nova's test_is_up, item 4) -----------------------------------

@pytest.mark.parametrize("elapsed, up", [
    (0, True), (DOWN_TIME, True), (DOWN_TIME + 1, False),
    (-DOWN_TIME, True), (-DOWN_TIME - 1, False),  # a heartbeat from the future
])
def test_up_within_down_time_inclusive_at_a_frozenserver_now(
        ctx, make_driver, monkeypatch, elapsed, up):
    service = make_service(ctx, "h1")
    now = server_now(ctx).replace(microsecond=0)
    set_row(ctx, service.id,
             last_seen_up=now - datetime.timedelta(seconds=elapsed))
    _freeze_server_clock(monkeypatch, ctx, now)
    driver = make_driver()

    assert driver.is_up(service) is up
    assert driver.are_up([service]) == [up]
    assert driver.get_all("compute") == (["h1"] if up else [])


@pytest.mark.parametrize("elapsed, up", [(0, True), (DOWN_TIME - 1, True),
                                         (DOWN_TIME + 1, False)])
def test_up_within_down_time_on_the_running_server_clock(ctx, make_driver,
                                                         elapsed, up):
    service = make_service(ctx, "h1")
    set_row(ctx, service.id, last_seen_up=ago(ctx, elapsed))
    assert make_driver().is_up(service) is up


def test_fresh_updated_at_does_not_revive_a_stale_heartbeat(ctx, make_driver):
    service = make_service(ctx, "h1")
    set_row(ctx, service.id, last_seen_up=ago(ctx, 60), updated_at=ago(ctx, 0))
    operator_copy = service_obj.Service.get_by_id(ctx, service.id)
    operator_copy.disabled = True           # enabling/disabling moves updated_at
    operator_copy.save()
    assert make_driver().is_up(service) is False


@pytest.mark.parametrize("created_ago, up", [(DOWN_TIME - 5, True),
                                             (DOWN_TIME + 5, False)])
def test_without_a_heartbeat_created_at_counts(ctx, make_driver, created_ago, up):
    service = make_service(ctx, "h1")
    set_row(ctx, service.id, last_seen_up=None, created_at=ago(ctx, created_ago))
    assert make_driver().is_up(service) is up


def test_bulk_equals_one_by_one_in_one_query(ctx, make_driver):
    up, stale, fresh, old, gone = (make_service(ctx, h) for h in "abcde")
    set_row(ctx, up.id, last_seen_up=ago(ctx, 1))
    set_row(ctx, stale.id, last_seen_up=ago(ctx, 60))
    set_row(ctx, old.id, created_at=ago(ctx, 60))   # never heartbeat, old
    gone.destroy()
    never_created = service_obj.Service(ctx, host="x", binary="nova-compute")
    asked = [up, stale, fresh, old, gone, 10**9, {"id": up.id}, never_created]
    driver = make_driver()

    with counted_selects(ctx.engine) as selects:
        bulk = driver.are_up(asked)

    assert bulk == [True, False, True, False, False, False, True, False]
    assert bulk == [driver.is_up(s) for s in asked]
    assert len(selects) == 1


def test_last_bulk_read_answers_from_memory_until_windows_run_out(ctx, make_driver):
    expiring, other = make_service(ctx, "a"), make_service(ctx, "b")
    set_row(ctx, expiring.id, last_seen_up=ago(ctx, DOWN_TIME - 0.5))
    driver = make_driver()
    assert driver.last_bulk_read is None
    assert driver.are_up([expiring]) == [True]
    read_at = driver.last_bulk_read

    with counted_selects(ctx.engine) as selects:
        assert driver.are_up([expiring], max_age=60) == [True]
        time.sleep(0.8)                      # its window closes meanwhile
        assert driver.are_up([expiring], max_age=60) == [False]
    assert selects == [] and driver.last_bulk_read == read_at

    with counted_selects(ctx.engine) as selects:
        driver.are_up([expiring, other], max_age=60)   # not covered: read
        driver.are_up([expiring], max_age=0)           # too old: read
    assert len(selects) == 2 and driver.last_bulk_read > read_at


def test_get_all_lists_the_hosts_of_the_group_that_are_up(ctx, make_driver):
    for host in ("b", "a", "c"):
        make_service(ctx, host)
    make_service(ctx, "d", topic="scheduler")
    stale = service_obj.Service.get_by_host_and_binary(ctx, "c", "nova-compute")
    set_row(ctx, stale.id, last_seen_up=ago(ctx, 60))
    driver = make_driver()
    assert driver.get_all("compute") == ["a", "b"]
    assert driver.get_all("scheduler") == ["d"]
    assert driver.get_all("nothing") == []


def test_updated_time_is_the_rows_updated_at(ctx, make_driver):
    service = make_service(ctx, "h1")
    driver = make_driver()
    assert driver.updated_time(service) is None
    service.disabled = True
    service.save()
    assert driver.updated_time(service) == row(ctx, service.id).updated_at
    assert driver.updated_time(10**9) is None


def _unreachable_url(database, tmp_path):
    if database.backend == "sqlite":
        return f"sqlite:///{tmp_path / 'no' / 'such' / 'dir.sqlite'}"
    with socket.socket() as sock:            # a loopback port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return make_url(database.url).set(host="127.0.0.1", port=port) \
        .render_as_string(hide_password=False)


def test_unreachable_database_is_unknown_liveness_not_down(
        database, ctx, make_driver, tmp_path):
    service = make_service(ctx, "h1")
    engine = db_engine.create_engine(_unreachable_url(database, tmp_path))
    driver = make_driver(hs_context.get_admin_context(engine=engine))
    for ask in (lambda: driver.is_up(service), lambda: driver.are_up([service]),
                lambda: driver.get_all("compute"),
                lambda: driver.updated_time(service)):
        with pytest.raises(exception.ServiceGroupUnavailable) as err:
            ask()
        assert err.value.driver == "db"
    engine.dispose()


# --- clock skew ------------------------------------------------------------

@pytest.mark.parametrize("skew", [30, -30])
def test_skewed_clocks_do_not_matter(ctx, make_driver, monkeypatch, skew):
    """The heartbeater's clock is ``skew`` seconds off, the checker's
    ``-skew``. Stamping on the heartbeater's clock would put last_seen_up
    30 s off; judging on the checker's would revive or kill the stale one."""
    live, stale = make_service(ctx, "live"), make_service(ctx, "stale")
    set_row(ctx, stale.id, last_seen_up=ago(ctx, DOWN_TIME + 5))
    real_utcnow = db_api.utcnow

    def skewed(seconds):
        return lambda: real_utcnow() + datetime.timedelta(seconds=seconds)

    monkeypatch.setattr(db_api, "utcnow", skewed(skew))
    heartbeater = make_driver()
    heartbeater.join("live", "compute", live)
    assert heartbeater.heartbeat("live", "compute") is True
    stamped = row(ctx, live.id).last_seen_up
    assert abs((server_now(ctx) - stamped).total_seconds()) < 5

    monkeypatch.setattr(db_api, "utcnow", skewed(-skew))
    checker = make_driver()
    assert checker.are_up([live, stale]) == [True, False]
    assert [checker.is_up(live), checker.is_up(stale)] == [True, False]
    assert checker.get_all("compute") == ["live"]




# --- the server's clock ----------------------------------------------------

_SESSION_ZONE = {"postgresql": "SET TIME ZONE 'Asia/Tokyo'",
                 "mysql": "SET time_zone = '+09:00'"}


def test_server_utcnow_is_utc_whatever_the_session_time_zone(ctx):
    """The servers run on this machine, so their clock is ours: the stamp
    is UTC even for a session set to UTC+9."""
    with ctx.engine.connect() as conn:
        if ctx.engine.dialect.name in _SESSION_ZONE:
            conn.exec_driver_sql(_SESSION_ZONE[ctx.engine.dialect.name])
        now = conn.execute(sa.select(db_api.server_utcnow())).scalar()
    assert now.tzinfo is None
    assert abs((now - db_api.utcnow()).total_seconds()) < 5


def test_heartbeat_stamp_is_stored_like_every_other_time(ctx, make_driver):
    """On SQLite times are text compared as text: the server's stamp must
    have the shape SQLAlchemy writes (microseconds), or ordering breaks."""
    service = make_service(ctx, "h1")
    driver = make_driver()
    driver.join("h1", "compute", service)
    driver.heartbeat("h1", "compute")
    stored = row(ctx, service.id)
    assert stored.last_seen_up > stored.created_at
    if ctx.engine.dialect.name == "sqlite":
        with ctx.engine.connect() as conn:
            stamped, created = conn.exec_driver_sql(
                "SELECT last_seen_up, created_at FROM services").one()
        assert len(stamped) == len(created) == len("2026-01-01 00:00:00.000000")


def test_bulk_of_many_reads_the_id_range_and_keeps_only_those_asked(
        ctx, make_driver):
    """Past a few hundred ids the driver reads their id range instead of an
    IN list; rows in the range it was not asked about stay out."""
    now = server_now(ctx)
    with ctx.engine.begin() as conn:
        conn.execute(sa.insert(SERVICES), [dict(
            uuid=f"00000000-0000-0000-0000-{n:012d}", host=f"h{n:04d}",
            binary="nova-compute", topic="compute", created_at=now,
            last_seen_up=now - datetime.timedelta(seconds=60 * (n % 3 == 0)))
            for n in range(1200)])
    services = service_obj.ServiceList.get_by_topic(ctx, "compute").objects
    asked = services[::2] + [10**9]
    driver = make_driver()
    with counted_selects(ctx.engine) as selects:
        bulk = driver.are_up(asked)
    assert len(selects) == 1
    assert bulk == [driver.is_up(s) for s in asked]
    assert bulk == [int(s.host[1:]) % 3 != 0 for s in asked[:-1]] + [False]
    assert driver.are_up(services[1:2], max_age=60) == [True]   # not asked: read
