"""Filters on per-host counters: I/O-heavy operations and instances.

A host passes while its counter is strictly below the limit: with
``max_io_ops_per_host = 8`` a host already running 8 I/O operations is
full. The counters are the node's stats (``io_workload``,
``num_instances``), which the table keeps as columns and the scheduler
bumps as it places instances within a request.

The Aggregate* variants read the limit from aggregate metadata of the same
name: the smallest value among the host's aggregates; when a value is not
an integer, the configured limit is used instead (Nova's rule).
"""
import numpy as np

from hoststate.scheduler.filters import BaseHostFilter
from hoststate.scheduler.filters.capacity import aggregate_minimum


class _CounterFilter(BaseHostFilter):
    """Hosts whose ``column`` is below the ``option`` limit."""

    RUN_ON_REBUILD = False
    #: The table column counted.
    column = None
    #: The [filter_scheduler] option (and aggregate metadata key) of the
    #: limit.
    option = None
    #: How the counter reads in a sentence.
    noun = None

    def configured_limit(self):
        return float(self.conf.filter_scheduler[self.option])

    def limits(self, table, rows):
        """The limit of each row."""
        return np.full(len(rows), self.configured_limit())

    def filter_mask(self, table, rows, request):
        return table.columns[self.column][rows] < self.limits(table, rows)

    def explain(self, table, removed_rows, request):
        counts = table.columns[self.column][removed_rows]
        limits = self.limits(table, removed_rows)
        low, high = np.min(limits), np.max(limits)
        limit = f"{low:.0f}" if low == high else f"{low:.0f} to {high:.0f}"
        return (f"{self.column}: every host has reached its limit of "
                f"{self.noun} ({self.option} {limit}; fewest on a host: "
                f"{np.min(counts):.0f})")


class _AggregateLimit:
    """Mixin: the limit from aggregate metadata, else the configuration."""

    def limits(self, table, rows):
        return aggregate_minimum(table, rows, self.option, int,
                                 self.configured_limit())


class IoOpsFilter(_CounterFilter):
    """Hosts running fewer than ``max_io_ops_per_host`` I/O-heavy
    operations (builds, resizes, snapshots, migrations)."""

    column = "num_io_ops"
    option = "max_io_ops_per_host"
    noun = "I/O operations"


class AggregateIoOpsFilter(_AggregateLimit, IoOpsFilter):
    """IoOpsFilter with the limit from aggregate ``max_io_ops_per_host``."""


class NumInstancesFilter(_CounterFilter):
    """Hosts with fewer than ``max_instances_per_host`` instances."""

    column = "num_instances"
    option = "max_instances_per_host"
    noun = "instances"


class AggregateNumInstancesFilter(_AggregateLimit, NumInstancesFilter):
    """NumInstancesFilter with the limit from aggregate
    ``max_instances_per_host``."""
