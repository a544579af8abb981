"""Which cell gets a build: the pure part of cells v1 scheduling.

A parent cell's cells service picks, for each build, one of its child
cells, or itself when it has compute nodes of its own; the chosen cell's
own scheduler then picks the host (or its cells service descends
further). ``choose`` takes what the service knows of each candidate (a
``CellCandidate``: its path, liveness, capabilities and last capacity
report, and its tree weights) and the request, and returns every
candidate that passed ``[cells] scheduler_filters``, best first by
``[cells] scheduler_weighers``, with a reason for each one refused.
Nothing is read or written here: the service gathers the candidates and
raises when nothing passed.

Ties are broken by path, whatever order the candidates came in, so the
same candidates and request always give the same choice (a choice can be
replayed).

The filters and the unit count are in ``cell_filters``, the weighers in
``cell_weighers``.
"""
import dataclasses
import functools

import numpy as np

from hoststate import exception
from hoststate.cells import capabilities as cell_capabilities
from hoststate.cells import capacity as cell_capacity
from hoststate.cells import cell_filters
from hoststate.cells import cell_weighers
from hoststate.cells import tree
from hoststate.conf import CONF
from hoststate.objects.attrs import set_value
from hoststate.scheduler import conf_values
from hoststate.scheduler import request_parts

# one definition, importable from here too
units_for = cell_filters.units_for
Rejection = cell_filters.Rejection

_FILTERS_OPTION = "scheduler_filters"
_WEIGHERS_OPTION = "scheduler_weighers"


@dataclasses.dataclass(frozen=True)
class CellCandidate:
    """A cell a build may go to, as the choosing cell's service knows it.

    ``path``: ``api!child1``; this cell's own nodes are ``is_self`` and
    have this cell's own path. ``up``: heard from within the down bound
    (the service decides). ``capabilities``: {key: frozenset of values},
    as ``capabilities.parse`` and ``from_primitive`` give them.
    ``capacity``: its last ``CapacityReport``. ``weight_offset`` and
    ``weight_scale``: its row of the tree (``cells.tree``).
    """

    path: str
    name: str
    is_self: bool
    up: bool
    capabilities: dict
    capacity: cell_capacity.CapacityReport
    weight_offset: float = 0.0
    weight_scale: float = 1.0


@dataclasses.dataclass(frozen=True)
class CellChoice:
    """``ranked``: the candidates that passed, best first (empty when
    none did); ``rejected``: {path: ``Rejection``} of every other one
    (``str()`` of a rejection is its one-line reason); ``request``: the
    ``CellRequest`` they were judged by (what one instance takes, how
    many)."""

    ranked: tuple
    rejected: dict
    request: object = dataclasses.field(default=None, compare=False)


class CellRequest:
    """The request as the cell filters and weighers read it, worked out
    once per choice: what one instance takes (``wanted``, the host
    scheduler's own ``request_parts``: what the child's claim will
    take), how many, the target path, the ``cells:`` extra specs, the
    capacity flavors the reports' unit names stand for, and each
    candidate's unit count (asked by a filter and a weigher alike)."""

    def __init__(self, spec, flavors):
        flavor = spec.flavor
        sizes = tuple(getattr(flavor, name)
                      for name in request_parts.FLAVOR_FIELDS)
        extra_specs = dict(set_value(flavor, "extra_specs") or {})
        image = set_value(spec, "image")
        image_id = set_value(image, "id") if image is not None else None
        self.wanted = request_parts.of(
            flavor, sizes, image_id, extra_specs,
            request_parts.image_properties(image)).wanted
        self.num_instances = int(set_value(spec, "num_instances", 1) or 1)
        self.flavors = flavors
        self.cell_specs = _cell_specs(extra_specs)
        self.target_path, self.target = _target(spec)
        self._units = {}
        self._folded = {}

    def units(self, candidate):
        """``units_for`` of ``candidate``, computed once per choice."""
        found = self._units.get(candidate.path)
        if found is None:
            found = self._units[candidate.path] = cell_filters.units_for(
                candidate.capacity, self.wanted, self.flavors)
        return found

    def folded_path(self, candidate):
        """``candidate``'s path as a tuple of case-folded names (checked
        by ``tree.split``)."""
        found = self._folded.get(candidate.path)
        if found is None:
            found = self._folded[candidate.path] = _folded(candidate.path)
        return found


def _folded(cell_path):
    """The case-folded names of ``cell_path`` (``tree.split`` checks
    it, and refuses what is not text)."""
    if not isinstance(cell_path, str):
        tree.split(cell_path)
    return _folded_text(cell_path)


