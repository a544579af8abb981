"""RAM, vCPU and disk capacity filters, with Nova's pre-Placement rules.

Nova removed these filters once Placement did the arithmetic; hoststate has
no Placement, so they are back, with the rules they had (Stein for the
plain ones, Ussuri for the aggregate ones):

* RAM: the host's total memory must hold the request on its own (an
  instance may not overcommit against itself), and
  ``total * ratio - (total - free)`` must be at least the request;
* vCPU: a host reporting 0 vCPUs passes (Nova assumes broken CPU
  collection rather than a full host); otherwise the request may not
  exceed the physical count (when the overcommitted count is positive) and
  ``total * ratio - used`` must be at least the request;
* disk: the request is ``1024 * (root_gb + ephemeral_gb) + swap`` MiB,
  checked like RAM against ``total_usable_disk_gb * 1024`` and
  ``free_disk_mb``.

The ratio is the node's (``*_allocation_ratio`` columns); the Aggregate*
variants take it from aggregate metadata of the same name instead (the
smallest value over the host's aggregates), falling back to the node's.

The rule itself is ``hardware.capacity.fits`` (CoreFilter with its
``trust_counts=False`` leniency); these filters only choose the columns
and the ratios. The arithmetic is done in the same order as Nova's, so the
float results (and the pass/fail at the boundary) are the same. A filter
that removed every host explains itself with a ``Shortfall`` (DiskFilter's
MiB reported as GiB, MiB / 1024, while its sentence keeps Nova's MiB).
"""
import numpy as np

from hoststate.hardware import capacity
from hoststate.hardware.row_runs import take
from hoststate.scheduler.filters import BaseHostFilter


# --- aggregate metadata numbers ----------------------------------------------

def _aggregate_minimum(key, cast):
    """A function of an aggregate list giving the smallest value of ``key``
    as a float, or None.

    As Nova's ``validate_num_values``: the distinct values of ``key`` across
    the aggregates are cast and the smallest wins; when one of them does
    not cast, the whole lookup fails and the caller's default is used (Nova
    logs the error and falls back, it does not skip the bad value).
    """
    def minimum(aggregates):
        values = {a.metadata[key] for a in aggregates if key in a.metadata}
        if not values:
            return None
        try:
            smallest = min(cast(value) for value in values)
        except (TypeError, ValueError):
            return None
        return _as_float(smallest)
    return minimum


def _as_float(number):
    """``number`` as a float; an int too large for one is infinite."""
    try:
        return float(number)
    except OverflowError:
        return np.inf if number > 0 else -np.inf


def aggregate_minimum(table, rows, key, cast, default):
    """Per row of ``rows``: the smallest ``key`` value in the metadata of
    the host's aggregates, cast with ``cast``; ``default`` (a scalar or an
    array over ``rows``) where none is set or one does not cast.

    Evaluated once per distinct aggregate set, then gathered by set code.
    """
    minimum = _aggregate_minimum(key, cast)
    cache = ("aggregate_minimum", key, cast.__name__)
    found = table.per_aggregate_set(lambda a: minimum(a) is not None,
                                    dtype=bool, key=cache + ("found",))
    values = table.per_aggregate_set(
        lambda a: np.nan if minimum(a) is None else minimum(a),
        dtype=float, key=cache + ("value",))
    codes = table.aggregate_codes[rows]
    return np.where(found[codes], values[codes], default)


# --- explanations -----------------------------------------------------------

def _best(room):
    """The most any of the removed hosts could give one instance."""
    return float(np.max(room)) if len(room) else 0.0


class _CapacityFilter(BaseHostFilter):
    """A capacity filter: one resource, the capacity rule on the columns
    ``columns`` names, explained by one summed-up Shortfall."""

    RUN_ON_REBUILD = False
    #: one int row: ``columns`` and ``ratios`` read numbers, and
    #: ``capacity.fits`` answers on numbers (a subclass whose columns or
    #: ratios take arrays only sets it False, as the Aggregate ones do)
    MASK_OF_ONE_ROW = True
    #: the Shortfall resource, and Nova's CoreFilter leniency or not
    RESOURCE = None
    TRUST_COUNTS = True

    def columns(self, table, rows):
        """(total, used) per row, in the unit the filter counts."""
        raise NotImplementedError

    def ratios(self, table, rows):
        raise NotImplementedError

    def requested(self, request):
        raise NotImplementedError

    def mask_key(self, request):
        return (self.requested(request),)

    def filter_mask(self, table, rows, request):
        total, used = self.columns(table, rows)
        return capacity.fits(self.requested(request), total,
                             self.ratios(table, rows), used,
                             trust_counts=self.TRUST_COUNTS)

    def room(self, table, rows):
        """The most one instance can take on each row."""
        total, used = self.columns(table, rows)
        return capacity.room(total, self.ratios(table, rows), used,
                             trust_counts=self.TRUST_COUNTS)

    def shortfalls(self, table, removed_rows, request, detail=None):
        return [capacity.Shortfall(
            self.RESOURCE, float(self.requested(request)),
            _best(self.room(table, removed_rows)))]

    def explain(self, table, removed_rows, request):
        [short] = self.shortfalls(table, removed_rows, request)
        return str(short)


