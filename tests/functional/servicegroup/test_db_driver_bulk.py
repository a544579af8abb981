"""The db driver's bulk heartbeats (``join_many``) and ``abandon``, on
SQLite, PostgreSQL and MariaDB: one thread for the batch, chunked UPDATEs,
rows left as a single member's heartbeat leaves them, failures per member.
"""
import logging
import threading

import pytest
import sqlalchemy as sa

from hoststate import exception
from hoststate.objects import service as service_obj
from hoststate.servicegroup.drivers import db_bulk
from support.db_liveness import (  # noqa: F401 (conf: a fixture)
    LOGGER, SERVICES, conf, errors, make_driver, make_service, row, wait_for)

BULK_THREAD = "hoststate-bulk-heartbeat-"


def _insert(ctx, count):
    """``count`` compute services, created in one statement."""
    with ctx.engine.begin() as conn:
        conn.execute(sa.insert(SERVICES), [dict(
            uuid=f"00000000-0000-0000-0000-{n:012d}", host=f"bulk-{n:05d}",
            binary="nova-compute", topic="compute", report_count=0,
            disabled=False, forced_down=False, version=1, generation=0,
            deleted=0) for n in range(count)])
    return service_obj.ServiceList.get_by_topic(ctx, "compute").objects


def _members(services):
    return [(s.host, "compute", s) for s in services]


def _on_statement(engine, react):
    """Calls ``react(statement)`` before each statement ``engine`` sends,
    until the test ends."""
    def listener(conn, cursor, statement, *args):
        react(statement.lstrip().upper())

    sa.event.listen(engine, "before_cursor_execute", listener)
    return lambda: sa.event.remove(engine, "before_cursor_execute", listener)


@pytest.fixture
def updates(ctx):
    """The UPDATE statements sent to ``ctx``'s engine meanwhile."""
    seen = []
    forget = _on_statement(ctx.engine, lambda statement: seen.append(
        statement) if statement.startswith("UPDATE SERVICES") else None)
    yield seen
    forget()


@pytest.fixture
def failing(ctx):
    """While set, every heartbeat UPDATE fails (as an unreachable server
    would make it)."""
    flag = threading.Event()

    def fail(statement):
        if flag.is_set() and statement.startswith("UPDATE"):
            raise RuntimeError("database on fire")

    forget = _on_statement(ctx.engine, fail)
    yield flag
    forget()


def _bulk_threads():
    return [t for t in threading.enumerate() if t.name.startswith(BULK_THREAD)]


def test_one_thread_beats_the_whole_batch_in_chunks(ctx, make_driver, updates):
    count = 2 * db_bulk.CHUNK + 1
    services = _insert(ctx, count)
    driver = make_driver()
    driver.join_many(_members(services))
    assert len(_bulk_threads()) == 1
    saved = driver._reporters[(services[0].host, "compute")].beat()
    assert len(saved) == count
    assert len(updates) == 3                          # 500 + 500 + 1 ids
    with ctx.engine.connect() as conn:
        assert conn.execute(sa.select(
            sa.func.min(SERVICES.c.report_count),
            sa.func.max(SERVICES.c.report_count),
            sa.func.min(SERVICES.c.generation),
            sa.func.max(SERVICES.c.generation))).one() == (1, 1, 1, 1)
    assert driver.are_up(services) == [True] * count
    driver.stop()
    assert _bulk_threads() == []


def test_the_batch_beats_after_the_initial_delay_then_every_interval(
        ctx, make_driver):
    services = [make_service(ctx, f"h{n}") for n in range(3)]
    driver = make_driver(initial_delay=0.3)
    driver.join_many(_members(services))
    assert [row(ctx, s.id).report_count for s in services] == [0, 0, 0]
    assert wait_for(lambda: all(row(ctx, s.id).report_count >= 1
                                for s in services), 3)
    assert wait_for(lambda: all(row(ctx, s.id).report_count >= 2
                                for s in services), 3)


def test_a_bulk_heartbeat_leaves_the_row_as_a_single_one_does(ctx, make_driver):
    single, bulk = make_service(ctx, "single"), make_service(ctx, "bulk")
    driver = make_driver()
    driver.join("single", "compute", single)
    driver.join_many([("bulk", "compute", bulk)])
    for _ in range(2):
        assert driver.heartbeat("single", "compute") is True
        assert driver.heartbeat("bulk", "compute") is True
    one, many = row(ctx, single.id), row(ctx, bulk.id)
    assert (one.report_count, one.generation) == (2, 2)
    assert (many.report_count, many.generation) == (2, 2)
    assert many.last_seen_up is not None and many.updated_at is not None
    assert many.updated_at == many.last_seen_up      # one server clock
    assert driver.is_up(bulk) is True
    assert driver.get_all("compute") == ["bulk", "single"]


