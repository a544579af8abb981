"""The servicegroup API: is this service alive?

Drivers are found by the name ``servicegroup_driver`` gives, among the entry
points of group ``hoststate.servicegroup.drivers`` (so a third party can
ship one), and wrapped here with what every driver shares:

* ``forced_down`` means down, and the driver is not asked;
* ``service_down_time`` no longer than ``report_interval`` would report
  healthy services down between two heartbeats, so it becomes
  2.5 x ``report_interval``, with a warning (as in Nova);
* a bulk form, ``services_up``, that a scheduler uses to refresh a whole
  column of host states in one call, and its columnar twin
  ``services_up_columns`` (ids in, a bool array out);
* ``join_many``, for one process reporting for many services (``hoststate
  simulate``), and ``abandon``, which stops reporting as a crash would.
"""
import logging
from importlib import metadata

import numpy as np

from hoststate import exception
from hoststate.conf import CONF

LOG = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "hoststate.servicegroup.drivers"
#: Seconds a service waits after start before its first heartbeat.
INITIAL_REPORTING_DELAY = 5


def known_drivers():
    """{name: entry point} of every installed liveness driver."""
    return {ep.name: ep for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)}


def load_driver_class(name):
    drivers = known_drivers()
    if name not in drivers:
        raise exception.UnknownServiceGroupDriver(
            name=name, known=", ".join(sorted(drivers)) or "none installed")
    return drivers[name].load()


def effective_service_down_time(conf):
    """service_down_time, raised to 2.5 x report_interval when it is not
    longer than report_interval."""
    down_time, interval = conf.service_down_time, conf.report_interval
    if down_time <= interval:
        adjusted = int(interval * 2.5)
        LOG.warning("service_down_time (%s s) must be longer than "
                    "report_interval (%s s); using %s s", down_time,
                    interval, adjusted)
        return adjusted
    return down_time


class API:
    """Liveness of services, through the configured driver."""

    def __init__(self, conf=None, context=None, driver=None, **driver_options):
        conf = conf if conf is not None else CONF
        self.conf = conf
        down_time = effective_service_down_time(conf)
        if down_time != conf.service_down_time:
            conf.set_override("service_down_time", down_time)
        if driver is None:
            driver_class = load_driver_class(conf.servicegroup_driver)
            driver = driver_class(conf, context, **driver_options)
        self.driver = driver

    def join(self, member, group, service=None):
        """Report ``member`` (a host) of ``group`` (a topic) alive from now."""
        return self.driver.join(member, group, service)

    def join_many(self, members):
        """``join`` each ``(member, group, service)`` of ``members``, in
        bulk where the driver can (one reporter for the whole batch)."""
        return self.driver.join_many(members)

    def leave(self, member, group):
        """Stop reporting ``member``; drivers that can make it down at once."""
        return self.driver.leave(member, group)

    def service_is_up(self, service):
        """Whether ``service`` is alive; False at once when forced down."""
        if _forced_down(service):
            return False
        return self.driver.is_up(service)

    def services_up(self, services):
        """``[service_is_up(s) for s in services]`` in one driver call."""
        services = list(services)
        asked = [s for s in services if not _forced_down(s)]
        answers = iter(self.driver.are_up(asked) if asked else [])
        return [False if _forced_down(s) else next(answers) for s in services]

    def services_up_columns(self, ids, forced_down, services):
        """``services_up`` of services given as columns, as a bool array:
        their ``ids`` and ``forced_down`` flags (one entry per service).

        A driver with a columnar form (``are_up_ids``, the db driver's)
        answers from the ids alone, with no Python object per service;
        any other is asked about ``services()`` (a callable giving the
        services, in the same order), those forced down left out."""
        forced = np.asarray(forced_down, dtype=bool)
        answers = np.zeros(len(forced), dtype=bool)
        asked = np.flatnonzero(~forced)
        if not len(asked):
            return answers
        by_ids = getattr(self.driver, "are_up_ids", None)
        if by_ids is not None:
            answers[asked] = by_ids(np.asarray(ids, dtype=np.int64)[asked])
        else:
            listed = services()
            answers[asked] = self.driver.are_up(
                [listed[i] for i in asked.tolist()])
        return answers

    def get_updated_time(self, service):
        return self.driver.updated_time(service)

    def get_all(self, group):
        """The hosts of ``group`` that are alive."""
        return self.driver.get_all(group)

    def stop(self):
        self.driver.stop()

    def abandon(self):
        """Stop reporting everything joined here as a crashed process
        would (see ``Driver.abandon``): the members go down only when the
        backend notices."""
        self.driver.abandon()


def _forced_down(service):
    if hasattr(service, "obj_get"):
        return bool(service.obj_get("forced_down"))
    return bool(service.get("forced_down"))
