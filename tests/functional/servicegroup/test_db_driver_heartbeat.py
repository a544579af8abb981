"""The db liveness driver's heartbeats on SQLite, PostgreSQL and MariaDB:
Nova's report-state and join behaviours, failures, and a database outage.
"""
import logging
import threading
import time

import pytest
from sqlalchemy.engine import make_url

from hoststate import context as hs_context
from hoststate import exception
from hoststate.db import engine as db_engine
from hoststate.objects import service as service_obj
from support import tcp_proxy
from support.db_liveness import (  # noqa: F401 (conf: a fixture)
    LOGGER, conf, errors, make_driver, make_service, row, wait_for)


# --- heartbeats (Nova's test_report_state* and test_join, items 5 and 6) ---

def test_join_beats_after_the_initial_delay_then_every_interval(ctx, make_driver):
    service = make_service(ctx, "h1")
    driver = make_driver(initial_delay=0.3)
    driver.join("h1", "compute", service)
    time.sleep(0.1)
    assert row(ctx, service.id).report_count == 0
    assert wait_for(lambda: row(ctx, service.id).report_count == 1, 2)
    assert row(ctx, service.id).last_seen_up is not None
    assert wait_for(lambda: row(ctx, service.id).report_count == 2, 2)


def test_heartbeat_increments_report_count_and_saves(ctx, make_driver):
    service = make_service(ctx, "h1")
    driver = make_driver()
    driver.join("h1", "compute", service)
    assert driver.heartbeat("h1", "compute") is True
    first = row(ctx, service.id)
    assert driver.heartbeat("h1", "compute") is True
    second = row(ctx, service.id)
    assert (first.report_count, second.report_count) == (1, 2)
    assert second.generation == first.generation + 1
    assert second.last_seen_up >= first.last_seen_up
    assert driver.is_up(service) is True


def test_operator_write_between_beats_is_kept(ctx, make_driver):
    service = make_service(ctx, "h1")
    driver = make_driver()
    driver.join("h1", "compute", service)
    driver.heartbeat("h1", "compute")
    operator_copy = service_obj.Service.get_by_id(ctx, service.id)
    operator_copy.disabled = True
    operator_copy.save()

    assert driver.heartbeat("h1", "compute") is True   # conflict, re-read, retry
    stored = row(ctx, service.id)
    assert (stored.report_count, stored.disabled) == (2, True)
    assert driver.disconnected("h1", "compute") is False


@pytest.mark.parametrize("error", [RuntimeError("boom"),
                                   exception.DBError(reason="gone away")])
def test_failed_heartbeats_disconnect_log_once_and_recover_once(
        ctx, make_driver, monkeypatch, caplog, error):
    caplog.set_level(logging.INFO, logger=LOGGER)
    service = make_service(ctx, "h1")
    failing = threading.Event()
    failing.set()
    real_save = service_obj.Service.save

    def save(self):
        if failing.is_set():
            raise error
        return real_save(self)

    monkeypatch.setattr(service_obj.Service, "save", save)
    driver = make_driver()
    driver.join("h1", "compute", service)

    assert [driver.heartbeat("h1", "compute") for _ in range(3)] == [False] * 3
    assert driver.disconnected("h1", "compute") is True
    failing.clear()
    assert [driver.heartbeat("h1", "compute") for _ in range(2)] == [True] * 2

    logged = errors(caplog)
    recoveries = [r for r in caplog.records if "recovered" in r.getMessage()]
    assert len(logged) == 1 and str(error) in logged[0].getMessage()
    assert len(recoveries) == 1
    assert driver.disconnected("h1", "compute") is False
    assert row(ctx, service.id).report_count == 2   # failed beats left no trace


def test_deleted_service_is_logged_once_and_not_raised(ctx, make_driver, caplog):
    service = make_service(ctx, "h1")
    driver = make_driver()
    driver.join("h1", "compute", service)
    service_obj.Service.get_by_id(ctx, service.id).destroy()
    assert [driver.heartbeat("h1", "compute") for _ in range(3)] == [False] * 3
    assert len(errors(caplog)) == 1


