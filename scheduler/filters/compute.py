"""Filters on the compute service itself: is there one worth sending to.

``AllHostsFilter`` keeps every host (a deployment that wants no filtering
still needs one filter). ``ComputeFilter`` drops hosts whose compute
service an operator disabled, then hosts whose service is not up. Nova asks
the servicegroup driver per host; here the HostManager has already asked
it and stored the answer in the ``up`` column, so the filter reads
``disabled``, ``forced_down`` and ``up`` columns and nothing else.
"""
import numpy as np

from hoststate.hardware.row_runs import take
from hoststate.scheduler.filters import BaseHostFilter
from hoststate.scheduler.filters import all_rows_pass


class AllHostsFilter(BaseHostFilter):
    """Every host passes."""

    # The host list does not change within a request.
    run_filter_once_per_request = True
    RUN_ON_REBUILD = False

    def filter_mask(self, table, rows, request):
        return all_rows_pass(rows)


class ComputeFilter(BaseHostFilter):
    """Hosts whose compute service is enabled and up.

    A disabled service fails whatever its liveness (Nova does not even ask
    the servicegroup then). A forced-down service is never up (the
    servicegroup API says so without asking its driver); the HostManager
    already stores it as down, and the filter checks ``forced_down`` too so
    a stale ``up`` cannot let it through.
    """

    # Service state is read once per request.
    run_filter_once_per_request = True
    RUN_ON_REBUILD = False

    #: services and liveness: never written by a usage change
    MASK_READS_USAGE = False

    def mask_key(self, request):
        return ()

    def filter_mask(self, table, rows, request):
        return (~take(table.disabled, rows) & ~take(table.forced_down, rows)
                & take(table.up, rows))

    def explain(self, table, removed_rows, request):
        disabled = table.disabled[removed_rows]
        down = ~disabled & (table.forced_down[removed_rows]
                            | ~table.up[removed_rows])
        return (f"compute service disabled on {int(disabled.sum())} "
                f"host(s), down on {int(np.count_nonzero(down))}")
