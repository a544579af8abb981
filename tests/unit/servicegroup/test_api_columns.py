"""``API.services_up_columns``: services as columns, for drivers with a
columnar form and for those that answer per service."""
import pytest
from oslo_config import cfg

from hoststate import conf as hs_conf
from hoststate.objects import service as service_obj
from hoststate.servicegroup import api

from .test_api import RecordingDriver


@pytest.fixture
def conf():
    options = cfg.ConfigOpts()
    hs_conf.load(args=[], config_files=[], conf=options)
    return options


class ColumnarDriver(RecordingDriver):
    """Answers by id, and records the ids it was asked about."""

    def are_up_ids(self, ids):
        self.asked.append(("are_up_ids", ids.tolist()))
        return [self.up.get(i, False) for i in ids.tolist()]


def _services(*hosts):
    return [service_obj.Service(host=h, binary="nova-compute",
                                topic="compute") for h in hosts]


def test_a_per_service_driver_is_asked_about_the_not_forced(conf):
    driver = RecordingDriver(up={"a": True, "b": False, "c": True})
    group = api.API(conf, driver=driver)
    services = _services("a", "b", "c", "d")

    answers = group.services_up_columns([1, 2, 3, 4],
                                        [False, False, True, False],
                                        services=lambda: services)

    assert answers.dtype == bool
    assert answers.tolist() == [True, False, False, False]
    assert driver.asked == [("are_up", ["a", "b", "d"])]


def test_a_columnar_driver_is_asked_by_id_only(conf):
    driver = ColumnarDriver(up={1: True, 3: True, 4: True})
    group = api.API(conf, driver=driver)

    answers = group.services_up_columns(
        [1, 2, 3, 4], [False, False, True, False],
        services=lambda: pytest.fail("no objects for a columnar driver"))

    assert answers.tolist() == [True, False, False, True]
    assert driver.asked == [("are_up_ids", [1, 2, 4])]


def test_all_forced_down_asks_nobody(conf):
    driver = ColumnarDriver()
    group = api.API(conf, driver=driver)
    assert group.services_up_columns([1, 2], [True, True],
                                     services=list).tolist() == [False, False]
    assert group.services_up_columns([], [], services=list).tolist() == []
    assert driver.asked == []