def test_background_heartbeats_survive_failures(ctx, make_driver, monkeypatch,
                                                caplog):
    service = make_service(ctx, "h1")
    failures = []
    real_save = service_obj.Service.save

    def save(self):
        if len(failures) < 2:
            failures.append(1)
            raise RuntimeError("database on fire")
        return real_save(self)

    monkeypatch.setattr(service_obj.Service, "save", save)
    driver = make_driver(initial_delay=0.05)
    driver.join("h1", "compute", service)
    assert wait_for(lambda: row(ctx, service.id).report_count >= 1, 4)
    assert len(errors(caplog)) == 1


def test_join_needs_a_createdmake_service(make_driver):
    driver = make_driver()
    with pytest.raises(ValueError):
        driver.join("h1", "compute", None)
    with pytest.raises(ValueError):
        driver.join("h1", "compute", service_obj.Service(host="h1", binary="b"))


def test_leave_stops_heartbeats_and_leaves_therow(ctx, make_driver):
    service = make_service(ctx, "h1")
    driver = make_driver(initial_delay=0.05)
    driver.join("h1", "compute", service)
    assert wait_for(lambda: row(ctx, service.id).report_count == 1, 2)
    driver.leave("h1", "compute")
    time.sleep(1.3)
    assert row(ctx, service.id).report_count == 1
    assert driver.is_up(service) is True      # down after service_down_time


def test_stop_is_prompt(ctx, make_driver):
    driver = make_driver()
    for host in ("a", "b", "c"):
        driver.join(host, "compute", make_service(ctx, host))
    started = time.monotonic()
    driver.stop()
    assert time.monotonic() - started < 0.5
    assert not [t for t in threading.enumerate()
                if t.name.startswith("hoststate-heartbeat-compute-")]


# --- a database outage -----------------------------------------------------

def _poll(checker, service, stop, seen):
    """Ask is_up every 0.2 s, noting when each answer was given."""
    while not stop.wait(0.2):
        seen.append((time.monotonic(), checker.is_up(service)))


@pytest.mark.parametrize("bulk", [False, True], ids=["join", "join_many"])
def test_outage_shorter_than_down_time_never_reports_down(
        database, ctx, conf, make_driver, caplog, bulk):
    if database.backend == "sqlite":
        pytest.skip("no server to stop")
    conf.set_override("service_down_time", 4)
    url = make_url(database.url)
    with tcp_proxy.TcpProxy(url.host, url.port) as proxy:
        engine = db_engine.create_engine(url.set(host="127.0.0.1", port=proxy.port)
                                         .render_as_string(hide_password=False))
        heartbeater = make_driver(hs_context.get_admin_context(engine=engine),
                                  initial_delay=0)
        service, stop, seen = make_service(ctx, "h1"), threading.Event(), []
        poller = threading.Thread(target=_poll,
                                  args=(make_driver(), service, stop, seen))
        poller.start()
        try:
            if bulk:
                heartbeater.join_many([("h1", "compute", service)])
            else:
                heartbeater.join("h1", "compute", service)
            assert wait_for(lambda: row(ctx, service.id).report_count >= 2, 3)
            proxy.pause()
            paused_at = time.monotonic()
            time.sleep(2)
            count = row(ctx, service.id).report_count
            proxy.resume()
            resumed_at = time.monotonic()
            assert wait_for(lambda: row(ctx, service.id).report_count > count, 3)
            time.sleep(1)
            assert heartbeater.disconnected("h1", "compute") is False
        finally:
            stop.set()
            poller.join()
            heartbeater.stop()
            engine.dispose()
    # The poller answered during the outage and after it (a slow machine
    # gives fewer answers, never none), and every answer was "up".
    assert any(paused_at <= at <= resumed_at for at, _ in seen)
    assert any(at > resumed_at for at, _ in seen)
    assert [up for _, up in seen] == [True] * len(seen)
    assert len(errors(caplog)) == 1
