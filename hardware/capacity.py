"""The capacity rule, written once, with a vector face and a scalar face.

For each of vcpus (a count), memory_mb (MiB) and disk_gb (GiB) a node
offers ``total × allocation ratio`` (its *capacity*); ``used`` starts at
the reserved baseline and counts every instance; ``free = capacity −
used`` (negative on an over-committed node). A request fits when

    requested <= free   and   requested <= total

the second because an instance over-commits against other instances,
never against itself (Placement's ``max_unit``, Nova's filters before it).
``fits``, ``free``, ``room`` and ``count_that_fit`` are that rule on
numbers or numpy arrays alike; everything else here only chooses the
numbers:

* the **vector face** reads HostTable columns over rows in the units of a
  claim (``table_view``): the scheduler's claimable mask, the explanation
  of what was short everywhere, how many instances the cloud still holds;
  the capacity filters call ``fits`` and ``room`` on the columns Nova's
  filters read;
* the **scalar face** reads one node (a ComputeNode or a compute_nodes row
  mapping): ``node_shortfalls`` lists what a wanted (vcpus, memory_mb,
  disk_gb) is short of there, for the scheduler's claim, the tracker's
  claim and ``consumption.fit``.

A claim checks only what the request asks for: a resource it takes none
of (0) is left out, as Placement leaves it out of its query, so a request
for no disk lands on a node whose disk is over-committed (``claim_fits``,
which every claim face below calls). The legacy filters check it as
Nova's did: free must still be at least 0.

Two documented differences are options of the rule, not copies of it:

* ``trust_counts=False`` is Nova's CoreFilter: a node reporting 0 vCPUs
  passes, the larger-than-the-node test applies only when the
  over-committed count is positive, and an unknown (NaN) free count
  passes; Nova takes such counts for a broken collector, not a full host;
* disk: the filters count Nova's MiB (``1024 × (root + ephemeral) +
  swap``, swap exact, free from ``free_disk_mb``, which honours
  ``disk_available_least``); claims count an instance's disk in whole GiB
  rounded up (``conf.node_defaults.whole_gib``) against ``local_gb_used``.
  A filter's shortfall reports its MiB as GiB (MiB / 1024, exact).

A "does not fit" answer is a list of ``Shortfall``s.
"""
import collections.abc
import dataclasses

import numpy as np

from hoststate import exception
from hoststate.conf import node_defaults
from hoststate.hardware.row_runs import take

RESOURCES = ("vcpus", "memory_mb", "disk_gb")

#: resource -> (total field, used field, ratio field) of a compute node
NODE_FIELDS = {
    "vcpus": ("vcpus", "vcpus_used", "cpu_allocation_ratio"),
    "memory_mb": ("memory_mb", "memory_mb_used", "ram_allocation_ratio"),
    "disk_gb": ("local_gb", "local_gb_used", "disk_allocation_ratio"),
}

_UNITS = {"vcpus": "", "memory_mb": "MiB", "disk_gb": "GiB"}
#: resources without numbers: what a NUMA or PCI fit refused, in its words
_TEXT_ONLY = {"numa": "NUMA", "pci": "PCI"}


# --- shortfalls ----------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Shortfall:
    """One resource a request is short of.

    ``resource`` is "vcpus" (a count), "memory_mb" (MiB) or "disk_gb"
    (GiB), or "numa" / "pci" for a NUMA or PCI fit that failed (no
    numbers then; ``detail`` says why, in the fit's words).

    On one node (``node`` its name): ``requested`` is what one instance
    asks, ``capacity`` total × ratio, ``free`` capacity − used (negative
    when over-committed) and ``total`` the node's own amount (an instance
    larger than it never fits). Summed up over several nodes (a filter or
    the claim check that removed every host): ``capacity``, ``total`` and
    ``node`` are None and ``free`` is the most any of them could give one
    instance.
    """

    resource: str
    requested: float | None = None
    free: float | None = None
    capacity: float | None = None
    node: str | None = None
    total: float | None = None
    detail: str | None = None

    def __str__(self):
        if self.resource in _TEXT_ONLY:
            return f"{_TEXT_ONLY[self.resource]}: {self.detail}"
        return sentence(self.resource, self.requested, _UNITS[self.resource],
                        self.free, self.capacity, self.total)


def sentence(resource, requested, unit, free, capacity=None, total=None):
    """The readable form of a shortfall, in ``unit`` ("" for a count)."""
    unit = f" {unit}" if unit else ""
    head = f"{resource}: requested {amount(requested)}{unit}"
    if capacity is None:
        return f"{head}, at most {amount(free)}{unit} free"
    if total is not None and requested > total:
        return f"{head}, more than the node's {amount(total)}{unit} in all"
    return f"{head}, free {amount(free)}{unit} of {amount(capacity)}{unit}"


