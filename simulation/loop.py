"""The main loop of a simulation: one pass over the request stream.

At each request's arrival: delete the instances whose lifetime ended,
refresh the scheduler's view, place the request (select with the
database claim), and let the chosen agent adopt it. Every ``1/SAMPLES``
of the stream a sample records the cloud's utilization and what the
interval since the previous sample came to (placements, NoValidHost by
reason, select latency percentiles), the series ``--plot`` and
``--json`` show. A NoValidHost is counted by the reason that ended it and
by each resource its structured shortfalls name (no text is parsed for
that).
"""
import collections
import heapq
import time

import numpy as np

from hoststate import exception
from hoststate.hardware import capacity
from hoststate.objects import image_meta
from hoststate.objects import request_spec
from hoststate.simulation import workload

#: the scheduler re-reads the nodes at least every this many requests
REFRESH_EVERY = 50
#: samples taken over a run (for --plot and --json)
SAMPLES = 200


class Loop:
    """One pass over the stream (state shared by the small steps)."""

    def __init__(self, simulation, fleet, hosts_view, scheduler, result,
                 watch):
        self.sim = simulation
        self.fleet = fleet
        self.hosts_view = hosts_view
        self.scheduler = scheduler
        self.result = result
        self.watch = watch
        self.flavors = workload.flavors()
        #: the stream's one image, parsed once (each request gets a copy)
        self.image = image_meta.ImageMeta.from_dict(workload.IMAGE)
        self.expiries = []
        self.victim_rows = None
        self.window = _Window()

    def run(self):
        options = self.sim.options
        total = options.requests
        kill_index = int(total * options.kill_at) \
            if options.kill_agents else None
        every = max(1, total // SAMPLES)
        last = None
        self.sample(None)
        for request in workload.stream(total, options.seed):
            if self.watch.deaths:
                break       # the run goes on without heartbeats or recounts
            changed = self._expire(request.arrival)
            if request.index == kill_index:
                self._kill()
            self._refresh(changed, request.index % REFRESH_EVERY == 0)
            self._place(request)
            self._watch_victims()
            self.result.requests_done = request.index + 1
            last = request
            if (request.index + 1) % every == 0:
                self.sample(request)
            self.sim.progress(request.index + 1, total, self.result)
        if last is not None and (last.index + 1) % every:
            self.sample(last)
        if self.result.killed_at is not None and not self.watch.deaths:
            self._await_detection()

    # --- steps -------------------------------------------------------------------

    def _expire(self, now):
        """Delete the instances whose lifetime ended; the (host, nodename)
        of the nodes they were deleted from."""
        deleted = set()
        while self.expiries and self.expiries[0][0] <= now:
            _, uuid = heapq.heappop(self.expiries)
            node = self.fleet.node_of(uuid)
            if self.fleet.delete(uuid):
                self.result.deletes += 1
                deleted.add(node)
            else:
                self.result.deletes_skipped_dead += 1
        return deleted

    def _refresh(self, deleted_from, every_node):
        """The scheduler's view, at points fixed by the stream so runs
        repeat: every node re-read every REFRESH_EVERY requests, the nodes
        the agents just wrote (deletes) re-read before the next request,
        liveness as often as it may change.

        Between two full refreshes nothing else changes a node's figures:
        the claims are this scheduler's own (the table takes each as
        stored), and an agent's start or periodic recount rewrites what
        the claims and deletes already wrote. Re-reading only the deleted
        nodes gives the table a full refresh would."""
        if every_node:
            self.hosts_view.refresh()
            return
        table = self.hosts_view.table
        for host, nodename in sorted(deleted_from):
            row = table.row_of_host_node.get((host, nodename))
            if row is not None:
                self.hosts_view.refresh_node(table.cell_of(row),
                                             int(table.id[row]))
        self.hosts_view.refresh_liveness()

    def _place(self, request, ignore_hosts=()):
        spec = self._spec(request, ignore_hosts)
        started = time.perf_counter()
        try:
            [[chosen, *_]] = self.scheduler.select_destinations(spec)
        except exception.NoValidHost as exc:
            self._latency(time.perf_counter() - started)
            self._no_valid_host(*_reason(exc), short_of=_short_of(exc))
            return
        self._latency(time.perf_counter() - started)
        host = chosen.service_host
        if host in self.result.detected:
            self.result.chosen_after_detection += 1
        if self.fleet.is_dead(host):
            self._reschedule(request, chosen, ignore_hosts)
            return
        self.fleet.adopt(request.uuid, host, chosen.nodename,
                         deletable=request.lifetime is not None)
        self.result.placed(request.uuid, host)
        self.window.placements += 1
        if request.group is not None:
            request.group.members.append(request.uuid)
        if request.lifetime is not None:
            heapq.heappush(self.expiries, (request.expires, request.uuid))

    def _latency(self, seconds):
        self.result.latencies.append(seconds)
        self.window.latencies.append(seconds)

    def _no_valid_host(self, name, detail, short_of=()):
        """Count a NoValidHost: by reason, and by each resource its
        shortfalls name (``short_of``)."""
        self.result.no_valid_host += 1
        self.result.reasons[name] += 1
        self.result.reason_examples[name] = detail
        self.result.by_resource.update(short_of)
        self.window.reasons[name] += 1

    def _reschedule(self, request, chosen, ignore_hosts):
        """The build failed on a crashed host: undo the claim and try
        elsewhere, as Nova's reschedule does (at most max_attempts)."""
        self.result.rescheduled_dead += 1
        self.scheduler.release(chosen, request.uuid)
        ignore = list(ignore_hosts) + [chosen.service_host]
        if len(ignore) < self.sim.conf.scheduler.max_attempts:
            self._place(request, ignore)
        else:
            self._no_valid_host("max_attempts",
                                "every host chosen for the instance was dead")

    def _spec(self, request, ignore_hosts):
        flavor = self.flavors[request.flavor]
        pci = workload.gpu_request(request.uuid) \
            if "pci_passthrough:alias" in flavor.extra_specs else None
        group = request.group
        if group is not None:
            group = group.obj_clone()
        return request_spec.RequestSpec.from_components(
            request.uuid, flavor, image=self.image.obj_clone(),
            pci_requests=pci,
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

    # --- samples -----------------------------------------------------------------

    def sample(self, request):
        """Utilization of the living nodes as the scheduler sees them, and
        the interval since the previous sample."""
        table = self.hosts_view.table
        rows = table.live_rows()
        window, self.window = self.window, _Window()
        sample = dict(
            request=(request.index + 1) if request else 0,
            simulated_seconds=round(request.arrival, 3) if request else 0.0,
            instances=self.fleet.living(),
            placements=window.placements,
            no_valid_host=dict(sorted(window.reasons.items())),
            select_latency_ms=window.percentiles())
        sample.update(_utilization(table, rows))
        self.result.samples.append(sample)


class _Window:
    """What happened since the last sample."""

    def __init__(self):
        self.placements = 0
        self.latencies = []
        self.reasons = collections.Counter()

    def percentiles(self):
        if not self.latencies:
            return None
        p50, p99 = np.percentile(self.latencies, [50, 99]) * 1000
        return {"p50": round(float(p50), 3), "p99": round(float(p99), 3)}


def _utilization(table, rows):
    """used / (total × ratio) of vcpus, memory and disk over ``rows``."""
    if len(rows) == 0:
        return {resource: 0.0 for resource in capacity.RESOURCES}
    return {resource: round(float(used.sum() /
                                  capacity.limit(total, ratio).sum()), 5)
            for resource, (total, ratio, used)
            in capacity.table_view(table, rows).items()}


def _reason(exc):
    """(what, an example) a NoValidHost came to: the filter that removed
    the last hosts (with its explanation), or the claim that failed."""
    outcomes = [r for r in exc.reasons if not isinstance(r, str)]
    last = outcomes[-1] if outcomes else None
    if last is not None and last.removed == last.before:
        return last.name, last.detail or str(last)
    text = str(exc.reasons[-1]) if exc.reasons else "no hosts"
    return text.split(":")[0], text


def _short_of(exc):
    """The resources a NoValidHost's shortfalls name, each once."""
    return sorted({shortfall.resource for shortfall in exc.shortfalls})