def test_an_operator_write_in_between_is_kept_and_sees_the_beat(ctx,
                                                                make_driver):
    service = make_service(ctx, "h1")
    driver = make_driver()
    driver.join_many([("h1", "compute", service)])
    operator_copy = service_obj.Service.get_by_id(ctx, service.id)
    assert driver.heartbeat("h1", "compute") is True
    operator_copy.disabled = True
    with pytest.raises(exception.GenerationConflict):
        operator_copy.save()            # read before the beat: must re-read
    operator_copy = service_obj.Service.get_by_id(ctx, service.id)
    operator_copy.disabled = True
    operator_copy.save()
    assert driver.heartbeat("h1", "compute") is True
    stored = row(ctx, service.id)
    assert (stored.report_count, stored.disabled) == (2, True)


def test_failures_disconnect_every_member_log_once_and_recover_once(
        ctx, make_driver, failing, caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    services = [make_service(ctx, f"h{n}") for n in range(3)]
    driver = make_driver()
    driver.join_many(_members(services))
    failing.set()
    assert [driver.heartbeat("h0", "compute") for _ in range(3)] == [False] * 3
    assert [driver.disconnected(s.host, "compute") for s in services] == \
        [True, False, False]
    driver.heartbeat("h1", "compute")
    driver.heartbeat("h2", "compute")
    assert all(driver.disconnected(s.host, "compute") for s in services)
    failing.clear()
    assert [driver.heartbeat(s.host, "compute") for s in services] == [True] * 3
    assert not any(driver.disconnected(s.host, "compute") for s in services)
    logged = errors(caplog)
    recovered = [r for r in caplog.records if "recovered" in r.getMessage()]
    assert len(logged) == 1 and "database on fire" in logged[0].getMessage()
    assert isinstance(logged[0].exc_info[1], RuntimeError)   # its traceback
    assert len(recovered) == 1
    assert [row(ctx, s.id).report_count for s in services] == [1, 1, 1]


def test_background_failures_are_logged_once_and_retried(ctx, make_driver,
                                                         failing, caplog):
    services = [make_service(ctx, f"h{n}") for n in range(2)]
    failing.set()
    driver = make_driver(initial_delay=0)
    driver.join_many(_members(services))
    assert wait_for(lambda: driver.disconnected("h1", "compute"), 3)
    failing.clear()
    assert wait_for(lambda: row(ctx, services[1].id).report_count >= 1, 3)
    assert wait_for(lambda: not driver.disconnected("h1", "compute"), 3)
    assert len(errors(caplog)) == 1


def test_a_deleted_service_disconnects_only_its_member(ctx, make_driver,
                                                       caplog):
    services = [make_service(ctx, f"h{n}") for n in range(3)]
    driver = make_driver()
    driver.join_many(_members(services))
    service_obj.Service.get_by_id(ctx, services[1].id).destroy()
    saved = driver._reporters[("h0", "compute")].beat()
    assert saved == {("h0", "compute"), ("h2", "compute")}
    assert [driver.disconnected(s.host, "compute") for s in services] == \
        [False, True, False]
    assert driver.heartbeat("h1", "compute") is False
    assert len(errors(caplog)) == 1
    assert "1 service rows not found" in errors(caplog)[0].getMessage()


def test_leave_and_rejoin_of_bulk_members(ctx, make_driver):
    services = [make_service(ctx, f"h{n}") for n in range(3)]
    driver = make_driver()
    driver.join_many(_members(services))
    driver.leave("h1", "compute")
    with pytest.raises(KeyError):
        driver.heartbeat("h1", "compute")
    assert driver.disconnected("h1", "compute") is False
    assert driver.heartbeat("h0", "compute") is True
    driver._reporters[("h0", "compute")].beat()
    assert [row(ctx, s.id).report_count for s in services] == [2, 0, 1]
    driver.join("h1", "compute", services[1])         # now singly
    driver.join_many(_members(services[:1]))          # h0 in a new batch
    assert len(_bulk_threads()) == 2
    driver.leave("h2", "compute")                     # its batch is empty
    assert wait_for(lambda: len(_bulk_threads()) == 1, 5)
    assert [driver.heartbeat(s.host, "compute") for s in services[:2]] == \
        [True, True]


def test_abandon_stops_every_thread_and_writes_nothing(ctx, make_driver,
                                                       updates):
    services = [make_service(ctx, f"h{n}") for n in range(4)]
    driver = make_driver(initial_delay=0)
    driver.join("h0", "compute", services[0])
    driver.join_many(_members(services[1:]))
    assert wait_for(lambda: all(row(ctx, s.id).report_count >= 1
                                for s in services), 3)
    driver.abandon()
    counts = [row(ctx, s.id).report_count for s in services]
    sent = len(updates)
    assert _bulk_threads() == [] and not [
        t for t in threading.enumerate()
        if t.name.startswith("hoststate-heartbeat-compute-")]
    assert driver.are_up(services) == [True] * 4      # down after down time
    driver.stop()
    assert len(updates) == sent
    assert [row(ctx, s.id).report_count for s in services] == counts
    with pytest.raises(KeyError):
        driver.heartbeat("h1", "compute")


def test_join_many_needs_created_services(make_driver):
    driver = make_driver()
    with pytest.raises(ValueError):
        driver.join_many([("h1", "compute", service_obj.Service(
            host="h1", binary="b"))])
    assert _bulk_threads() == []