def amount(value):
    """A number as a person writes it: 2048, not 2048.0; 22.5; 10.33."""
    value = float(value)
    if value.is_integer():
        return str(int(value))
    return f"{value:.2f}".rstrip("0")


# --- the rule ----------------------------------------------------------------------

def limit(total, ratio):
    """total × ratio: what a node offers in all (its capacity). An
    infinite ratio times a zero total is NaN, which fits nothing (as in
    Nova's float arithmetic), without a numpy warning."""
    with np.errstate(invalid="ignore"):
        return _limit_and_free(total, ratio, 0)[0]


def free(total, ratio, used):
    """capacity − used: negative on an over-committed node (a float for
    numbers, see ``_as_numbers``)."""
    numbers = _as_numbers(total, ratio, used)
    if numbers is not None:
        return _limit_and_free(*numbers)[1]
    with np.errstate(invalid="ignore"):
        return _limit_and_free(total, ratio, used)[1]


def _limit_and_free(total, ratio, used):
    """(capacity, free), in Nova's order of operations (the float results
    at a boundary are Nova's); callers silence NaN warnings."""
    capacity = total * ratio
    return capacity, capacity - used


def fits(requested, total, ratio, used, trust_counts=True):
    """Whether (per row, for arrays) ``requested`` fits: no more than
    free and no more than the node's total. ``trust_counts=False`` is
    Nova's CoreFilter leniency (see the module docstring). On numbers
    (one node, one table row) the answer is a bool, from the same rule on
    Python floats: no numpy call, a tenth of the cost."""
    numbers = _as_numbers(requested, total, ratio, used)
    if numbers is not None:
        return bool(_fits(*numbers, trust_counts))
    with np.errstate(invalid="ignore"):
        return _fits(requested, total, ratio, used, trust_counts)


def _fits(requested, total, ratio, used, trust_counts):
    """The rule of ``fits`` on arrays or numbers alike: ``&``, ``|`` and
    ``^ True`` (not) are numpy's logical operations on bool arrays and
    Python's on bools; comparisons with NaN are False either way."""
    capacity, available = _limit_and_free(total, ratio, used)
    if trust_counts:
        return ((total < requested) ^ True) & (available >= requested)
    larger = (capacity > 0) & (requested > total)
    return ((larger ^ True) & ((available < requested) ^ True)) | \
        (total == 0)


def _as_numbers(*values):
    """``values`` as Python numbers when every one is a number (a float,
    numpy's float64 included, or an int), else None. A float64 and a
    Python float are the same IEEE double, so the arithmetic gives the
    same bits; in Python it never warns (inf × 0 is NaN either way) and
    costs no numpy call."""
    numbers = []
    for value in values:
        kind = type(value)
        if kind is np.float64:
            numbers.append(float(value))
        elif kind is float or kind is int:
            numbers.append(value)
        else:
            return None
    return numbers


def claim_fits(requested, total, ratio, used):
    """``fits`` as a claim checks it: a resource not asked for (0) always
    fits (Placement's query leaves it out)."""
    return np.logical_or(np.asarray(requested) == 0,
                         fits(requested, total, ratio, used))


def room(total, ratio, used, trust_counts=True):
    """The most one instance can take (per row): ``fits`` holds exactly
    for a request no larger than this (NaN aside)."""
    with np.errstate(invalid="ignore"):
        capacity, available = _limit_and_free(total, ratio, used)
        if trust_counts:
            return np.minimum(total, available)
        capped = np.where(capacity > 0, np.minimum(total, available),
                          available)
    return np.where(np.asarray(total) == 0, np.inf, capped)


def count_that_fit(requested, total, ratio, used):
    """Whole instances of ``requested`` the free capacity holds (per row;
    0 where one is larger than the node). A resource the instance does not
    take limits nothing (see ``claim_fits``)."""
    if not requested > 0:
        return np.full(np.shape(total), np.inf)
    available = free(total, ratio, used)
    with np.errstate(invalid="ignore"):
        count = np.floor(available / requested)
    count = np.where(np.asarray(total) < requested, 0.0, count)
    return np.maximum(np.nan_to_num(count, nan=0.0, posinf=np.inf), 0.0)


@dataclasses.dataclass(frozen=True)
class Wanted:
    """What one instance takes: vcpus, MiB of memory, whole GiB of disk
    (any object with these three attributes will do, e.g. a Consumption).
    """

    vcpus: float
    memory_mb: float
    disk_gb: float

    @classmethod
    def of_usage(cls, usage):
        """From a ``usage.Usage`` (disk a float of GiB), disk rounded up to
        the whole GiB a claim counts."""
        return cls(usage.vcpus, usage.memory_mb,
                   node_defaults.whole_gib(usage.disk_gb * 1024))

    @classmethod
    def from_disk_mb(cls, vcpus, memory_mb, disk_mb):
        """From Nova's MiB of disk (root, ephemeral and swap), rounded up
        to the whole GiB a claim counts."""
        return cls(vcpus, memory_mb, node_defaults.whole_gib(disk_mb))


