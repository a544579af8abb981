"""The contract every liveness driver keeps, against real servers.

report_interval 1 s and service_down_time 3 s; each backend runs the same
tests: join -> up; stop heartbeating -> down after service_down_time;
leave -> down at once where the backend can (zk, mc); get_all; the bulk
answer equals the one-by-one answers; abandon -> still up, then down once
the backend notices (db: service_down_time; mc: the TTL; zk: the session
timeout, recv_timeout 2 s). Every test runs twice per backend: members
joined one by one (``join``) and in one batch (``join_many``).
"""
import logging
import time

import pytest
import sqlalchemy as sa
from oslo_config import cfg

from hoststate import conf as hs_conf
from hoststate import context as hs_context
from hoststate.db import engine as db_engine
from hoststate.db import schema
from hoststate.objects import service as service_obj
from hoststate.servicegroup import api


REPORT_INTERVAL, DOWN_TIME = 1, 3
LEAVE_IS_IMMEDIATE = {"db": False, "zk": True, "mc": True}


class Backend:
    """Makes drivers of one kind, all seeing the same backend."""

    def __init__(self, name, conf, context):
        self.name, self.conf, self.context = name, conf, context
        self.drivers = []

    def driver(self):
        options = {"db": {"initial_delay": 0.0}, "mc": {"initial_delay": 0.0}}
        driver = api.load_driver_class(self.name)(
            self.conf, self.context, **options.get(self.name, {}))
        self.drivers.append(driver)
        return driver

    def service(self, host):
        service = service_obj.Service(self.context, host=host,
                                      binary="nova-compute", topic="compute")
        if self.name == "db":
            service.create()
        return service

    def silent_service(self, host):
        """A service that has not reported for long (the db backend judges
        a never-reporting service by its creation time, so backdate it)."""
        service = self.service(host)
        if self.name == "db":
            table = schema.services
            with self.context.engine.begin() as conn:
                conn.execute(sa.update(table).where(table.c.id == service.id)
                             .values(created_at=sa.func.datetime("now", "-1 hour")))
        return service

    def stop(self):
        for driver in self.drivers:
            driver.stop()


@pytest.fixture(params=["join", "join_many"])
def join(request):
    """``join(driver, services)``: the services join group "compute" one
    by one, or in one batch."""
    def one_by_one(driver, services):
        for service in services:
            driver.join(service.host, "compute", service)

    def batch(driver, services):
        driver.join_many([(s.host, "compute", s) for s in services])

    return one_by_one if request.param == "join" else batch


def _conf(**overrides):
    options = cfg.ConfigOpts()
    hs_conf.load(args=[], config_files=[], conf=options)
    options.set_override("report_interval", REPORT_INTERVAL)
    options.set_override("service_down_time", DOWN_TIME)
    for name, value in overrides.items():
        group, _, option = name.rpartition("__")
        options.set_override(option, value, group=group or None)
    return options


@pytest.fixture(params=["db", "zk", "mc"])
def backend(request, tmp_path):
    if request.param == "db":
        engine = db_engine.create_engine(f"sqlite:///{tmp_path / 'sg.sqlite'}")
        schema.metadata.create_all(engine)
        made = Backend("db", _conf(servicegroup_driver="db"),
                       hs_context.get_admin_context(engine=engine))
    elif request.param == "zk":
        server = request.getfixturevalue("zookeeper_server")
        made = Backend("zk", _conf(servicegroup_driver="zk",
                                   zookeeper__address=server.address,
                                   zookeeper__recv_timeout=2000,
                                   zookeeper__sg_prefix=f"/sg-{time.time_ns()}"),
                       None)
    else:
        server = request.getfixturevalue("memcached_server")
        made = Backend("mc", _conf(servicegroup_driver="mc",
                                   memcached_servers=[server.address]), None)
    yield made
    made.stop()


