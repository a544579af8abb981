"""The filters a parent cell runs over its candidate cells, and the one
rule for how many instances of a request a cell holds (``units_for``).

A filter is a small class with a ``name`` and one method,
``rejection(candidate, request)``: None when the candidate passes, else
a ``Rejection`` saying which filter refused, what the request asked and
what the cell has, so an empty choice explains itself. Filters run in
the order of ``[cells] scheduler_filters``; a candidate meets only the
filters before the first that refuses it.

A cell is a handful of candidates (tens, a hundred), not a table of
nodes: filters look at one candidate at a time, and only the weighers
work on arrays.

Filters are registered in ``FILTERS`` (``hoststate.scheduler.plugins``'
registry: a name given twice by two classes is refused; a third party
adds one through the ``hoststate.cells.filters`` entry point group).
"""
import dataclasses
import math

from hoststate.hardware import capacity as hw_capacity
from hoststate.scheduler import plugins
from hoststate.scheduler.filters import extra_specs_ops

#: the scope of flavor extra specs a cell's capabilities must match
CELLS_SCOPE = "cells"
#: the scheduler hint naming the cell a build must go to (a cell path)
TARGET_HINT = "target_cell"
#: the entry point groups third-party cell plugins register in
FILTER_GROUP = "hoststate.cells.filters"
WEIGHER_GROUP = "hoststate.cells.weighers"

FILTERS = plugins.Registry(FILTER_GROUP, "cell filter")


@dataclasses.dataclass(frozen=True)
class Rejection:
    """Why one filter refused one candidate cell: ``filter`` its name,
    ``reason`` one line for people, ``asked`` and ``has`` the facts it
    compared (what the request asked, what the cell has) for code."""

    filter: str
    reason: str
    asked: object = None
    has: object = None

    def __str__(self):
        return f"{self.filter}: {self.reason}"


# --- the one capacity rule of cell scheduling --------------------------------

def matching_flavor(report, wanted, flavors):
    """The name of the first of ``flavors`` (``capabilities.Flavor``,
    what the report's unit names stand for) whose three sizes are
    exactly ``wanted``'s and that ``report`` counts units of, or None."""
    for flavor in flavors:
        if flavor.name in report.units and \
                flavor.vcpus == wanted.vcpus and \
                flavor.memory_mb == wanted.memory_mb and \
                flavor.disk_gb == wanted.disk_gb:
            return flavor.name
    return None


def units_for(report, wanted, flavors=()):
    """How many instances taking ``wanted`` (a ``hardware.capacity
    .Wanted``: vcpus, MiB, whole GiB of disk, swap included, as a claim
    counts them) the cell of ``report`` holds.

    When a reported flavor has exactly those sizes, its units: counted
    node by node by the cell itself (``hardware.capacity
    .instances_that_fit``), after ``[cells] reserve_percent``. Otherwise
    an *upper bound* from the free totals: the least over resources of
    free // wanted (a resource wanted 0 does not limit; nothing wanted at
    all is ``math.inf``). A bound, because the sums hide how free space
    is split over nodes (two nodes with 3 free vCPUs each hold no 4-vCPU
    instance); that is acceptable here because the chosen cell's own
    scheduler has the final word: it answers NoValidHost, and the parent
    tries its next cell.
    """
    name = matching_flavor(report, wanted, flavors)
    if name is not None:
        return report.units[name]
    bound = math.inf
    for free, asked in ((report.free_vcpus, wanted.vcpus),
                        (report.free_memory_mb, wanted.memory_mb),
                        (report.free_disk_gb, wanted.disk_gb)):
        if asked > 0:
            bound = min(bound, max(math.floor(free / asked), 0))
    return bound


# --- the filters --------------------------------------------------------------

class CellFilter:
    """One filter: ``rejection(candidate, request)`` is None when the
    candidate passes. ``request`` is the choice's ``CellRequest``."""

    def __init__(self, conf):
        self.conf = conf

    @property
    def name(self):
        return type(self).__name__

    def rejection(self, candidate, request):
        raise NotImplementedError

    def refuse(self, reason, asked=None, has=None):
        return Rejection(self.name, reason, asked, has)


@FILTERS.register
class TargetCellFilter(CellFilter):
    """The scheduler hint ``target_cell`` (a cell path) sends the build
    to that cell: a child is kept when its path is the target or leads
    to it (``api!c1`` for ``api!c1!g1``: the build descends through it),
    this cell's own nodes only when the target is this cell itself.
    Names compare ignoring case, as the tree compares them. In Nova's
    cells v1 this filter was for administrators (a policy allowed the
    hint); here it trusts whoever built the request."""

    def rejection(self, candidate, request):
        target = request.target
        if target is None:
            return None
        own = request.folded_path(candidate)
        if own == target or (not candidate.is_self and
                             target[:len(own)] == own):
            return None
        shown = request.target_path
        if candidate.is_self:
            reason = f"this cell's own nodes are not target cell {shown}"
        else:
            reason = (f"{candidate.path} is neither target cell {shown} "
                      f"nor on the way to it")
        return self.refuse(reason, asked=shown, has=candidate.path)


@FILTERS.register
class DownCellFilter(CellFilter):
    """A cell not heard from within the down bound gets no build (the
    cells service decides ``up``; Nova weighed mute cells down instead,
    ``mute_weight_multiplier``, which still sent builds to them when
    nothing else was left)."""

    def rejection(self, candidate, request):
        if candidate.up:
            return None
        return self.refuse("down", asked="up", has="down")


@FILTERS.register
class CapabilitiesFilter(CellFilter):
    """Flavor extra specs scoped ``cells:`` (``cells:hypervisor`` =
    ``kvm``) must each match one value the cell advertises for that key,
    with the host filters' operators (``extra_specs_ops``: ``<in> kvm``,
    ``<or> kvm <or> qemu``...). A key the cell does not advertise fails.
    Other extra specs are for the hosts, not the cells."""

    def rejection(self, candidate, request):
        for key, requirement in request.cell_specs:
            values = candidate.capabilities.get(key)
            asked = {f"{CELLS_SCOPE}:{key}": requirement}
            if not values:
                return self.refuse(
                    f"{CELLS_SCOPE}:{key}={requirement!r} asked, "
                    f"{key} not advertised", asked=asked, has=None)
            if not any(extra_specs_ops.match(value, requirement)
                       for value in values):
                shown = ";".join(sorted(values))
                return self.refuse(
                    f"{CELLS_SCOPE}:{key}={requirement!r} asked, "
                    f"advertises {key}={shown}", asked=asked,
                    has=tuple(sorted(values)))
        return None


@FILTERS.register
class CapacityFilter(CellFilter):
    """The cell must hold ``num_instances`` instances of the request
    (``units_for``); a cell reporting no schedulable nodes holds none."""

    def rejection(self, candidate, request):
        wanted, count = request.wanted, request.num_instances
        if candidate.capacity.nodes <= 0:
            return self.refuse("no compute nodes", asked=count, has=0)
        units = request.units(candidate)
        if units >= count:
            return None
        source = matching_flavor(candidate.capacity, wanted,
                                 request.flavors)
        how = f"units of {source}" if source else "bound from free totals"
        sizes = (f"{hw_capacity.amount(wanted.vcpus)} vCPUs, "
                 f"{hw_capacity.amount(wanted.memory_mb)} MiB, "
                 f"{hw_capacity.amount(wanted.disk_gb)} GiB")
        return self.refuse(
            f"room for {units} of {count} instance(s) of {sizes} ({how})",
            asked=count, has=units)
