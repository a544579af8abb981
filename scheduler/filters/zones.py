"""The availability-zone filter.

A request naming a zone may land only on hosts of that zone. A host's
zones are the ``availability_zone`` metadata of its aggregates (each value
a comma-separated list, items stripped); a host in no aggregate carrying
the key is in ``default_availability_zone``. A request naming no zone
passes everywhere.

Nova moved this check to a Placement pre-filter (2023.2); the filter is
the behaviour it had before, evaluated once per distinct aggregate set.
"""
import numpy as np

from hoststate.scheduler.filters import BaseHostFilter
from hoststate.scheduler.filters import all_rows_pass

ZONE_KEY = "availability_zone"


def zones_of(aggregates):
    """The zone names the aggregates give a host, or None when none of
    them carries the key (the host is then in the default zone).

    An aggregate with an empty value still carries the key: its host is in
    zone "" (so in no zone a request can name), not in the default one.
    """
    carrying = [a.metadata[ZONE_KEY] for a in aggregates
                if ZONE_KEY in a.metadata]
    if not carrying:
        return None
    return frozenset(name.strip() for value in carrying
                     for name in value.split(","))


class AvailabilityZoneFilter(BaseHostFilter):
    """Hosts in the requested availability zone."""

    # Zones do not change within a request.
    run_filter_once_per_request = True
    RUN_ON_REBUILD = False

    #: aggregates: never written by a usage change
    MASK_READS_USAGE = False

    def mask_key(self, request):
        return (request.availability_zone or None,)

    def filter_mask(self, table, rows, request):
        zone = request.availability_zone
        if not zone:
            return all_rows_pass(rows)
        in_zone = self._in_zone_by_set(table, zone)
        return in_zone[table.aggregate_codes[rows]]

    def _in_zone_by_set(self, table, zone):
        """Whether each distinct aggregate set places its hosts in
        ``zone``, by set code."""
        zones = table.per_aggregate_set(zones_of, dtype=object,
                                        key="availability_zone_filter")
        default = self.conf.default_availability_zone
        return np.fromiter(
            (zone == default if names is None else zone in names
             for names in zones), dtype=bool, count=len(zones))

    def explain(self, table, removed_rows, request):
        return f"no host in availability zone {request.availability_zone!r}"