# --- RAM ------------------------------------------------------------------

class RamFilter(_CapacityFilter):
    """Hosts with enough (overcommitted) free memory for the flavor."""

    RESOURCE = "memory_mb"

    def ratios(self, table, rows):
        """The RAM allocation ratio of each row."""
        return take(table.columns["ram_allocation_ratio"], rows)

    def columns(self, table, rows):
        """(total, used) MiB per row, used = total - free."""
        total = take(table.columns["total_usable_ram_mb"], rows)
        return total, total - take(table.columns["free_ram_mb"], rows)

    def requested(self, request):
        return request.memory_mb


class AggregateRamFilter(RamFilter):
    """RamFilter with the ratio from aggregate ``ram_allocation_ratio``."""

    MASK_OF_ONE_ROW = False       # the aggregates' ratios: arrays

    def ratios(self, table, rows):
        return aggregate_minimum(table, rows, "ram_allocation_ratio", float,
                                 table.ram_allocation_ratio[rows])


# --- vCPUs ------------------------------------------------------------------

class CoreFilter(_CapacityFilter):
    """Hosts with enough (overcommitted) free vCPUs for the flavor. A node
    reporting no vCPUs passes: Nova takes it for a broken collector rather
    than a full host (``trust_counts=False`` of the capacity rule)."""

    RESOURCE = "vcpus"
    TRUST_COUNTS = False

    def ratios(self, table, rows):
        """The CPU allocation ratio of each row."""
        return take(table.columns["cpu_allocation_ratio"], rows)

    def columns(self, table, rows):
        """(physical total, used) vCPUs per row."""
        return (take(table.columns["vcpus_total"], rows),
                take(table.columns["vcpus_used"], rows))

    def requested(self, request):
        return request.vcpus


class AggregateCoreFilter(CoreFilter):
    """CoreFilter with the ratio from aggregate ``cpu_allocation_ratio``."""

    MASK_OF_ONE_ROW = False       # the aggregates' ratios: arrays

    def ratios(self, table, rows):
        return aggregate_minimum(table, rows, "cpu_allocation_ratio", float,
                                 table.cpu_allocation_ratio[rows])


# --- disk -------------------------------------------------------------------

class DiskFilter(_CapacityFilter):
    """Hosts with enough (overcommitted) free local disk for the flavor's
    root, ephemeral and swap disks, counted in MiB as Nova's filter does."""

    RESOURCE = "disk_gb"

    def ratios(self, table, rows):
        """The disk allocation ratio of each row."""
        return take(table.columns["disk_allocation_ratio"], rows)

    def columns(self, table, rows):
        """(total, used) MiB per row, used = total - free_disk_mb (which
        honours disk_available_least)."""
        total = take(table.columns["total_usable_disk_gb"], rows) * 1024
        return total, total - take(table.columns["free_disk_mb"], rows)

    def requested(self, request):
        return request.disk_mb

    def shortfalls(self, table, removed_rows, request, detail=None):
        """In GiB, the unit of every disk shortfall: MiB / 1024 (exact)."""
        return [capacity.Shortfall(
            "disk_gb", float(request.disk_mb) / 1024,
            _best(self.room(table, removed_rows)) / 1024)]

    def explain(self, table, removed_rows, request):
        """Nova's MiB, as the filter counts."""
        return capacity.sentence(
            "disk_mb", request.disk_mb, "MiB",
            _best(self.room(table, removed_rows)))


class AggregateDiskFilter(DiskFilter):
    """DiskFilter with the ratio from aggregate ``disk_allocation_ratio``."""

    MASK_OF_ONE_ROW = False       # the aggregates' ratios: arrays

    def ratios(self, table, rows):
        return aggregate_minimum(table, rows, "disk_allocation_ratio", float,
                                 table.disk_allocation_ratio[rows])
