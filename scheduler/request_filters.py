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
* tenant isolation (``[scheduler] limit_tenants_to_placement_aggregate``):
  the project's aggregates are those with the project id as a metadata
  value and some key starting with ``filter_tenant_id`` (Nova checks the
  two separately: the key need not be the one holding the id). A project
  without one goes anywhere, or nowhere with ``[scheduler]
  placement_aggregate_required_for_tenants``.
* disabled computes (always on, Nova 34's ``compute_status_filter``):
  nodes of a compute service an operator disabled are left out before
  any filter, so ComputeFilter only ever sees enabled services, and a
  forced host whose service is disabled is not placed on (Nova's
  Placement query forbids the trait COMPUTE_STATUS_DISABLED that the
  disabled service's nodes carry, forced or not).
* image type support (``[scheduler]
  query_placement_for_image_type_support``), isolated aggregates
  (``[scheduler] enable_isolated_aggregate_filtering``) and, last, the
  traits the flavor and image require or forbid (Placement's part): see
  ``hoststate.scheduler.traits``.

A rebuild runs none of them: Nova 34 skips its request filters (and
Placement) for the ``_nova_check_type=rebuild`` check, since the
instance already holds its resources on the node it is rebuilt on.
"""
from hoststate.hardware.row_runs import take
from hoststate.objects.attrs import set_value
from hoststate.scheduler import conf_values
from hoststate.scheduler.filters import FilterOutcome
from hoststate.scheduler.filters import zones
from hoststate.scheduler import traits

ZONE_FILTER = "availability zone (request filter)"
TENANT_FILTER = "tenant isolation (request filter)"
DISABLED_FILTER = "disabled computes (request filter)"
#: The aggregate metadata key (and prefix) naming a project's aggregate
TENANT_KEY = "filter_tenant_id"


def apply(table, rows, request, reasons):
    """``rows`` left after every request filter; each that removed hosts
    adds its FilterOutcome to ``reasons`` (with why, when it removed the
    last ones)."""
    if request.is_rebuild:
        return rows
    for request_filter in (tenant_aggregates, availability_zone,
                           traits.image_type_support, enabled_computes,
                           traits.isolated_aggregates,
                           traits.requested_traits):
        kept, outcome = request_filter(table, rows, request)
        if outcome is not None:
            reasons.append(outcome)
        rows = kept
        if len(rows) == 0:
            break
    return rows


def apply_derived(store, request, reasons):
    """``apply`` to every candidate row of ``store`` (the table's
    ``derived.Derived``), computed once per table state and ``_key`` of
    the request: what the request filters read of it. They read the
    table's services, aggregates and traits, which a usage change never
    writes."""
    key = _key(request)
    if key is None:
        return apply(store.table, store.rows, request, reasons)

    def fresh():
        outcomes = []
        rows = apply(store.table, store.rows, request, outcomes)
        return rows, tuple(outcomes)

    rows, outcomes = store.value(("request filters", key), fresh)
    reasons.extend(outcomes)
    return rows


def _key(request):
    """Everything of ``request`` the request filters read (None when
    some of it cannot be a key)."""
    if request.is_rebuild:
        return ("rebuild",)
    options = None
    if request.conf is not None:
        options = conf_values.kept(request.conf, ("request filters",),
                                   _options)
    image = request.image
    image_key = None if image is None else (
        set_value(image, "id") is None, set_value(image, "disk_format"))
    key = (request.availability_zone, request.project_id, request.traits,
           options, image_key)
    try:
        hash(key)
    except TypeError:
        return None
    return key


def _options(conf):
    """The [scheduler] switches of the request filters."""
    scheduler = conf.scheduler
    return (scheduler.limit_tenants_to_placement_aggregate,
            scheduler.placement_aggregate_required_for_tenants,
            scheduler.query_placement_for_image_type_support,
            scheduler.enable_isolated_aggregate_filtering)


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
    return _in_aggregates(table, rows, wanted, ZONE_FILTER,
                          f"no candidate host is in an aggregate of zone "
                          f"{zone!r}")


def tenant_aggregates(table, rows, request):
    """(rows in the project's aggregates, FilterOutcome or None); Nova
    34's ``require_tenant_aggregate``."""
    options = request.conf.scheduler if request.conf is not None else None
    if options is None or not options.limit_tenants_to_placement_aggregate:
        return rows, None
    project = request.project_id
    wanted = frozenset(
        a.id for a in table.aggregates.values()
        if project in a.metadata.values() and
        any(key.startswith(TENANT_KEY) for key in a.metadata))
    if wanted:
        return _in_aggregates(table, rows, wanted, TENANT_FILTER,
                              f"no candidate host is in an aggregate of "
                              f"project {project!r}")
    if not options.placement_aggregate_required_for_tenants:
        return rows, None
    return rows[:0], FilterOutcome(
        TENANT_FILTER, len(rows), len(rows),
        f"no aggregate is set aside for project {project!r} "
        f"({TENANT_KEY}), and [scheduler] "
        f"placement_aggregate_required_for_tenants is set")


def enabled_computes(table, rows, request):
    """(rows whose compute service is enabled, FilterOutcome or None);
    Nova 34's ``compute_status_filter``."""
    kept = rows[~take(table.disabled, rows)]
    if len(kept) == len(rows):
        return rows, None
    removed = len(rows) - len(kept)
    return kept, FilterOutcome(
        DISABLED_FILTER, len(rows), removed,
        None if len(kept) else
        f"compute service disabled on {removed} host(s)")


def _in_aggregates(table, rows, wanted, name, why_none):
    """(rows of hosts in any of aggregates ``wanted``, FilterOutcome of
    ``name`` or None when none was removed)."""
    member = table.per_aggregate_set(
        lambda aggregates: any(a.id in wanted for a in aggregates),
        dtype=bool, key=("request filter: member of", wanted))
    kept = rows[member[take(table.aggregate_codes, rows)]]
    if len(kept) == len(rows):
        return rows, None
    return kept, FilterOutcome(name, len(rows), len(rows) - len(kept),
                               None if len(kept) else why_none)
