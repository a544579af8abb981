"""The periodic recount of a simulated agent racing the main loop.

A default ``hoststate simulate`` once reported a node whose stored usage
did not match its instances, in a run where one periodic recount fired.
Each test here makes one interleaving of a recount (in a thread of its
own, as the fleet's periodic thread runs it) with the main loop's work
happen on purpose, with events instead of luck, and then checks the
report's invariant on the database.
"""
import threading

import pytest

from hoststate import conf as hs_conf
from hoststate import context as hs_context
from hoststate.db import engine as db_engine
from hoststate.db import migration
from hoststate.objects import instance as instance_obj
from hoststate.objects import request_spec
from hoststate.resource_tracker import tracker as tracker_mod
from hoststate.resource_tracker import usage_source
from hoststate.scheduler import host_manager
from hoststate.scheduler import manager
from hoststate.simulation import cloud
from hoststate.simulation import fleet as fleet_mod
from hoststate.simulation import report
from hoststate.simulation import runner
from hoststate.simulation import workload

#: the longest a test waits for the other thread before failing
WAIT_S = 30


@pytest.fixture
def sim(tmp_path):
    """A one-host fleet with its agent started, and a scheduler over it."""
    conf = hs_conf.CONF
    conf.set_override("enabled_filters", runner.FILTERS, "filter_scheduler")
    engine = db_engine.create_engine(f"sqlite:///{tmp_path}/race.sqlite")
    migration.sync(engine)
    context = hs_context.get_admin_context(engine=engine)
    host = cloud.build_hosts(1)[0]
    fleet = fleet_mod.Fleet(context, conf, [host])
    fleet.seed()
    fleet.agent(host.host)
    hosts_view = host_manager.HostManager(context, conf, host_manager.ALL_UP)
    hosts_view.load()
    scheduler = manager.Scheduler(hosts_view, conf, seed=0, refresh=False)
    yield _Sim(context, conf, fleet, host, hosts_view, scheduler)
    conf.clear_override("enabled_filters", "filter_scheduler")
    engine.dispose()


class _Sim:
    def __init__(self, context, conf, fleet, host, hosts_view, scheduler):
        self.context, self.conf, self.fleet = context, conf, fleet
        self.host, self.hosts_view, self.scheduler = \
            host, hosts_view, scheduler
        self.stream = iter(workload.stream(50, seed=1))

    def place(self):
        """Place the next plain (m1) request as the main loop does: the
        scheduler claims in the database, the agent adopts."""
        request = next(r for r in self.stream if r.flavor.startswith("m1."))
        flavor = workload.flavors()[request.flavor]
        spec = request_spec.RequestSpec.from_components(
            request.uuid, flavor, image=workload.IMAGE,
            project_id=request.project, user_id="simulation")
        self.hosts_view.refresh()
        [[chosen, *_]] = self.scheduler.select_destinations(spec)
        self.fleet.adopt(request.uuid, chosen.service_host, chosen.nodename)
        return request.uuid

    def recount(self):
        """What the fleet's periodic thread runs for the host."""
        errors = self.fleet.agents[self.host.host].update_available_resource()
        assert errors == {}

    def overcommit(self):
        return report._overcommit(report._live_nodes(self.context),
                                  report._instance_usage(self.context),
                                  self.conf)


class _Paused(threading.Thread):
    """A recount that stops right after it read the host's instances,
    until ``resume``: the window in which the main loop goes on."""

    def __init__(self, sim, monkeypatch):
        super().__init__(name="paused-recount", daemon=True)
        self.sim = sim
        self.has_read = threading.Event()
        self.go = threading.Event()
        self.error = None
        original = usage_source.read_host

        def read_then_wait(context, host, mirror=None):
            sources = original(context, host, mirror)
            if threading.current_thread() is self:
                self.has_read.set()
                assert self.go.wait(WAIT_S)
            return sources
        monkeypatch.setattr(usage_source, "read_host", read_then_wait)

    def run(self):
        try:
            self.sim.recount()
        except BaseException as exc:  # reported by finish()
            self.error = exc

    def __enter__(self):
        self.start()
        assert self.has_read.wait(WAIT_S), "the recount never read"
        return self

    def __exit__(self, *exc_info):
        self.go.set()
        self.join(WAIT_S)
        assert not self.is_alive()
        if self.error is not None and exc_info[0] is None:
            raise self.error


CLEAN = {"overcommitted_nodes": 0, "usage_mismatched_nodes": 0,
         "examples": []}


def test_a_delete_while_a_recount_counts_from_older_reads(sim, monkeypatch):
    """The recount read the instance alive; the main loop deletes it (its
    agent gives its usage back, a write of the tracker's own) before the
    recount writes: the recount must not put the instance back."""
    doomed = sim.place()
    sim.place()
    with _Paused(sim, monkeypatch):
        assert sim.fleet.delete(doomed)
    assert sim.overcommit() == CLEAN


def test_an_adoption_while_a_recount_counts_from_older_reads(
        sim, monkeypatch):
    """The recount read the host before the scheduler claimed a new
    instance there and the agent adopted it; the recount finds nothing to
    write, and must not forget the adopted instance: deleting it later
    gives its usage back."""
    sim.place()
    with _Paused(sim, monkeypatch):
        adopted = sim.place()
    assert sim.fleet.delete(adopted)
    assert sim.overcommit() == CLEAN


@pytest.mark.parametrize("step", ["destroy", "update_usage"])
def test_a_recount_between_the_steps_of_a_delete(sim, monkeypatch, step):
    """A whole recount after either step of a delete (the instance row
    soft-deleted, the agent's usage given back), in whichever order the
    fleet takes them."""
    doomed = sim.place()
    kept = sim.place()
    owner = {"destroy": instance_obj.Instance,
             "update_usage": tracker_mod.ResourceTracker}[step]
    original = getattr(owner, step)
    ran = []

    def then_recount(self, *args, **kwargs):
        result = original(self, *args, **kwargs)
        worker = threading.Thread(target=sim.recount, name="recount")
        worker.start()
        worker.join(WAIT_S)
        ran.append(not worker.is_alive())
        return result
    monkeypatch.setattr(owner, step, then_recount)
    assert sim.fleet.delete(doomed)
    assert ran == [True]
    assert sim.overcommit() == CLEAN
    assert sim.fleet.instances.keys() == {kept}
