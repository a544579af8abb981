"""The servicegroup API's own rules, in front of any driver."""
import logging

import pytest
from oslo_config import cfg

from hoststate import conf as hs_conf
from hoststate import exception
from hoststate.objects import service as service_obj
from hoststate.servicegroup import api
from hoststate.servicegroup.drivers import base


class RecordingDriver(base.Driver):
    """Answers from a dict and records what it was asked."""

    name = "recording"

    def __init__(self, conf=None, context=None, up=None):
        super().__init__(conf, context)
        self.up = up or {}
        self.asked = []

    def join(self, member, group, service=None):
        self.asked.append(("join", member, group))

    def leave(self, member, group):
        self.asked.append(("leave", member, group))

    def is_up(self, service):
        self.asked.append(("is_up", service.host))
        return self.up.get(service.host, False)

    def are_up(self, services):
        self.asked.append(("are_up", [s.host for s in services]))
        return [self.up.get(s.host, False) for s in services]

    def get_all(self, group):
        return sorted(h for h, alive in self.up.items() if alive)


@pytest.fixture
def conf():
    options = cfg.ConfigOpts()
    hs_conf.load(args=[], config_files=[], conf=options)
    return options


def _service(host, forced_down=False):
    return service_obj.Service(host=host, binary="nova-compute",
                               topic="compute", forced_down=forced_down)


def test_forced_down_is_down_without_asking_the_driver(conf):
    driver = RecordingDriver(up={"h1": True})
    group = api.API(conf, driver=driver)
    assert group.service_is_up(_service("h1", forced_down=True)) is False
    assert driver.asked == []
    assert group.service_is_up(_service("h1")) is True
    assert driver.asked == [("is_up", "h1")]


def test_bulk_answers_in_order_and_asks_only_for_the_not_forced(conf):
    driver = RecordingDriver(up={"a": True, "b": False, "c": True})
    group = api.API(conf, driver=driver)
    services = [_service("a"), _service("b"), _service("c", forced_down=True),
                _service("d")]
    assert group.services_up(services) == [True, False, False, False]
    assert driver.asked == [("are_up", ["a", "b", "d"])]


def test_bulk_of_nothing_asks_nothing(conf):
    driver = RecordingDriver()
    assert api.API(conf, driver=driver).services_up([]) == []
    assert driver.asked == []


@pytest.mark.parametrize("report_interval, down_time, effective", [
    (10, 60, 60),      # longer than the interval: kept
    (10, 10, 25),      # equal: 2.5 x report_interval
    (10, 5, 25),       # shorter: 2.5 x report_interval
    (3, 3, 7),         # int(7.5)
])
def test_service_down_time_is_raised_above_report_interval(
        conf, caplog, report_interval, down_time, effective):
    conf.set_override("report_interval", report_interval)
    conf.set_override("service_down_time", down_time)
    with caplog.at_level(logging.WARNING, logger=api.__name__):
        api.API(conf, driver=RecordingDriver())
    assert conf.service_down_time == effective
    warned = [r for r in caplog.records if "report_interval" in r.getMessage()]
    assert len(warned) == (0 if effective == down_time else 1)


def test_unknown_driver_is_an_error_listing_the_known_ones(conf):
    with pytest.raises(exception.UnknownServiceGroupDriver) as err:
        api.load_driver_class("redis")
    assert str(err.value) == (
        "Unknown servicegroup_driver 'redis'; known drivers: db, mc, zk")


def test_join_leave_and_get_all_go_to_the_driver(conf):
    driver = RecordingDriver(up={"h2": True, "h1": True, "h3": False})
    group = api.API(conf, driver=driver)
    group.join("h1", "compute")
    group.leave("h1", "compute")
    assert driver.asked == [("join", "h1", "compute"), ("leave", "h1", "compute")]
    assert group.get_all("compute") == ["h1", "h2"]


def test_join_many_joins_each_member_by_default(conf):
    driver = RecordingDriver()
    group = api.API(conf, driver=driver)
    group.join_many(iter([("h1", "compute", None), ("h2", "compute", None),
                          ("s1", "scheduler", None)]))
    assert driver.asked == [("join", "h1", "compute"), ("join", "h2", "compute"),
                            ("join", "s1", "scheduler")]


class AbandoningDriver(RecordingDriver):
    def abandon(self):
        self.asked.append(("abandon",))


def test_abandon_goes_to_the_driver(conf):
    driver = AbandoningDriver()
    api.API(conf, driver=driver).abandon()
    assert driver.asked == [("abandon",)]


def test_a_driver_that_cannot_abandon_says_so(conf):
    with pytest.raises(NotImplementedError) as err:
        api.API(conf, driver=RecordingDriver()).abandon()
    assert str(err.value) == (
        "the recording servicegroup driver cannot abandon its members")
