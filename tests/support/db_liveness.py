"""Fixtures and row helpers shared by the db liveness driver's tests.

Times are set in the rows relative to the database server's "now", the
clock the driver stamps and judges with (see the driver's docstring).
"""
import contextlib
import datetime
import logging
import time

import pytest
import sqlalchemy as sa
from oslo_config import cfg

from hoststate import conf as hs_conf
from hoststate.db import api as db_api
from hoststate.db import schema
from hoststate.objects import service as service_obj
from hoststate.servicegroup.drivers import db

DOWN_TIME = 15
LOGGER = "hoststate.servicegroup.drivers.db"
SERVICES = schema.services
NEVER = 3600.0  # an initial_delay after which no test is still running


@pytest.fixture
def conf():
    """A private ConfigOpts: report_interval 1 s, service_down_time 15 s."""
    options = cfg.ConfigOpts()
    hs_conf.load(args=[], config_files=[], conf=options)
    options.set_override("report_interval", 1)
    options.set_override("service_down_time", DOWN_TIME)
    return options


@pytest.fixture
def make_driver(conf, ctx):
    """``make(context=ctx, initial_delay=NEVER)``: a DbDriver stopped at the
    end of the test. By default its threads never beat on their own, so a
    test drives heartbeats with ``driver.heartbeat``."""
    drivers = []

    def make(context=ctx, initial_delay=NEVER):
        drivers.append(db.DbDriver(conf, context, initial_delay=initial_delay))
        return drivers[-1]

    yield make
    for driver in drivers:
        driver.stop()


def make_service(ctx, host, topic="compute"):
    service = service_obj.Service(ctx, host=host, binary=f"nova-{topic}",
                                  topic=topic)
    service.create()
    return service


def server_now(ctx):
    with ctx.engine.connect() as conn:
        return conn.execute(sa.select(db_api.server_utcnow())).scalar()


def ago(ctx, seconds):
    """The server's now minus ``seconds``."""
    return server_now(ctx) - datetime.timedelta(seconds=seconds)


def set_row(ctx, service_id, **values):
    with ctx.engine.begin() as conn:
        conn.execute(sa.update(SERVICES).where(SERVICES.c.id == service_id)
                     .values(**values))


def row(ctx, service_id):
    with ctx.engine.connect() as conn:
        return conn.execute(sa.select(SERVICES)
                            .where(SERVICES.c.id == service_id)).one()


def wait_for(predicate, timeout, interval=0.05):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)
    return True


def errors(caplog):
    """The driver's ERROR records."""
    return [r for r in caplog.records
            if r.name == LOGGER and r.levelno >= logging.ERROR]


@contextlib.contextmanager
def counted_selects(engine):
    """Collects the SELECT statements ``engine`` sends meanwhile."""
    seen = []

    def count(conn, cursor, statement, *args):
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append(statement)

    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)
