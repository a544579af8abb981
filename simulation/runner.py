"""Run a simulation: seed a cloud, start its agents, place the stream.

The main loop is single-threaded and deterministic: at each request's
arrival the instances whose lifetime ended are deleted on their agents,
the scheduler refreshes its view and places the request (claiming in the
database), and the chosen agent adopts the instance. Background threads
only heartbeat and run the agents' periodic recounts, which rewrite what
the claims already wrote, so they never change a placement: the same seed
gives the same placements. (Killing agents is the exception: when the
scheduler sees them down depends on the wall clock.)
"""
import collections
import dataclasses
import heapq
import logging
import random
import time

import numpy as np

from hoststate import exception
from hoststate.objects import request_spec
from hoststate.scheduler import claims
from hoststate.scheduler import host_manager as host_manager_mod
from hoststate.scheduler import manager
from hoststate.simulation import cloud
from hoststate.simulation import fleet as fleet_mod
from hoststate.simulation import workload

LOG = logging.getLogger(__name__)

#: filters of a simulation unless the configuration names others
FILTERS = ["AvailabilityZoneFilter", "ComputeFilter", "RamFilter",
           "CoreFilter", "DiskFilter", "ComputeCapabilitiesFilter",
           "ImagePropertiesFilter", "ServerGroupAntiAffinityFilter",
           "ServerGroupAffinityFilter", "NUMATopologyFilter",
           "PciPassthroughFilter"]
#: the scheduler re-reads the nodes at least every this many requests
REFRESH_EVERY = 50
#: utilization samples taken over a run (for --plot)
SAMPLES = 200


@dataclasses.dataclass
class Options:
    nodes: int = 1000
    requests: int = 4000
    seed: int = 0
    kill_agents: int = 0
    kill_at: float = 0.5          # fraction of the stream before the kill
    detection_timeout: float = 30.0


@dataclasses.dataclass
class Result:
    options: Options
    servicegroup: str
    database: str
    setup_seconds: float = 0.0
    run_seconds: float = 0.0
    placements: int = 0
    no_valid_host: int = 0
    reasons: collections.Counter = dataclasses.field(
        default_factory=collections.Counter)
    #: reason -> the explanation of its last occurrence
    reason_examples: dict = dataclasses.field(default_factory=dict)
    latencies: list = dataclasses.field(default_factory=list)
    deletes: int = 0
    deletes_skipped_dead: int = 0
    rescheduled_dead: int = 0
    samples: list = dataclasses.field(default_factory=list)
    victims: list = dataclasses.field(default_factory=list)
    killed_at: float | None = None
    detected: dict = dataclasses.field(default_factory=dict)
    chosen_after_detection: int = 0
    periodic_updates: int = 0
    placed_on: dict = dataclasses.field(default_factory=dict)


class Simulation:
    def __init__(self, context, conf, options, progress=None):
        self.context = context
        self.conf = conf
        self.options = options
        self.progress = progress or (lambda done, total, placements: None)

    def run(self):
        options = self.options
        started = time.monotonic()
        hosts = cloud.build_hosts(options.nodes, options.seed)
        victims = random.Random(options.seed + 7).sample(
            [h.host for h in hosts], options.kill_agents)
        fleet = fleet_mod.Fleet(self.context, self.conf, hosts, victims)
        result = Result(options, self.conf.servicegroup_driver,
                        str(self.context.engine.url.render_as_string(
                            hide_password=True)), victims=sorted(victims))
        fleet.seed()
        fleet.join()
        hosts_view = host_manager_mod.HostManager(
            self.context, self.conf, fleet.liveness, refresh_overlap=0.05,
            liveness_interval=self.conf.report_interval)
        hosts_view.load()
        scheduler = manager.Scheduler(hosts_view, self.conf, seed=options.seed,
                                      refresh=False)
        fleet.start_periodic(_update_interval(self.conf))
        result.setup_seconds = time.monotonic() - started
        try:
            _Loop(self, fleet, hosts_view, scheduler, result).run()
        finally:
            result.periodic_updates = fleet.periodic_updates
            fleet.stop()
        result.run_seconds = time.monotonic() - started - result.setup_seconds
        return result


