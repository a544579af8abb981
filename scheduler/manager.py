"""select_destinations: filter, weigh, choose, claim, consume, repeat.

    request spec -> request vector (once)
    for each instance: narrow (destination, ignore, force) -> filter masks
        -> weights -> ordered candidates -> host_subset_size choice
        -> atomic claim in the database (a lost claim tries the next
           candidate) -> the table row rewritten from the stored node
    alternates: max_attempts - 1 per instance, same cell, never a selected
    node

Randomness (the subset choice, the shuffle of tied top hosts) comes from
one seeded generator, so a run can be replayed.
"""
import json
import logging
import random
import uuid as uuid_mod

import numpy as np
from oslo_utils import uuidutils

from hoststate import exception
from hoststate.conf import limits
from hoststate.conf import CONF
from hoststate.hardware import capacity
from hoststate.hardware import numa as hw_numa
from hoststate.hardware import row_runs
from hoststate.objects import numa as numa_obj
from hoststate.objects import request_spec as spec_obj
from hoststate.objects import selection as selection_obj
from hoststate.scheduler import claim_port
from hoststate.scheduler import claim_session
from hoststate.scheduler import filters as filters_mod
from hoststate.scheduler import ranking as ranking_mod
from hoststate.scheduler import request as request_mod
from hoststate.scheduler import request_filters
from hoststate.scheduler import weights as weights_mod

LOG = logging.getLogger(__name__)

#: Claims tried per instance before giving up (each lost one re-reads the
#: node, so a storm of parallel schedulers cannot loop forever).
MAX_CLAIM_ATTEMPTS = 64
#: Times a request for several instances is tried whole when its claims
#: deadlock with another writer's (each try starts from the committed
#: nodes again).
REQUEST_ATTEMPTS = 4
ALLOCATION_REQUEST_VERSION = "hoststate-1.0"


class Placement:
    """One instance placed: its row, the rows it was ranked against and
    its reservation (``claim_port.Reservation``)."""

    __slots__ = ("instance_uuid", "row", "ranked", "reservation", "passed")

    def __init__(self, instance_uuid, row, ranked, reservation, passed):
        self.instance_uuid = instance_uuid
        self.row = row
        self.ranked = ranked
        self.reservation = reservation
        self.passed = passed      # rows that passed the filters

    @property
    def claim(self):
        """The node row a database claim stored (None in memory)."""
        return self.reservation.stored


