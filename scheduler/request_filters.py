"""Nova's request filters: narrowing that runs before any filter.

Nova 34 turns parts of a request into Placement constraints before it
asks for candidates (``nova.scheduler.request_filter``); the hosts left
out never reach the filters, whatever ``enabled_filters`` says. hoststate
has no Placement: each request filter here is a mask over the
candidate rows, applied before the filters, and when it removes hosts
the NoValidHost explanation says so, like a filter's.

* availability zone (always on, as in Nova 34, which no longer ships
  AvailabilityZoneFilter): a request naming a zone may land only on hosts
  of an aggregate whose ``availability_zone`` metadata is exactly that
  name. When no aggregate has it (the default zone, where hosts without
  a zone aggregate are) nothing is required, and every host stays.
"""
from hoststate.hardware.row_runs import take
from hoststate.scheduler.filters import FilterOutcome
from hoststate.scheduler.filters import zones

ZONE_FILTER = "availability zone (request filter)"


def apply(table, rows, request, reasons):
    """``rows`` left after every request filter; each that removed hosts
    adds its FilterOutcome to ``reasons`` (with why, when it removed the
    last ones)."""
    for request_filter in (availability_zone,):
        kept, outcome = request_filter(table, rows, request)
        if outcome is not None:
            reasons.append(outcome)
        rows = kept
        if len(rows) == 0:
            break
    return rows


def availability_zone(table, rows, request):
    """(rows in the requested zone's aggregates, FilterOutcome or None);
    Nova 34's ``map_az_to_placement_aggregate``."""
    zone = request.availability_zone
    if not zone:
        return rows, None
    wanted = frozenset(a.id for a in table.aggregates.values()
                       if a.metadata.get(zones.ZONE_KEY) == zone)
    if not wanted:
        return rows, None
    member = table.per_aggregate_set(
        lambda aggregates: any(a.id in wanted for a in aggregates),
        dtype=bool, key=("request filter: zone", wanted))
    kept = rows[member[take(table.aggregate_codes, rows)]]
    if len(kept) == len(rows):
        return rows, None
    detail = None if len(kept) else \
        f"no candidate host is in an aggregate of zone {zone!r}"
    return kept, FilterOutcome(ZONE_FILTER, len(rows), len(rows) - len(kept),
                               detail)
