"""Filters reserving hosts for some tenants, flavors or images.

* ``AggregateMultiTenancyIsolation``: a host in an aggregate with metadata
  keys starting with ``filter_tenant_id`` (``filter_tenant_id``,
  ``filter_tenant_id2``...) takes only those projects; values are
  comma-separated, items stripped, and the keys of all the host's
  aggregates add up.
* ``AggregateTypeAffinityFilter``: a host in an aggregate with an
  ``instance_type`` key (comma-separated flavor names) takes only flavors
  one of its aggregates names.
* ``IsolatedHostsFilter``: ``isolated_hosts`` are kept for
  ``isolated_images`` (see the class for the whole matrix).

Aggregate rules are evaluated once per distinct aggregate set.
"""
import numpy as np

from hoststate.scheduler.filters import BaseHostFilter

TENANT_PREFIX = "filter_tenant_id"
TYPE_KEY = "instance_type"


def _items(value):
    """A comma-separated metadata value as its stripped items."""
    return {item.strip() for item in value.split(",")}


def _per_set_answer(table, rows, values, answer):
    """``answer(value)`` for each distinct aggregate set's ``values``
    entry, gathered at ``rows``."""
    by_set = np.fromiter((answer(value) for value in values), dtype=bool,
                         count=len(values))
    return by_set[table.aggregate_codes[rows]]


# --- tenants -----------------------------------------------------------------

def tenants_of(aggregates):
    """The project ids the aggregates admit (empty: no restriction)."""
    tenants = set()
    for aggregate in aggregates:
        for key, value in aggregate.metadata.items():
            if key.startswith(TENANT_PREFIX):
                tenants |= _items(value)
    return frozenset(tenants)


class AggregateMultiTenancyIsolation(BaseHostFilter):
    """Hosts whose aggregates admit the request's project (or restrict
    no project)."""

    # Aggregates and the project do not change within a request.
    run_filter_once_per_request = True
    RUN_ON_REBUILD = False

    def filter_mask(self, table, rows, request):
        tenants = table.per_aggregate_set(tenants_of, dtype=object,
                                          key="filter_tenant_ids")
        project = request.project_id
        return _per_set_answer(table, rows, tenants,
                               lambda ids: not ids or project in ids)

    def explain(self, table, removed_rows, request):
        return (f"every host is reserved by aggregate metadata "
                f"{TENANT_PREFIX}* for projects other than "
                f"{request.project_id!r}")


# --- flavors -----------------------------------------------------------------

def flavor_lists_of(aggregates):
    """The ``instance_type`` values of the aggregates, each as a set of
    flavor names (an empty tuple: no restriction)."""
    return tuple(frozenset(_items(a.metadata[TYPE_KEY]))
                 for a in aggregates if TYPE_KEY in a.metadata)


class AggregateTypeAffinityFilter(BaseHostFilter):
    """Hosts whose aggregates allow the flavor: one ``instance_type`` list
    names it, or no aggregate of the host has the key."""

    # Aggregates and the flavor do not change within a request.
    run_filter_once_per_request = True
    RUN_ON_REBUILD = False

    def filter_mask(self, table, rows, request):
        lists = table.per_aggregate_set(flavor_lists_of, dtype=object,
                                        key="instance_type_lists")
        flavor = request.spec.flavor.name
        return _per_set_answer(
            table, rows, lists,
            lambda names: not names or any(flavor in n for n in names))

    def explain(self, table, removed_rows, request):
        return (f"every host's aggregates restrict instance_type to flavors "
                f"other than {request.spec.flavor.name!r}")


# --- isolated hosts and images -----------------------------------------------

def image_id(request):
    """The request's image id; None for a volume-backed instance."""
    image = request.image
    return image.obj_get("id") if image is not None else None


class IsolatedHostsFilter(BaseHostFilter):
    """Keep ``isolated_hosts`` for ``isolated_images``.

    With ``restrict_isolated_hosts_to_isolated_images`` (the default) an
    isolated image goes only to isolated hosts and other images only to
    other hosts; without it, isolated hosts also take other images. With no
    isolated image configured, isolated hosts are closed (restrict) or
    open (not restrict) to every request. An instance without an image
    counts as not isolated.
    """

    # The configuration does not change within a request.
    run_filter_once_per_request = True
    RUN_ON_REBUILD = True

    def filter_mask(self, table, rows, request):
        options = self.conf.filter_scheduler
        restrict = options.restrict_isolated_hosts_to_isolated_images
        host_isolated = np.isin(table.codes("host")[rows],
                                table.host_codes(options.isolated_hosts))
        if not options.isolated_images:
            return ~(restrict & host_isolated)
        image_isolated = image_id(request) in options.isolated_images
        if restrict:
            return host_isolated == image_isolated
        return host_isolated | (not image_isolated)

    def explain(self, table, removed_rows, request):
        return (f"image {image_id(request)} and every host differ in "
                f"isolation (isolated_images / isolated_hosts)")
