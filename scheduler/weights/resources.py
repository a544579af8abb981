"""Weighers on free capacity: RAM, vCPUs and disk.

Each reads one quantity straight from the table's columns, so a request
weighs every candidate with one gather. ``minval = 0`` as in Nova: a host
is compared against "nothing free" rather than against the emptiest
candidate, so two nearly full hosts do not look maximally different, and an
overcommitted host (negative free amount) widens the range and scores 0.
"""
from hoststate.hardware import capacity
from hoststate.hardware.row_runs import take
from hoststate.scheduler import derived
from hoststate.scheduler.weights import BaseHostWeigher


class ColumnWeigher(BaseHostWeigher):
    """A weigher whose raw weight is one float column of the table."""

    #: The HostTable column read as the raw weight.
    column = None
    RAW_PER_ROW = True
    #: ``take`` of one int row is a number (a subclass with raw weights
    #: of its own sets it again, to what they take)
    RAW_OF_ONE_ROW = True

    def raw_reads_usage(self):
        return self.column in derived.USAGE_WRITTEN

    def raw_weights(self, table, rows, request):
        return take(table.columns[self.column], rows)

    def constant(self, store):
        """The column holds one number on every candidate (see
        ``derived.Derived.constant``)."""
        return store.constant(self.column)


class RAMWeigher(ColumnWeigher):
    """Free RAM (MiB): spreads by default, stacks with a negative
    multiplier."""

    minval = 0
    column = "free_ram_mb"
    multiplier_option = "ram_weight_multiplier"


class CPUWeigher(BaseHostWeigher):
    """Free vCPUs after overcommit: ``vcpus_total * cpu_allocation_ratio -
    vcpus_used`` (the ratio is the node's, so nodes with different ratios
    compare by what they can still take)."""

    minval = 0
    multiplier_option = "cpu_weight_multiplier"
    RAW_PER_ROW = True
    RAW_OF_ONE_ROW = True       # ``capacity.free`` of numbers is a float

    def raw_weights(self, table, rows, request):
        columns = table.columns
        return capacity.free(take(columns["vcpus_total"], rows),
                             take(columns["cpu_allocation_ratio"], rows),
                             take(columns["vcpus_used"], rows))


class DiskWeigher(ColumnWeigher):
    """Free local disk (MiB), as the HostState computes it (the smaller of
    free_disk_gb and disk_available_least)."""

    minval = 0
    column = "free_disk_mb"
    multiplier_option = "disk_weight_multiplier"
