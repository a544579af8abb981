"""Traits a request requires or forbids, and the request filters that read
node traits.

What Nova 34 does, reproduced on the host-state table (it has Placement
do all of it, before any filter runs):

* flavor extra specs ``trait[$S]:NAME`` = ``required`` or ``forbidden``
  (``$S`` an optional group suffix of 1 to 64 of ``[a-zA-Z0-9_-]``,
  Nova's ``ResourceRequest`` pattern) and image properties
  ``trait:NAME=required`` (``ImageMetaProps.traits_required``): a node
  must have every required trait and none of the forbidden ones. A node
  here is one resource provider, so every group's traits are the node's.
  Nova's API refuses a flavor whose trait spec names no trait or has
  another value (its extra spec validators); hoststate refuses such a
  request the same way, with InvalidSchedulerRequest naming the spec,
  before any host is looked at (Nova's scheduler alone would only log a
  warning for another value).
* ``[scheduler] query_placement_for_image_type_support`` (Nova's
  ``require_image_type_support``): the image's ``disk_format`` must be a
  trait of the node, ``COMPUTE_IMAGE_TYPE_<FORMAT>``. Nothing is required
  when booting from a volume (no image id here), or when os-traits names
  no such trait (Nova logs an error and carries on).
* ``[scheduler] enable_isolated_aggregate_filtering`` (Nova's
  ``isolate_aggregates``): an aggregate with a metadata key
  ``trait:NAME`` whose value is ``required`` keeps its hosts for requests
  whose flavor or image requires every such NAME it has; any other request
  may not land on them. Only those keys count (``trait:NAME=forbidden``
  isolates nothing); the image-type trait above is not one the request
  requires for this purpose (Nova adds it to the root provider's
  traits, not to the flavor's and image's).

Each filter computes its answer once per distinct trait set (the table's
interned ``traits`` column) or aggregate set, never per row.
"""
import dataclasses
import re

import numpy as np

from hoststate import exception
from hoststate.hardware.row_runs import take
from hoststate.objects import traits as traits_obj
from hoststate.scheduler.filters import FilterOutcome

TRAITS_FILTER = "flavor and image traits (request filter)"
IMAGE_TYPE_FILTER = "image type support (request filter)"
ISOLATED_FILTER = "isolated aggregates (request filter)"
REQUIRED, FORBIDDEN = "required", "forbidden"
#: A flavor's trait spec key: ``trait``, an optional group suffix, ``:``,
#: the trait name.
TRAIT_SPEC = re.compile(r"trait([a-zA-Z0-9_-]{1,64})?:(.*)", re.DOTALL)
#: Aggregate metadata that isolates its hosts: ``trait:NAME=required``.
AGGREGATE_TRAIT_PREFIX = "trait:"


@dataclasses.dataclass(frozen=True)
class TraitRequest:
    """The traits a node must have (``required``) and must not have
    (``forbidden``), from the flavor and the image."""

    required: frozenset = frozenset()
    forbidden: frozenset = frozenset()

    def __bool__(self):
        return bool(self.required or self.forbidden)


NO_TRAITS = TraitRequest()


def from_extra_specs(extra_specs):
    """The TraitRequest of a flavor's extra specs; InvalidSchedulerRequest
    naming the first spec whose name is no trait or whose value is
    neither ``required`` nor ``forbidden``."""
    wanted = {REQUIRED: set(), FORBIDDEN: set()}
    for key, value in sorted((extra_specs or {}).items()):
        match = TRAIT_SPEC.fullmatch(key)
        if match is None:
            continue
        name = match.group(2)
        reason = traits_obj.problem(name)
        if reason is None and value not in wanted:
            reason = f"the value is {REQUIRED!r} or {FORBIDDEN!r}"
        if reason is not None:
            raise exception.InvalidSchedulerRequest(field=key, value=value,
                                                    reason=reason)
        wanted[value].add(name)
    return TraitRequest(frozenset(wanted[REQUIRED]),
                        frozenset(wanted[FORBIDDEN]))


def of_request(extra_specs, image_props):
    """The TraitRequest of a flavor's extra specs and an image's typed
    properties (``ImageMetaProps``' fields as a dict): the image adds
    required traits only."""
    flavor = from_extra_specs(extra_specs)
    image = frozenset(image_props.get("traits_required") or ())
    if not image:
        return flavor
    return TraitRequest(flavor.required | image, flavor.forbidden)


def has_traits(traits, required=frozenset(), forbidden=frozenset()):
    """Whether a node of ``traits`` has every required and no forbidden
    trait."""
    return required <= traits and not forbidden & traits


