"""Run a simulation: seed a cloud, start its agents, place the stream.

The main loop (``loop``) is single-threaded and deterministic: at each
request's arrival the instances whose lifetime ended are deleted on their
agents, the scheduler refreshes its view and places the request
(claiming in the database), and the chosen agent adopts the instance.
Background threads only heartbeat and run the agents' periodic recounts,
which rewrite what the claims already wrote, so they never change a
placement: the same seed gives the same placements. (Killing agents is
the exception: when the scheduler sees them down depends on the wall
clock.)

A background thread that dies of an exception stops the run after the
request in progress (``Result.deaths``); the threads are stopped, and
waited for, before anything reads the database for the report.
"""
import array
import collections
import dataclasses
import hashlib
import random
import time

import numpy as np

from hoststate.scheduler import host_manager as host_manager_mod
from hoststate.scheduler import manager
from hoststate.simulation import bus as bus_mod
from hoststate.simulation import cloud
from hoststate.simulation import fleet as fleet_mod
from hoststate.simulation import loop as loop_mod
from hoststate.simulation import threads

#: filters of a simulation unless the configuration names others
FILTERS = ["AvailabilityZoneFilter", "ComputeFilter", "RamFilter",
           "CoreFilter", "DiskFilter", "ComputeCapabilitiesFilter",
           "ImagePropertiesFilter", "ServerGroupAntiAffinityFilter",
           "ServerGroupAffinityFilter", "NUMATopologyFilter",
           "PciPassthroughFilter"]

#: The default run: DEFAULT_NODES hosts, each pre-filled to its own share
#: of its capacity around DEFAULT_PREFILL (memory starts near 63 %), then
#: DEFAULT_REQUESTS boots, a third of them deleted again during the run.
#: Memory climbs to about 96 %; big flavors meet NoValidHost from about a
#: tenth of the way in (RamFilter: no host has 256 GiB free), GPU and
#: pinned flavors from about a third, and in the last third most intervals
#: refuse several requests, mostly for disk, while nearly all the free
#: capacity left is stranded (fragmentation near 100 %). About 7 s on
#: two cores. (Measured for seed 0; see the README's example.)
DEFAULT_NODES = 100
DEFAULT_REQUESTS = 3000
DEFAULT_PREFILL = 0.7


@dataclasses.dataclass
class Options:
    nodes: int = DEFAULT_NODES
    requests: int = DEFAULT_REQUESTS
    seed: int = 0
    kill_agents: int = 0
    prefill: float = DEFAULT_PREFILL   # share of capacity, 0 <= x < 1
    kill_at: float = 0.5          # fraction of the stream before the kill
    detection_timeout: float = 30.0
    #: the bus the agents and the scheduler talk over; None: direct calls
    transport_url: str | None = None


@dataclasses.dataclass
class Result:
    options: Options
    servicegroup: str
    database: str
    #: "direct calls", or the bus's URL (password hidden)
    transport: str = "direct calls"
    setup_seconds: float = 0.0
    run_seconds: float = 0.0
    #: requests the loop took (all of them unless it stopped early)
    requests_done: int = 0
    prefilled: int = 0
    placements: int = 0
    no_valid_host: int = 0
    reasons: collections.Counter = dataclasses.field(
        default_factory=collections.Counter)
    #: reason -> the explanation of its last occurrence
    reason_examples: dict = dataclasses.field(default_factory=dict)
    #: resource -> NoValidHosts whose shortfalls name it
    by_resource: collections.Counter = dataclasses.field(
        default_factory=collections.Counter)
    #: seconds of each select_destinations (with its database claim)
    latencies: array.array = dataclasses.field(
        default_factory=lambda: array.array("d"))
    deletes: int = 0
    deletes_skipped_dead: int = 0
    rescheduled_dead: int = 0
    #: one dict per interval of the stream (see loop.Loop.sample)
    samples: list = dataclasses.field(default_factory=list)
    victims: list = dataclasses.field(default_factory=list)
    killed_at: float | None = None
    detected: dict = dataclasses.field(default_factory=dict)
    chosen_after_detection: int = 0
    periodic_updates: int = 0
    #: sha256 over (instance uuid, host) of every placement in order: the
    #: same for two runs exactly when they placed the same way
    placements_digest: object = dataclasses.field(
        default_factory=hashlib.sha256)
    #: threads.Death of every background thread that died
    deaths: list = dataclasses.field(default_factory=list)

    def placed(self, instance_uuid, host):
        self.placements += 1
        self.placements_digest.update(f"{instance_uuid} {host}\n".encode())


class Simulation:
    """``progress(done, total, result)`` is called after each request."""

    def __init__(self, context, conf, options, progress=None):
        self.context = context
        self.conf = conf
        self.options = options
        self.progress = progress or (lambda done, total, result: None)

    def run(self):
        with threads.Watch() as watch:
            return self._run(watch)

    def _run(self, watch):
        options = self.options
        started = time.monotonic()
        hosts = cloud.build_hosts(options.nodes, options.seed)
        victims = random.Random(options.seed + 7).sample(
            [h.host for h in hosts], options.kill_agents)
        fleet = fleet_mod.Fleet(self.context, self.conf, hosts, victims)
        bus = None
        result = Result(options, self.conf.servicegroup_driver,
                        str(self.context.engine.url.render_as_string(
                            hide_password=True)), victims=sorted(victims))
        try:
            result.prefilled = fleet.seed(options.prefill, options.seed)
            fleet.join()
            hosts_view = host_manager_mod.HostManager(
                self.context, self.conf, fleet.liveness, refresh_overlap=0.05,
                liveness_interval=self.conf.report_interval)
            hosts_view.load()
            scheduler = manager.Scheduler(hosts_view, self.conf,
                                          seed=options.seed, refresh=False)
            if options.transport_url:
                bus = bus_mod.Bus(self.conf, self.context, scheduler)
                fleet.bus, scheduler, result.transport = bus, bus, bus.url
            fleet.start_periodic(_update_interval(self.conf))
            result.setup_seconds = time.monotonic() - started
            loop_mod.Loop(self, fleet, hosts_view, scheduler, result,
                          watch).run()
        finally:
            result.periodic_updates = fleet.periodic_updates
            stuck = fleet.stop()
            if bus is not None:
                bus.stop()
        result.deaths = list(watch.deaths)
        if stuck:
            raise threads.ThreadsStuck(names=", ".join(stuck),
                                       seconds=threads.STOP_TIMEOUT_S)
        result.run_seconds = time.monotonic() - started - result.setup_seconds
        return result


def _update_interval(conf):
    interval = conf.update_resources_interval
    return 60 if interval == 0 else interval


def percentile(values, q):
    return float(np.percentile(values, q)) if len(values) else 0.0