@functools.lru_cache(maxsize=4096)
def _folded_text(cell_path):
    """``_folded`` of a text, kept: a parent sees the same few paths on
    every build, and checking them was a third of a choice's time (a
    refused path raises, and is not kept)."""
    return tuple(name.casefold() for name in tree.split(cell_path))


def _cell_specs(extra_specs):
    """((key, requirement), ...) of the ``cells:`` extra specs, by key."""
    prefix = cell_filters.CELLS_SCOPE + ":"
    return tuple(sorted((key[len(prefix):], value)
                        for key, value in extra_specs.items()
                        if key.startswith(prefix)))


def _target(spec):
    """(the ``target_cell`` hint as given, its case-folded names), or
    (None, None) without one. One path or a typed error: more than one
    value is InvalidSchedulerRequest, a malformed path InvalidCellPath."""
    hints = set_value(spec, "scheduler_hints") or {}
    values = hints.get(cell_filters.TARGET_HINT)
    if not values:
        return None, None
    if len(values) != 1:
        raise exception.InvalidSchedulerRequest(
            field=f"scheduler_hints.{cell_filters.TARGET_HINT}",
            value=list(values), reason="a build has one target cell path")
    return values[0], _folded(values[0])


# --- the configured chain -------------------------------------------------------

class _Chain:
    """The configured filters, weighers and capacity flavors."""

    def __init__(self, conf):
        self.filters = _load(cell_filters.FILTERS, conf, _FILTERS_OPTION)
        self.weighers = _load(cell_weighers.WEIGHERS, conf,
                              _WEIGHERS_OPTION)
        self.flavors = tuple(cell_capabilities.parse_flavors(
            conf.cells.capacity_flavors))


def _load(registry, conf, option):
    """The plugins ``[cells] option`` names, in order; an unknown name
    is ConfigInvalid naming the option, the name and the known ones."""
    names = list(conf.cells[option])
    known = registry.names()
    for name in names:
        if name not in known:
            raise exception.ConfigInvalid(
                value=name, group="cells", option=option,
                reason=f"no {registry.kind} {name!r}; known: "
                       f"{', '.join(known)}")
    return registry.load(names, conf)


def chain(conf=CONF):
    """The filters, weighers and flavors of ``conf``, built once while
    its option values stay (``scheduler.conf_values``)."""
    return conf_values.kept(conf, ("cells scheduling chain",), _Chain)


# --- the choice -----------------------------------------------------------------

def choose(candidates, request_spec, conf=CONF):
    """The ``CellChoice`` of ``candidates`` (``CellCandidate``s) for
    ``request_spec`` (a RequestSpec). Bad input (not a candidate, a path
    twice, a malformed path or target, a weight that is not a finite
    number) is a typed error before anything is decided."""
    candidates = _checked(candidates)
    configured = chain(conf)
    request = CellRequest(request_spec, configured.flavors)
    passed, rejected = [], {}
    for candidate in candidates:
        refusal = _first_refusal(configured.filters, candidate, request)
        if refusal is None:
            passed.append(candidate)
        else:
            rejected[candidate.path] = refusal
    if not passed:
        return CellChoice((), rejected, request)
    weights = cell_weighers.weigh(configured.weighers, passed, request)
    order = np.argsort(-weights, kind="stable")
    return CellChoice(tuple(passed[i] for i in order), rejected, request)


def _first_refusal(filters, candidate, request):
    for cell_filter in filters:
        refusal = cell_filter.rejection(candidate, request)
        if refusal is not None:
            return refusal
    return None


def _checked(candidates):
    """``candidates`` as a list sorted by path (ties then replay), each
    checked."""
    candidates = sorted(candidates, key=_path_of)
    seen = set()
    for candidate in candidates:
        folded = _folded(candidate.path)
        if folded in seen:
            raise exception.InvalidArgument(
                name="candidates", value=candidate.path,
                reason="a cell path is given twice (names compare "
                       "ignoring case)")
        seen.add(folded)
        tree.check_weight(candidate.name, "weight offset",
                          candidate.weight_offset)
        tree.check_weight(candidate.name, "weight scale",
                          candidate.weight_scale)
    return candidates


def _path_of(candidate):
    if not isinstance(candidate, CellCandidate):
        raise exception.InvalidArgument(
            name="candidates", value=type(candidate).__name__,
            reason="each candidate is a CellCandidate")
    if not isinstance(candidate.path, str):
        tree.split(candidate.path)      # InvalidCellPath, before sorting
    return candidate.path