def per_trait_set(table, function, dtype=bool):
    """``function(trait frozenset)`` for each distinct trait set of the
    table, by code (gather with the ``traits`` codes). Not cached: a
    cloud has a handful of distinct sets, and a cache keyed by request
    would grow with every new flavor and image."""
    column = table.interned["traits"]
    return np.fromiter((function(column.value(code))
                        for code in range(len(column))),
                       dtype=dtype, count=len(column))


def mask(table, rows, required=frozenset(), forbidden=frozenset()):
    """Boolean mask over ``rows``: the nodes with every ``required`` and no
    ``forbidden`` trait."""
    ok = per_trait_set(table, lambda traits: has_traits(traits, required,
                                                        forbidden))
    return ok[take(table.codes("traits"), rows)]


# --- the request filters: f(table, rows, request) -> (rows, outcome) ---------

def requested_traits(table, rows, request):
    """(rows with the flavor's and image's traits, FilterOutcome or None)."""
    wanted = request.traits
    if not wanted:
        return rows, None
    kept = rows[mask(table, rows, wanted.required, wanted.forbidden)]
    return kept, _outcome(TRAITS_FILTER, table, rows, kept, wanted)


def image_type_support(table, rows, request):
    """(rows that take the image's disk format, FilterOutcome or None);
    Nova 34's ``require_image_type_support``."""
    if not _option(request, "query_placement_for_image_type_support"):
        return rows, None
    image = request.image
    if image is None or image.obj_get("id") is None:
        return rows, None                   # booting from a volume
    trait = traits_obj.image_type_trait(image.obj_get("disk_format"))
    if trait is None:
        return rows, None
    wanted = TraitRequest(required=frozenset([trait]))
    kept = rows[mask(table, rows, wanted.required)]
    return kept, _outcome(IMAGE_TYPE_FILTER, table, rows, kept, wanted)


def isolated_aggregates(table, rows, request):
    """(rows outside the aggregates isolated from this request,
    FilterOutcome or None); Nova 34's ``isolate_aggregates``."""
    if not _option(request, "enable_isolated_aggregate_filtering"):
        return rows, None
    isolated = isolated_from(table.aggregates.values(),
                             request.traits.required)
    if not isolated:
        return rows, None
    inside = table.per_aggregate_set(
        lambda aggregates: any(a.id in isolated for a in aggregates),
        dtype=bool, key=("request filter: isolated", isolated))
    kept = rows[~inside[take(table.aggregate_codes, rows)]]
    if len(kept) == len(rows):
        return rows, None
    names = sorted(a.name for a in table.aggregates.values()
                   if a.id in isolated)
    return kept, FilterOutcome(
        ISOLATED_FILTER, len(rows), len(rows) - len(kept),
        None if len(kept) else
        f"every candidate host is in an aggregate that requires traits "
        f"the flavor and image do not ({', '.join(names)})")


def isolated_from(aggregates, required):
    """Ids of the ``aggregates`` (AggregateRecords) with a metadata
    ``trait:NAME=required`` whose NAME is not among the ``required``
    traits."""
    return frozenset(
        a.id for a in aggregates
        if any(key.startswith(AGGREGATE_TRAIT_PREFIX) and value == REQUIRED
               and key[len(AGGREGATE_TRAIT_PREFIX):] not in required
               for key, value in a.metadata.items()))


def _option(request, name):
    conf = request.conf
    return conf is not None and bool(getattr(conf.scheduler, name))


def _outcome(name, table, rows, kept, wanted):
    """The FilterOutcome of a trait filter that kept ``kept`` of ``rows``
    (None if it removed none); when it removed them all, which required
    traits the hosts lacked and which forbidden ones they had, and on how
    many hosts."""
    removed = len(rows) - len(kept)
    if removed == 0:
        return None
    detail = None
    if len(kept) == 0:
        detail = "; ".join(_shortfalls(table, rows, wanted))
    return FilterOutcome(name, len(rows), removed, detail)


def _shortfalls(table, rows, wanted):
    """One text per required trait some host lacks and per forbidden trait
    some host has: "<what> on N host(s)", counted per distinct trait set."""
    codes, counts = np.unique(take(table.codes("traits"), rows),
                              return_counts=True)
    column = table.interned["traits"]
    lacking, having = {}, {}
    for code, count in zip(codes.tolist(), counts.tolist()):
        traits = column.value(code)
        for trait in wanted.required - traits:
            lacking[trait] = lacking.get(trait, 0) + count
        for trait in wanted.forbidden & traits:
            having[trait] = having.get(trait, 0) + count
    return [f"required trait {t} missing on {lacking[t]} host(s)"
            for t in sorted(lacking)] + \
        [f"forbidden trait {t} present on {having[t]} host(s)"
         for t in sorted(having)]