def _wait_for(predicate, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


def test_a_joined_member_is_up(backend, join):
    checker, reporter = backend.driver(), backend.driver()
    service = backend.service("host-a")
    join(reporter, [service])
    assert _wait_for(lambda: checker.is_up(service), REPORT_INTERVAL + 2)


def test_a_member_that_stops_reporting_is_down_after_service_down_time(backend, join):
    checker, reporter = backend.driver(), backend.driver()
    service = backend.service("host-b")
    join(reporter, [service])
    assert _wait_for(lambda: checker.is_up(service), REPORT_INTERVAL + 2)
    stopped_at = time.monotonic()
    reporter.stop()
    assert _wait_for(lambda: not checker.is_up(service), DOWN_TIME + 2)
    assert time.monotonic() - stopped_at <= DOWN_TIME + 2


def test_leave_is_down_at_once_where_the_backend_allows(backend, join):
    checker, reporter = backend.driver(), backend.driver()
    service = backend.service("host-c")
    join(reporter, [service])
    assert _wait_for(lambda: checker.is_up(service), REPORT_INTERVAL + 2)
    reporter.leave("host-c", "compute")
    if LEAVE_IS_IMMEDIATE[backend.name]:
        assert _wait_for(lambda: not checker.is_up(service), 0.5)
    else:
        # heartbeats stop; the last one still counts until it is too old
        assert checker.is_up(service) is True
        assert _wait_for(lambda: not checker.is_up(service), DOWN_TIME + 2)


def test_get_all_lists_the_live_members(backend, join):
    checker, reporter = backend.driver(), backend.driver()
    services = [backend.service(f"host-{n}") for n in range(3)]
    join(reporter, services)
    assert _wait_for(lambda: checker.get_all("compute") == [
        "host-0", "host-1", "host-2"], REPORT_INTERVAL + 2)


def test_bulk_answers_equal_the_one_by_one_answers(backend, join):
    checker, reporter = backend.driver(), backend.driver()
    alive = [backend.service(f"alive-{n}") for n in range(3)]
    never = [backend.silent_service(f"never-{n}") for n in range(2)]
    join(reporter, alive)
    assert _wait_for(lambda: all(checker.is_up(s) for s in alive),
                     REPORT_INTERVAL + 2)
    mixed = [alive[0], never[0], alive[1], never[1], alive[2]]
    assert checker.are_up(mixed) == [checker.is_up(s) for s in mixed] == \
        [True, False, True, False, True]


#: How long after abandon each backend notices, at most: service_down_time
#: after the last heartbeat (db; mc's TTL), the session timeout (zk); plus
#: generous slack.
EXPIRY = {"db": DOWN_TIME + REPORT_INTERVAL, "mc": DOWN_TIME, "zk": 2}


def test_abandoned_members_stay_up_until_the_backend_notices(backend, join,
                                                             caplog):
    checker, crashing, living = (backend.driver(), backend.driver(),
                                 backend.driver())
    dead = [backend.service(f"dead-{n}") for n in range(3)]
    alive = backend.service("alive-0")
    join(crashing, dead)
    join(living, [alive])
    everyone = [*dead, alive]
    assert _wait_for(lambda: all(checker.are_up(everyone)), REPORT_INTERVAL + 2)

    with caplog.at_level(logging.WARNING, logger="hoststate.servicegroup"):
        crashing.abandon()
        # nothing was deleted: the backend still has every member
        assert checker.are_up(everyone) == [True] * 4
        assert checker.get_all("compute") == ["alive-0", "dead-0", "dead-1",
                                              "dead-2"]
        assert _wait_for(lambda: checker.get_all("compute") == ["alive-0"],
                         EXPIRY[backend.name] + 5)
        assert checker.are_up(everyone) == [False, False, False, True]
        assert [checker.is_up(s) for s in everyone] == [False, False, False,
                                                        True]
        crashing.stop()                 # still stoppable, nothing to do
        time.sleep(REPORT_INTERVAL)     # and nothing keeps failing
    assert [r.getMessage() for r in caplog.records
            if r.name.startswith("hoststate")] == []
    assert checker.is_up(alive) is True