class Scheduler:
    """Chooses nodes for requests over a HostManager's table.

    Decisions read the table and the request; every write goes through
    ``claims``, the claim port (``claim_port``): ``claim_in_database``
    (default True) makes every choice an atomic claim on the node row in
    its cell's database; False only consumes in the table, for a
    scheduler that simulates or leaves claiming to someone else.
    """

    def __init__(self, host_manager, conf=None, seed=None,
                 claim_in_database=True, refresh=True):
        self.host_manager = host_manager
        self.conf = conf if conf is not None else CONF
        self.filters = filters_mod.load(self.conf)
        self.weighers = weights_mod.load(self.conf)
        self.random = random.Random(seed)
        self.claims = (claim_port.DatabaseClaims if claim_in_database
                       else claim_port.InMemoryClaims)(host_manager)
        names = {f.name for f in self.filters}
        #: RamFilter, CoreFilter and DiskFilter check what a claim checks
        #: (with the node's own ratios), so the claim check is redundant.
        self._capacity_filtered = {"RamFilter", "CoreFilter",
                                   "DiskFilter"} <= names
        self.refresh_before_select = refresh

    @property
    def table(self):
        return self.host_manager.table

    # --- the request -----------------------------------------------------------

    def select_destinations(self, spec, instance_uuids=None,
                            return_alternates=True):
        """Per instance, [chosen Selection, alternates...].

        ``instance_uuids`` names the instances, as Nova's conductor does
        (its length is the count); without it the spec's ``instance_uuid``
        is the first of ``num_instances`` and the others get new uuids from
        the scheduler's seeded generator. Raises NoValidHost (with reasons)
        when some instance cannot be placed, and then nothing of the
        request is left anywhere: no node usage, no instance row (see
        ``claim_session.ClaimSession``).
        """
        if self.refresh_before_select:
            self.host_manager.refresh()
        count, named = _instance_count(spec, instance_uuids)
        request = self.request_vector(spec)
        self._refuse_more_than_the_cloud_holds(request, count)
        last = None
        for attempt in range(REQUEST_ATTEMPTS):
            if attempt:
                request = self.request_vector(spec)
            uuids = named or self._new_uuids(spec, count)
            try:
                placements = self._place_all(request, uuids, count > 1)
                break
            except claim_session.Deadlocked as exc:
                LOG.info("request %s tried again: %s", spec.instance_uuid,
                         exc)
                last = exc
        else:
            raise exception.NoValidHost(reasons=[
                f"claims deadlocked with other writers {REQUEST_ATTEMPTS} "
                f"times; the last: {last}"])
        alternates = self.conf.scheduler.max_attempts - 1 \
            if return_alternates else 0
        return [self._selections(p, placements, alternates)
                for p in placements]

    def request_vector(self, spec):
        """The request as filters read it. A guest asking for a NUMA
        topology larger than every node is NoValidHost here, before its
        CPU sets are built (their size is the request's, not the cloud's).
        """
        try:
            request = request_mod.RequestVector(
                spec, self.conf, max_vcpus=capacity.largest_vcpus(self.table))
        except hw_numa.NUMARequestTooLarge as exc:
            raise exception.NoValidHost(reasons=[str(exc)]) from None
        wanted = request.instances_of_interest()
        if request.instance_uuid and (wanted or
                                      request.allow_cross_cell_move):
            # where the instance is now matters to moves: anti-affinity
            # lets it stay, CrossCellWeigher prefers its cell
            wanted.add(request.instance_uuid)
        if wanted:
            request.instance_hosts = self.host_manager.instance_hosts(wanted)
        here = request.instance_hosts.get(request.instance_uuid)
        rows = self.table.rows_of_host.get(here, ()) if here else ()
        if rows:
            request.source_cell = self.table.cell_of(min(rows))
        return request

    def _new_uuids(self, spec, count):
        """The spec's instance uuid, then ``count - 1`` new ones, made as
        they are needed (a count is never turned into a list up front)."""
        first = spec.obj_get("instance_uuid")
        yield first if first else self._new_uuid()
        for _ in range(count - 1):
            yield self._new_uuid()

    def _new_uuid(self):
        return str(uuid_mod.UUID(int=self.random.getrandbits(128),
                                 version=4))

    def _refuse_more_than_the_cloud_holds(self, request, count):
        """NoValidHost at once when ``count`` instances of the flavor
        cannot fit in the free capacity of every candidate node together:
        the request's work is then bounded by the cloud, never by the
        count it carries."""
        if count == 1:
            return
        table = self.table
        rows = np.flatnonzero(table.candidates())
        room = capacity.instances_that_fit(table, rows, request.wanted())
        if room < count:
            raise exception.NoValidHost(reasons=[
                f"{count} instances requested, but the free capacity of "
                f"all {len(rows)} candidate nodes holds at most {int(room)}"])

    @property
    def claim_in_database(self):
        return self.claims.in_database

    def release(self, selection, instance_uuid):
        """Give back what a committed placement of ``instance_uuid`` on
        ``selection``'s node holds (the build was abandoned, as Nova's
        reschedule deletes the allocation)."""
        row = self.table.row_of_uuid.get(selection.compute_node_uuid)
        if row is not None:
            self.claims.release(row, instance_uuid)

    def _place_all(self, request, uuids, together):
        """A Placement per instance, claimed together (see ClaimSession);
        on any failure the table is put back as it was."""
        placements = []
        session = self.claims.session(together)
        try:
            with session:
                previous = None
                placed = []
                for index, instance_uuid in enumerate(uuids):
                    placement = self._place_one(
                        request.for_instance(index, instance_uuid, placed),
                        instance_uuid, session, previous)
                    placements.append(placement)
                    placed.append((instance_uuid,
                                   self.table.host_of(placement.row)))
                    previous = placement.passed
        except BaseException:
            self.claims.unreserve_all([p.reservation for p in placements],
                                      request, session)
            raise
        return placements

    def _place_one(self, request, instance_uuid, session, previous=None):
        """Place one instance: candidates, weighed, claimed best first.

        As in Nova 34, which asks Placement once per request: the first
        instance weighs only the hosts with room for it (Placement's
        candidates, here the claim check); later ones weigh every host
        that passed the filters (the first one's candidates, less what
        the filters remove) and take the best that still has room, as
        Nova's claims down the weighed list do. So a host an earlier
        instance filled still counts in the later ones' normalisation.
        """
        rows, reasons = self.candidates(request, previous)
        if request.is_rebuild:
            return self._rebuild_check(request, instance_uuid, rows, reasons)
        if previous is None:
            rows = self._placement_candidates(rows, request, reasons)
        if len(rows) == 0:
            raise exception.NoValidHost(reasons=reasons)
        ranked = self.rank(rows, request)
        attempts, wanted = 0, request.wanted()
        for row in ranked:
            row = int(row)
            if previous is not None and \
                    not capacity.fits_on_row(self.table, row, wanted):
                continue            # Placement's claim would refuse it
            if attempts == MAX_CLAIM_ATTEMPTS:
                break
            attempts += 1
            reservation = self.claims.reserve(session, row, request,
                                              instance_uuid, reasons)
            if reservation is not None:
                return Placement(instance_uuid, row, ranked, reservation,
                                 rows)
        if attempts == 0:
            reasons.append(self._capacity_outcome(rows, rows[:0], request))
        raise exception.NoValidHost(reasons=reasons)

    def _placement_candidates(self, rows, request, reasons):
        """The ``rows`` with room for one instance (Placement's answer for
        the request), the claim check's outcome added to ``reasons``. The
        legacy capacity filters check the same when they ran on the rows
        (not forced past) on the flavor's sizes (no ``resources:``
        overrides)."""
        if self._capacity_filtered and not request.overrides_resources \
                and not _forced(request.spec):
            return rows
        claimable = self.claimable(rows, request)
        if len(claimable) < len(rows):
            reasons.append(self._capacity_outcome(rows, claimable, request))
        return claimable

    def _rebuild_check(self, request, instance_uuid, rows, reasons):
        """The best of ``rows`` for a rebuild, with nothing claimed or
        consumed: the instance already holds its resources on the node
        it is rebuilt on, so Nova 34 asks neither its request filters
        nor Placement then, and claims nothing (a claim would count the
        instance twice)."""
        if len(rows) == 0:
            raise exception.NoValidHost(reasons=reasons)
        ranked = self.rank(rows, request)
        row = int(ranked.head[0])
        return Placement(instance_uuid, row, ranked,
                         claim_port.Reservation(row, instance_uuid), rows)

    def candidates(self, request, previous=None):
        """(rows passing the request filters, narrowing and filters,
        reasons for those that did not).

        For the second and later instances of a request the filters start
        from the hosts that passed for the one before, as Nova's do; that is
        what makes skipping the run-once filters safe.
        """
        table = self.table
        reasons = []
        if previous is not None:
            # Forcing skips the filters for every instance, as Nova's
            # per-instance narrowing does.
            if _forced(request.spec) and \
                    not request.hint_list("_nova_check_type"):
                return previous, reasons
            return filters_mod.run_filters(self.filters, table, previous,
                                           request, reasons), reasons
        rows = row_runs.of(np.flatnonzero(table.candidates()))
        if len(rows) == 0:
            return rows, ["no compute node is ready and has a service"]
        rows = request_filters.apply(table, rows, request, reasons)
        if len(rows) == 0:
            return rows, reasons
        narrowed, forced = self.host_manager.narrow(rows, request.spec)
        if len(narrowed) < len(rows):
            reasons.append(filters_mod.FilterOutcome(
                "requested/forced/ignored hosts", len(rows),
                len(rows) - len(narrowed)))
        if forced and not request.hint_list("_nova_check_type"):
            return narrowed, reasons
        return filters_mod.run_filters(self.filters, table, narrowed, request,
                                       reasons), reasons

    def claimable(self, rows, request):
        """The rows whose cpu, memory and disk can take the request, by the
        rule the claim checks (``hardware.capacity``: total x ratio - used
        >= requested, and no request larger than the node).

        Placement does this for Nova whatever filters are enabled; here
        it is one vector expression, and it keeps a scheduler from trying
        claims that are bound to fail.
        """
        return rows[capacity.fits_on_rows(self.table, rows,
                                          request.wanted())]

    def _capacity_outcome(self, rows, claimable, request):
        """The claim check's FilterOutcome; when it removed every row,
        with each resource no row had room for (requested, and the most
        any row could give) as text and as Shortfalls."""
        removed = len(rows) - len(claimable)
        if len(claimable):
            return filters_mod.FilterOutcome(_CLAIM_CHECK, len(rows), removed)
        shortfalls = capacity.shortfalls_on_rows(self.table, rows,
                                                 request.wanted())
        detail = "; ".join(str(s) for s in shortfalls) or \
            "no single host has every resource free"
        return filters_mod.FilterOutcome(_CLAIM_CHECK, len(rows), removed,
                                         detail, shortfalls)

    def rank(self, rows, request):
        """``rows`` best first: weighed, stable on table order, tied top
        hosts shuffled if configured, and one of the first
        host_subset_size moved to the front. Only the best few are sorted
        up front; the rest only if claims on those all fail."""
        weights = weights_mod.weigh(self.weighers, self.table, rows, request)
        fs = self.conf.filter_scheduler
        ranking = ranking_mod.Ranking(
            rows, weights, top=max(ranking_mod.TOP, fs.host_subset_size),
            keep_ties=fs.shuffle_best_same_weighed_hosts)
        best = ranking.head
        if fs.shuffle_best_same_weighed_hosts and len(best) > 1:
            tied = ranking.tied_at_top()
            top = best[:tied]
            self.random.shuffle(top)
            best[:tied] = top
        subset = max(1, min(fs.host_subset_size, len(rows)))
        chosen = self.random.randrange(subset) if subset > 1 else 0
        if chosen:
            best.insert(0, best.pop(chosen))
        return ranking

    # --- results ------------------------------------------------------------------

    def _selections(self, placement, placements, alternates):
        table = self.table
        chosen = placement.row
        selected = {p.row for p in placements}
        cell = table.cell_of(chosen)
        result = [self.selection(chosen, placement.claim)]
        for row in placement.ranked:
            if len(result) > alternates:
                break
            if row in selected or table.cell_of(row) != cell:
                continue
            result.append(self.selection(row))
        return result

    def selection(self, row, claim=None):
        """The Selection of ``row`` (the chosen node if ``claim`` is the
        stored row a claim wrote, else an alternate)."""
        table = self.table
        codes, zones = table.zone_codes()
        allocation = None
        if claim is not None:
            allocation = json.dumps({"compute_node_uuid": table.uuid[row],
                                     "generation": int(claim["generation"])})
        return selection_obj.Selection.trusted(
            service_host=table.host_of(row), nodename=table.nodename_of(row),
            compute_node_uuid=table.uuid[row], cell_uuid=table.cell_of(row),
            limits=self.limits(row), allocation_request=allocation,
            allocation_request_version=ALLOCATION_REQUEST_VERSION
            if allocation else None,
            availability_zone=zones[codes[row]])

    def limits(self, row):
        """The limits a claim on ``row`` enforces (Nova's filters set them
        on the host state; here they follow from the row)."""
        t = self.table
        numa = None
        if t.value("numa_topology", row) is not None:
            numa = numa_obj.NUMATopologyLimits(
                cpu_allocation_ratio=float(t.cpu_allocation_ratio[row]),
                ram_allocation_ratio=float(t.ram_allocation_ratio[row]))
        return spec_obj.SchedulerLimits.trusted(
            vcpu=int(capacity.limit(t.vcpus_total[row],
                                    t.cpu_allocation_ratio[row])),
            memory_mb=int(capacity.limit(t.total_usable_ram_mb[row],
                                         t.ram_allocation_ratio[row])),
            disk_gb=int(capacity.limit(t.total_usable_disk_gb[row],
                                       t.disk_allocation_ratio[row])),
            numa_topology=numa)


