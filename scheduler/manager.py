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
import logging
import random
import uuid as uuid_mod

import numpy as np

from hoststate import exception
from hoststate.conf import limits
from hoststate.conf import CONF
from hoststate.hardware import capacity
from hoststate.hardware import numa as hw_numa
from hoststate.objects import base as obj_base
from hoststate.scheduler import claim_checks
from hoststate.scheduler import claim_port
from hoststate.scheduler import claim_session
from hoststate.scheduler import conf_values
from hoststate.scheduler import derived
from hoststate.scheduler import filters as filters_mod
from hoststate.scheduler import ranking as ranking_mod
from hoststate.scheduler import request as request_mod
from hoststate.scheduler import request_filters
from hoststate.scheduler import selections as selections_mod
from hoststate.scheduler import weight_totals
from hoststate.scheduler import weights as weights_mod

LOG = logging.getLogger(__name__)

#: Claims tried per instance before giving up (each lost one re-reads the
#: node, so a storm of parallel schedulers cannot loop forever).
MAX_CLAIM_ATTEMPTS = 64
#: Times a request for several instances is tried whole when its claims
#: deadlock with another writer's (each try starts from the committed
#: nodes again).
REQUEST_ATTEMPTS = 4
ALLOCATION_REQUEST_VERSION = selections_mod.ALLOCATION_REQUEST_VERSION


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
        alternates = conf_values.option(self.conf, "scheduler",
                                        "max_attempts") - 1 \
            if return_alternates else 0
        return [selections_mod.of_placement(self.table, p, placements,
                                            alternates)
                for p in placements]

    def request_vector(self, spec):
        """The request as filters read it. A guest asking for a NUMA
        topology larger than every node is NoValidHost here, before its
        CPU sets are built (their size is the request's, not the cloud's).
        """
        try:
            request = request_mod.RequestVector(
                spec, self.conf, max_vcpus=derived.of(self.table).value(
                    "largest vcpus",
                    lambda: capacity.largest_vcpus(self.table)))
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
        rows, reasons, store = self._candidates(request, previous)
        if request.is_rebuild:
            return claim_checks.rebuild_check(self, request, instance_uuid,
                                              rows, reasons, Placement)
        if previous is None:
            rows = claim_checks.placement_candidates(
                self.table, rows, request, reasons, self._capacity_filtered)
        if len(rows) == 0:
            raise exception.NoValidHost(reasons=reasons)
        ranked = self.rank(rows, request, store)
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
            reasons.append(claim_checks.capacity_outcome(
                self.table, rows, rows[:0], request))
        raise exception.NoValidHost(reasons=reasons)

    def candidates(self, request, previous=None):
        """(rows passing the request filters, narrowing and filters,
        reasons for those that did not).

        For the second and later instances of a request the filters start
        from the hosts that passed for the one before, as Nova's do; that is
        what makes skipping the run-once filters safe.
        """
        rows, reasons, _ = self._candidates(request, previous)
        return rows, reasons

    def _candidates(self, request, previous=None):
        """``candidates``, and the table's derived store when every row
        returned is a candidate of it (else None)."""
        table = self.table
        store = derived.of(table)
        mask, rows = store.candidates()
        reasons = []
        if previous is not None:
            # Forcing skips the filters for every instance, as Nova's
            # per-instance narrowing does.
            # the derived columns hold candidates only (a claim may have
            # changed whether a row is one)
            usable = store if mask[previous].all() else None
            if claim_checks.forced(request.spec) and \
                    not request.hint_list("_nova_check_type"):
                return previous, reasons, usable
            return filters_mod.run_filters(self.filters, table, previous,
                                           request, reasons,
                                           usable), reasons, usable
        if len(rows) == 0:
            return rows, ["no compute node is ready and has a service"], \
                store
        rows = request_filters.apply_derived(store, request, reasons)
        if len(rows) == 0:
            return rows, reasons, store
        narrowed, forced = self.host_manager.narrow(rows, request.spec)
        if len(narrowed) < len(rows):
            reasons.append(filters_mod.FilterOutcome(
                "requested/forced/ignored hosts", len(rows),
                len(rows) - len(narrowed)))
        if forced and not request.hint_list("_nova_check_type"):
            return narrowed, reasons, store
        return filters_mod.run_filters(self.filters, table, narrowed, request,
                                       reasons, store), reasons, store

    def claimable(self, rows, request):
        """The rows the claim check lets through (``claim_checks``)."""
        return claim_checks.claimable(self.table, rows, request)

    def rank(self, rows, request, store=None):
        """``rows`` best first: weighed, stable on table order, tied top
        hosts shuffled if configured, and one of the first
        host_subset_size moved to the front. Only the best few are sorted
        up front; the rest only if claims on those all fail. ``store``:
        the table's derived store, when every row is a candidate."""
        weights = weights_mod.weigh(self.weighers, self.table, rows, request,
                                    store)
        subset_size, shuffle = conf_values.kept(
            self.conf, ("ranking",), lambda conf: (
                conf.filter_scheduler.host_subset_size,
                conf.filter_scheduler.shuffle_best_same_weighed_hosts))
        ranking = ranking_mod.Ranking(
            rows, weights, top=max(ranking_mod.TOP, subset_size),
            keep_ties=shuffle, pool=None if store is None else
            weight_totals.pool(store, weights))
        best = ranking.head
        if shuffle and len(best) > 1:
            tied = ranking.tied_at_top()
            top = best[:tied]
            self.random.shuffle(top)
            best[:tied] = top
        subset = max(1, min(subset_size, len(rows)))
        chosen = self.random.randrange(subset) if subset > 1 else 0
        if chosen:
            best.insert(0, best.pop(chosen))
        return ranking

    def selection(self, row, claim=None):
        """The Selection of ``row`` (see ``selections.selection``)."""
        return selections_mod.selection(self.table, row, claim)

    def limits(self, row):
        """The limits a claim on ``row`` enforces."""
        return selections_mod.limits(self.table, row)


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
             not obj_base.is_uuid_like(u)]
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
