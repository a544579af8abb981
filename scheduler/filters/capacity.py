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

The arithmetic is done in the same order as Nova's, so the float results
(and the pass/fail at the boundary) are the same.
"""
import numpy as np

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


def _nan_allowed():
    """An infinite aggregate ratio ("1e400") times a zero capacity is NaN,
    which then fails every comparison, as in Nova; no warning about it."""
    return np.errstate(invalid="ignore")


# --- explanations -----------------------------------------------------------

def _amount(value):
    """A number as a person writes it: 2048, not 2048.0."""
    value = float(value)
    return str(int(value)) if value.is_integer() else f"{value:.1f}"


def shortfall(resource, requested, available, unit=""):
    """The sentence for a capacity filter that removed every host:
    ``available`` is what each host could give one instance."""
    unit = f" {unit}" if unit else ""
    best = np.max(available) if len(available) else 0.0
    return (f"{resource}: requested {_amount(requested)}{unit}, "
            f"at most {_amount(best)}{unit} free")


# --- RAM ------------------------------------------------------------------

class RamFilter(BaseHostFilter):
    """Hosts with enough (overcommitted) free memory for the flavor."""

    RUN_ON_REBUILD = False

    def ratios(self, table, rows):
        """The RAM allocation ratio of each row."""
        return table.ram_allocation_ratio[rows]

    def usable(self, table, rows):
        """(total, usable) MiB per row, usable = total*ratio - used."""
        total = table.total_usable_ram_mb[rows]
        with _nan_allowed():
            limit = total * self.ratios(table, rows)
            used = total - table.free_ram_mb[rows]
            return total, limit - used

    def filter_mask(self, table, rows, request):
        requested = request.memory_mb
        total, usable = self.usable(table, rows)
        return (total >= requested) & (usable >= requested)

    def explain(self, table, removed_rows, request):
        total, usable = self.usable(table, removed_rows)
        return shortfall("memory_mb", request.memory_mb,
                         np.minimum(total, usable), "MiB")


class AggregateRamFilter(RamFilter):
    """RamFilter with the ratio from aggregate ``ram_allocation_ratio``."""

    def ratios(self, table, rows):
        return aggregate_minimum(table, rows, "ram_allocation_ratio", float,
                                 table.ram_allocation_ratio[rows])


# --- vCPUs ------------------------------------------------------------------

class CoreFilter(BaseHostFilter):
    """Hosts with enough (overcommitted) free vCPUs for the flavor."""

    RUN_ON_REBUILD = False

    def ratios(self, table, rows):
        """The CPU allocation ratio of each row."""
        return table.cpu_allocation_ratio[rows]

    def capacity(self, table, rows):
        """(physical total, overcommitted total, free) vCPUs per row."""
        total = table.vcpus_total[rows]
        with _nan_allowed():
            limit = total * self.ratios(table, rows)
            return total, limit, limit - table.vcpus_used[rows]

    def filter_mask(self, table, rows, request):
        requested = request.vcpus
        total, limit, free = self.capacity(table, rows)
        against_itself = (limit > 0) & (requested > total)
        fits = ~against_itself & ~(free < requested)
        # A node reporting no vCPUs passes: Nova takes it for a broken
        # collector rather than a full host.
        return fits | (total == 0)

    def explain(self, table, removed_rows, request):
        total, limit, free = self.capacity(table, removed_rows)
        available = np.where(limit > 0, np.minimum(total, free), free)
        return shortfall("vcpus", request.vcpus, available)


class AggregateCoreFilter(CoreFilter):
    """CoreFilter with the ratio from aggregate ``cpu_allocation_ratio``."""

    def ratios(self, table, rows):
        return aggregate_minimum(table, rows, "cpu_allocation_ratio", float,
                                 table.cpu_allocation_ratio[rows])


# --- disk -------------------------------------------------------------------

class DiskFilter(BaseHostFilter):
    """Hosts with enough (overcommitted) free local disk for the flavor's
    root, ephemeral and swap disks."""

    RUN_ON_REBUILD = False

    def ratios(self, table, rows):
        """The disk allocation ratio of each row."""
        return table.disk_allocation_ratio[rows]

    def usable(self, table, rows):
        """(total, usable) MiB per row, usable = total*ratio - used."""
        total = table.total_usable_disk_gb[rows] * 1024
        with _nan_allowed():
            limit = total * self.ratios(table, rows)
            used = total - table.free_disk_mb[rows]
            return total, limit - used

    def filter_mask(self, table, rows, request):
        requested = request.disk_mb
        total, usable = self.usable(table, rows)
        return ~(total < requested) & (usable >= requested)

    def explain(self, table, removed_rows, request):
        total, usable = self.usable(table, removed_rows)
        return shortfall("disk_mb", request.disk_mb,
                         np.minimum(total, usable), "MiB")


class AggregateDiskFilter(DiskFilter):
    """DiskFilter with the ratio from aggregate ``disk_allocation_ratio``."""

    def ratios(self, table, rows):
        return aggregate_minimum(table, rows, "disk_allocation_ratio", float,
                                 table.disk_allocation_ratio[rows])