#: The FilterOutcome name of the claim check (see ``claimable``).
_CLAIM_CHECK = "capacity (claim check)"


def _forced(spec):
    """Whether ``spec`` forces hosts or nodes (see HostManager.narrow)."""
    return bool(spec.obj_get("force_hosts") or spec.obj_get("force_nodes"))


def _instance_count(spec, instance_uuids):
    """(how many instances, the uuids named or None): Nova counts the
    uuids it is given, else the spec's num_instances. Named uuids must be
    a list (or tuple) of at most MAX_REQUEST_ITEMS distinct uuids, checked
    before anything is read of the cloud."""
    if instance_uuids is None or (isinstance(instance_uuids, (list, tuple))
                                  and not instance_uuids):
        return int(spec.num_instances), None
    if not isinstance(instance_uuids, (list, tuple)):
        raise exception.InvalidSchedulerRequest(
            field="instance_uuids", value=instance_uuids,
            reason="must be a list of instance uuids")
    if len(instance_uuids) > limits.MAX_REQUEST_ITEMS:
        raise exception.InvalidSchedulerRequest(
            field="instance_uuids", value=f"{len(instance_uuids)} uuids",
            reason=f"at most {limits.MAX_REQUEST_ITEMS} instances a request")
    wrong = [u for u in instance_uuids if not isinstance(u, str) or
             not uuidutils.is_uuid_like(u)]
    if wrong:
        raise exception.InvalidSchedulerRequest(
            field="instance_uuids", value=wrong[:3],
            reason="each must be a uuid")
    uuids = list(instance_uuids)
    if len(set(uuids)) != len(uuids):
        repeated = sorted({u for u in uuids if uuids.count(u) > 1})
        raise exception.InvalidSchedulerRequest(
            field="instance_uuids", value=repeated[:3],
            reason="each instance needs a uuid of its own")
    return len(uuids), uuids