# --- the vector face: HostTable rows ---------------------------------------------

def table_view(table, rows):
    """{resource: (total, ratio, used)} of ``rows`` (or of one row), in
    the units of a claim: memory used is total − free_ram_mb (what the table tracks),
    disk used is local_gb_used (``disk_mb_used`` / 1024)."""
    t = table
    ram_total = take(t.total_usable_ram_mb, rows)
    return {
        "vcpus": (take(t.vcpus_total, rows), take(t.cpu_allocation_ratio, rows),
                  take(t.vcpus_used, rows)),
        "memory_mb": (ram_total, take(t.ram_allocation_ratio, rows),
                      ram_total - take(t.free_ram_mb, rows)),
        "disk_gb": (take(t.total_usable_disk_gb, rows),
                    take(t.disk_allocation_ratio, rows),
                    take(t.disk_mb_used, rows) / 1024),
    }


def fits_on_rows(table, rows, wanted):
    """Mask over ``rows``: where one instance of ``wanted`` fits every
    resource."""
    mask = np.ones(len(rows), dtype=bool)
    for resource, (total, ratio, used) in table_view(table, rows).items():
        mask &= claim_fits(getattr(wanted, resource), total, ratio, used)
    return mask


def fits_on_row(table, row, wanted):
    """``fits_on_rows`` for one row (``row`` an int): the same rule on
    numbers instead of arrays of one, a tenth of the cost."""
    return all(bool(claim_fits(getattr(wanted, resource), total, ratio,
                               used))
               for resource, (total, ratio, used)
               in table_view(table, row).items())


def instances_that_fit(table, rows, wanted, per_row=False):
    """How many instances of ``wanted`` the free capacity of ``rows``
    holds: per row (an array) or in all (a number, possibly inf for an
    instance that takes nothing)."""
    counts = np.minimum.reduce([
        count_that_fit(getattr(wanted, resource), total, ratio, used)
        for resource, (total, ratio, used)
        in table_view(table, rows).items()])
    counts = np.asarray(counts, dtype=float)
    return counts if per_row else float(counts.sum())


def shortfalls_on_rows(table, rows, wanted):
    """The resources no row of ``rows`` has room for, each with the most
    any row could give (summed-up Shortfalls, in claim units)."""
    found = []
    for resource, (total, ratio, used) in table_view(table, rows).items():
        requested = getattr(wanted, resource)
        best = float(np.max(room(total, ratio, used))) if len(rows) else 0.0
        if requested and not best >= requested:
            found.append(Shortfall(resource, float(requested), best))
    return found


def largest_vcpus(table):
    """The most vCPUs any candidate node has (0 without candidates): no
    guest larger than this can be placed, whatever its ratios."""
    rows = np.flatnonzero(table.candidates())
    return int(table.vcpus_total[rows].max()) if len(rows) else 0


# --- the scalar face: one node -------------------------------------------------------

def node_field(node, name):
    """A field of a ComputeNode (None when unset), a row mapping or any
    object with attributes."""
    if isinstance(node, collections.abc.Mapping):
        return node.get(name)
    if hasattr(node, "obj_get"):
        return node.obj_get(name)
    return getattr(node, name, None)


def node_ratios(node, conf=None):
    """{ratio field: value} of ``node``: its own, or where it leaves one
    unset (a row read raw from the database), as ``conf`` resolves it
    (``conf.node_defaults``). A ComputeNode read through the objects has
    every ratio resolved already, and needs no ``conf``."""
    stored = {name: node_field(node, name) for name in node_defaults.RATIOS}
    if not any(node_defaults.unset(v) for v in stored.values()):
        return stored
    if conf is None:
        name = next(n for n, v in stored.items() if node_defaults.unset(v))
        raise exception.InvalidArgument(
            name=f"node {name}", value=stored[name],
            reason="an unset ratio needs the configuration to resolve it")
    return node_defaults.resolve(conf, node).ratios()


def node_view(node, conf=None):
    """{resource: (total, ratio, used)} of one node, in its units (the
    scalar twin of ``table_view``)."""
    ratios = node_ratios(node, conf)
    return {resource: (node_field(node, total) or 0, ratios[ratio],
                       node_field(node, used) or 0)
            for resource, (total, used, ratio) in NODE_FIELDS.items()}


def node_shortfalls(node, wanted, conf=None):
    """Every resource ``wanted`` (vcpus, memory_mb, disk_gb) is short of on
    ``node``, as Shortfalls ([] when it fits)."""
    name = node_field(node, "hypervisor_hostname")
    found = []
    for resource, (total, ratio, used) in node_view(node, conf).items():
        requested = getattr(wanted, resource)
        if not claim_fits(requested, total, ratio, used):
            found.append(Shortfall(
                resource, requested, free=free(total, ratio, used),
                capacity=limit(total, ratio), node=name, total=total))
    return found