class _Loop:
    """One pass over the stream (state shared by the small steps)."""

    def __init__(self, simulation, fleet, hosts_view, scheduler, result):
        self.sim = simulation
        self.fleet = fleet
        self.hosts_view = hosts_view
        self.scheduler = scheduler
        self.result = result
        self.flavors = workload.flavors()
        self.expiries = []
        self.victim_rows = None

    def run(self):
        options = self.sim.options
        requests = workload.stream(options.requests, options.seed)
        kill_index = int(len(requests) * options.kill_at) \
            if options.kill_agents else None
        every = max(1, len(requests) // SAMPLES)
        for request in requests:
            changed = self._expire(request.arrival)
            if request.index == kill_index:
                self._kill()
            self._refresh(changed or request.index % REFRESH_EVERY == 0)
            self._place(request)
            self._watch_victims()
            if request.index % every == 0:
                self._sample(request)
            self.sim.progress(request.index + 1, len(requests),
                              self.result.placements)
        self._sample(requests[-1] if requests else None)
        if self.result.killed_at is not None:
            self._await_detection()

    # --- steps -------------------------------------------------------------------

    def _expire(self, now):
        """Delete the instances whose lifetime ended; whether any was."""
        deleted = False
        while self.expiries and self.expiries[0][0] <= now:
            _, uuid = heapq.heappop(self.expiries)
            if self.fleet.delete(uuid):
                self.result.deletes += 1
                deleted = True
            else:
                self.result.deletes_skipped_dead += 1
        return deleted

    def _refresh(self, nodes_changed):
        """The scheduler's view: nodes re-read after the agents wrote
        (deletes) and every REFRESH_EVERY requests, at points fixed by the
        stream so runs repeat; liveness as often as it may change."""
        if nodes_changed:
            self.hosts_view.refresh()
        else:
            self.hosts_view.refresh_liveness()

    def _place(self, request, ignore_hosts=()):
        spec = self._spec(request, ignore_hosts)
        started = time.perf_counter()
        try:
            [[chosen, *_]] = self.scheduler.select_destinations(spec)
        except exception.NoValidHost as exc:
            self.result.latencies.append(time.perf_counter() - started)
            self.result.no_valid_host += 1
            name, detail = _reason(exc)
            self.result.reasons[name] += 1
            self.result.reason_examples[name] = detail
            return
        self.result.latencies.append(time.perf_counter() - started)
        host = chosen.service_host
        if host in self.result.detected:
            self.result.chosen_after_detection += 1
        if self.fleet.is_dead(host):
            self._reschedule(request, host, ignore_hosts)
            return
        self.fleet.adopt(request.uuid, host, chosen.nodename)
        self.result.placements += 1
        self.result.placed_on[request.uuid] = host
        if request.group is not None:
            request.group.members.append(request.uuid)
        if request.lifetime is not None:
            heapq.heappush(self.expiries, (request.expires, request.uuid))

    def _reschedule(self, request, dead_host, ignore_hosts):
        """The build failed on a crashed host: undo the claim and try
        elsewhere, as Nova's reschedule does (at most max_attempts)."""
        self.result.rescheduled_dead += 1
        table = self.hosts_view.table
        row = min(table.rows_of_host[dead_host])
        claims.release(self.sim.context, int(table.id[row]), request.uuid)
        ignore = list(ignore_hosts) + [dead_host]
        if len(ignore) < self.sim.conf.scheduler.max_attempts:
            self._place(request, ignore)
        else:
            self.result.no_valid_host += 1
            self.result.reasons["max_attempts"] += 1
            self.result.reason_examples["max_attempts"] = (
                "every host chosen for the instance was dead")

    def _spec(self, request, ignore_hosts):
        flavor = self.flavors[request.flavor]
        pci = workload.gpu_request(request.uuid) \
            if "pci_passthrough:alias" in flavor.extra_specs else None
        group = request.group
        if group is not None:
            group = group.obj_clone()
        return request_spec.RequestSpec.from_components(
            request.uuid, flavor, image=workload.IMAGE, pci_requests=pci,
            instance_group=group, availability_zone=request.zone,
            project_id=request.project, user_id="simulation",
            ignore_hosts=list(ignore_hosts) or None)

    def _kill(self):
        self.fleet.kill()
        self.result.killed_at = time.monotonic()
        table = self.hosts_view.table
        self.victim_rows = {h: min(table.rows_of_host[h])
                            for h in self.result.victims}

    def _watch_victims(self):
        if not self.victim_rows:
            return
        up = self.hosts_view.table.up
        for host, row in list(self.victim_rows.items()):
            if not up[row]:
                self.result.detected[host] = \
                    time.monotonic() - self.result.killed_at
                del self.victim_rows[host]

    def _await_detection(self):
        deadline = time.monotonic() + self.sim.options.detection_timeout
        while self.victim_rows and time.monotonic() < deadline:
            time.sleep(0.2)
            self.hosts_view.refresh()
            self._watch_victims()

    def _sample(self, request):
        table = self.hosts_view.table
        rows = table.live_rows()
        if len(rows) == 0:
            return
        cpu = (table.vcpus_total * table.cpu_allocation_ratio)[rows].sum()
        ram_total = (table.total_usable_ram_mb * table.ram_allocation_ratio)[rows]
        ram_used = (table.total_usable_ram_mb - table.free_ram_mb)[rows]
        disk_total = (table.total_usable_disk_gb * 1024 *
                      table.disk_allocation_ratio)[rows]
        self.result.samples.append(dict(
            request=(request.index + 1) if request else 0,
            simulated_seconds=request.arrival if request else 0.0,
            vcpus=float(table.vcpus_used[rows].sum() / cpu),
            memory_mb=float(ram_used.sum() / ram_total.sum()),
            disk_gb=float(table.disk_mb_used[rows].sum() / disk_total.sum()),
            instances=len(self.fleet.instances)))


def _reason(exc):
    """(what, an example) a NoValidHost came to: the filter that removed
    the last hosts (with its explanation), or the claim that failed."""
    outcomes = [r for r in exc.reasons if not isinstance(r, str)]
    last = outcomes[-1] if outcomes else None
    if last is not None and last.removed == last.before:
        return last.name, last.detail or str(last)
    text = str(exc.reasons[-1]) if exc.reasons else "no hosts"
    return text.split(":")[0], text


def _update_interval(conf):
    interval = conf.update_resources_interval
    return 60 if interval == 0 else interval


def percentile(values, q):
    return float(np.percentile(values, q)) if values else 0.0
