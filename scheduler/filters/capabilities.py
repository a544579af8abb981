"""Filters matching flavor extra specs against hosts and their aggregates.

* ``ComputeCapabilitiesFilter``: extra specs without a scope or in the
  ``capabilities:`` scope name a host attribute (Nova's HostState names:
  ``free_ram_mb``, ``hypervisor_type``...), a stat, or a path into a JSON
  document (``capabilities:cpu_info:arch``); the value found must match
  the spec (``extra_specs_ops``). An unscoped key that is neither an
  attribute nor a stat of the host is ignored for that host (flavors carry
  unscoped keys meant for other filters); other scopes are ignored.
  ``hw:maxphysaddr_bits: N`` asks for
  ``capabilities:cpu_info:maxphysaddr:bits >= N``.
* ``AggregateInstanceExtraSpecsFilter``: extra specs without a scope or in
  the ``aggregate_instance_extra_specs:`` scope must each match one value
  of that key in the metadata of the host's aggregates.

Both evaluate each spec once per distinct value (a stats document, a
cpu_info, an aggregate set) and gather the answers for every row.

This module also says how a HostState attribute reads off the table
(``attribute_values``), which the JsonFilter shares.
"""
import json
import weakref

import numpy as np

from hoststate.hardware.row_runs import take
from hoststate.scheduler import derived
from hoststate.scheduler.filters import BaseHostFilter
from hoststate.scheduler.filters import extra_specs_ops

CAPABILITIES_SCOPE = "capabilities"
AGGREGATE_SCOPE = "aggregate_instance_extra_specs"
MAXPHYSADDR_SPEC = "hw:maxphysaddr_bits"
MAXPHYSADDR_CAPABILITY = "capabilities:cpu_info:maxphysaddr:bits"


# --- host attributes, as Nova's HostState names them -------------------------

#: Attributes in float columns that Nova holds as ints (their str() is
#: what an extra spec is matched against: "8192", not "8192.0").
INT_ATTRIBUTES = frozenset((
    "free_ram_mb", "free_disk_mb", "vcpus_total", "vcpus_used",
    "total_usable_ram_mb", "total_usable_disk_gb", "disk_mb_used",
    "num_instances", "num_io_ops", "failed_builds", "hypervisor_version"))
#: Attributes in float columns that Nova holds as floats.
FLOAT_ATTRIBUTES = frozenset((
    "cpu_allocation_ratio", "ram_allocation_ratio", "disk_allocation_ratio"))
#: Attributes in interned columns: attribute -> column.
INTERNED_ATTRIBUTES = {
    "host": "host", "nodename": "nodename", "hypervisor_hostname": "nodename",
    "hypervisor_type": "hypervisor_type", "host_ip": "host_ip",
    "cell_uuid": "cell", "cpu_info": "cpu_info",
    "supported_instances": "supported_instances", "stats": "stats",
    "metrics": "metrics", "numa_topology": "numa_topology",
    "pci_stats": "pci_stats",
}
#: Every attribute a lookup may name.
ATTRIBUTES = (INT_ATTRIBUTES | FLOAT_ATTRIBUTES |
              frozenset(INTERNED_ATTRIBUTES) | {"uuid"})


class _Distinct:
    """Distinct lookup results, numbered in order of first appearance, so
    that thousands of stats documents reading the same value share one
    code and a requirement is matched once per value."""

    def __init__(self):
        self.values = []
        self._codes = {}

    def code(self, value):
        key = _identity(value)
        code = self._codes.get(key)
        if code is None:
            code = self._codes[key] = len(self.values)
            self.values.append(value)
        return code


def _identity(value):
    """A dict key telling values apart as str() would (1, 1.0 and True
    differ); unhashable values go by their repr."""
    try:
        hash(value)
    except TypeError:
        return (type(value), repr(value))
    return (type(value), value)


# Interned column -> {lookup key: _Distinct}; lives as long as the column,
# like the column's own map cache that holds the codes into it.
_DISTINCT = weakref.WeakKeyDictionary()


def coded_map(column, function, key):
    """``function`` of every distinct value of interned ``column``, as
    (result code by value code, results by result code).

    Cached on the column under ``key``, which must name ``function``
    completely; only values new since the last call are computed.
    """
    distinct = _DISTINCT.setdefault(column, {}).setdefault(key, _Distinct())
    codes = column.map(lambda value: distinct.code(function(value)),
                       dtype=np.int32, key=("coded", key))
    return codes, distinct.values


def _as_host_state(name, value):
    """An interned value as Nova's HostState holds it (supported_instances
    is a list of lists there)."""
    if name == "supported_instances":
        return [list(triple) for triple in value]
    return value


def attribute_values(table, rows, name, walk, key):
    """``walk(value of attribute name)`` on each row, as (codes over
    ``rows``, results by code).

    ``key`` names ``walk`` for the cache. Numbers are ints or floats as in
    Nova; documents are parsed (cpu_info is a dict, stats a dict of
    strings); an unset text or document is None.
    """
    if name in INT_ATTRIBUTES or name in FLOAT_ATTRIBUTES:
        kind = int if name in INT_ATTRIBUTES else float
        distinct, codes = np.unique(table.columns[name][rows],
                                    return_inverse=True)
        return codes, [walk(kind(value)) for value in distinct.tolist()]
    if name == "uuid":
        distinct, codes = np.unique(table.uuid[rows], return_inverse=True)
        return codes, [walk(value) for value in distinct.tolist()]
    column = table.interned[INTERNED_ATTRIBUTES[name]]
    by_code, values = coded_map(
        column, lambda value: walk(_as_host_state(name, value)),
        key=(name, key))
    return by_code[column.codes[rows]], values


# --- ComputeCapabilitiesFilter -----------------------------------------------

class _Marker:
    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return self.name


#: The attribute is unset: Nova then reads the stat of the same name.
_FALLBACK = _Marker("FALLBACK")
#: An unscoped key the host has neither as attribute nor as stat.
_IGNORED = _Marker("IGNORED")


def capability_requirements(extra_specs):
    """(path, requirement, unscoped) for each extra spec the capabilities
    filter checks, in key order."""
    specs = dict(extra_specs)
    if MAXPHYSADDR_SPEC in specs:
        specs[MAXPHYSADDR_CAPABILITY] = ">= " + specs[MAXPHYSADDR_SPEC]
    requirements = []
    for key, requirement in sorted(specs.items()):
        scope = key.split(":")
        if len(scope) == 1:
            requirements.append((tuple(scope), requirement, True))
        elif scope[0] == CAPABILITIES_SCOPE:
            requirements.append((tuple(scope[1:]), requirement, False))
    return requirements


def walk_capability(value, path):
    """Follow ``path`` down from ``value``: mappings by key, JSON text
    parsed first (stats may hold JSON). None when a step finds nothing or
    reaches something that is neither."""
    for name in path:
        if value is None:
            return None
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                return None
        if not isinstance(value, dict):
            return None
        value = value.get(name)
    return value


def _satisfied(values, requirement):
    """Per result code: does the result meet ``requirement``?"""
    return np.fromiter(
        (value is _IGNORED or (value is not None and value is not _FALLBACK
                               and extra_specs_ops.match(str(value),
                                                         requirement))
         for value in values), dtype=bool, count=len(values))


def _stat_satisfied(table, name, rest, requirement, optional):
    """Per code of the stats column: does the stat ``name`` walked down
    ``rest`` meet ``requirement``? ``optional``: a host without the stat
    is _IGNORED (passes)."""
    def read(stats):
        if optional and name not in stats:
            return _IGNORED
        return walk_capability(stats.get(name), rest)
    by_code, values = coded_map(
        table.interned["stats"], read,
        key=("capability-stat", name, rest, optional))
    return _satisfied(values, requirement)[by_code]


def capability_mask(table, rows, path, requirement, unscoped):
    """Rows meeting one capability requirement (Nova's lookup: the
    attribute if the host has it set, else the stat of that name).

    Documents are matched once per distinct text, and the answers of the
    attribute and of its stat fallback are combined per pair of texts
    before one gather over the rows."""
    name, rest = path[0], path[1:]
    stats_codes = table.interned["stats"].codes
    if name not in ATTRIBUTES:
        return _stat_satisfied(table, name, rest, requirement,
                               unscoped)[take(stats_codes, rows)]
    walk = (lambda value: _FALLBACK if value is None else
            walk_capability(value, rest))
    if name not in INTERNED_ATTRIBUTES:
        codes, values = attribute_values(table, rows, name, walk,
                                         key=("capability", rest))
        passed = _satisfied(values, requirement)[codes]
        fallback = _is_fallback(values)[codes]
        if fallback.any():
            stat = _stat_satisfied(table, name, rest, requirement, False)
            passed = np.where(fallback, stat[stats_codes[rows]], passed)
        return passed
    column = table.interned[INTERNED_ATTRIBUTES[name]]
    by_code, values = coded_map(
        column, lambda value: walk(_as_host_state(name, value)),
        key=(name, ("capability", rest)))
    passed = _satisfied(values, requirement)[by_code]
    fallback = _is_fallback(values)[by_code]
    codes = take(column.codes, rows)
    if not fallback.any():
        return passed[codes]
    stat = _stat_satisfied(table, name, rest, requirement, False)
    return np.where(fallback[codes], stat[take(stats_codes, rows)],
                    passed[codes])


def _is_fallback(values):
    return np.fromiter((value is _FALLBACK for value in values), dtype=bool,
                       count=len(values))


class ComputeCapabilitiesFilter(BaseHostFilter):
    """Hosts whose attributes, stats and documents meet the flavor's
    capability extra specs."""

    # The flavor and the hosts' capabilities do not change within a
    # request.
    run_filter_once_per_request = True
    RUN_ON_REBUILD = False

    def mask_reads_usage(self, request):
        """Unless every requirement reads a number column no usage change
        writes, or cpu_info (parsed as a dict, never None: never the stats
        fallback), stats or usage may be read."""
        return not all(_reads_no_usage(path[0]) for path, _, _ in
                       capability_requirements(request.extra_specs))

    def mask_key(self, request):
        """The flavor's extra specs (None if one is not hashable)."""
        try:
            return frozenset(request.extra_specs.items())
        except TypeError:
            return None

    def filter_mask(self, table, rows, request):
        mask = np.ones(len(rows), dtype=bool)
        for path, requirement, unscoped in capability_requirements(
                request.extra_specs):
            mask &= capability_mask(table, rows, path, requirement, unscoped)
        return mask

    def explain(self, table, removed_rows, request):
        failures = []
        for path, requirement, unscoped in capability_requirements(
                request.extra_specs):
            passed = capability_mask(table, removed_rows, path, requirement,
                                     unscoped)
            failed = len(removed_rows) - int(passed.sum())
            if failed:
                failures.append(f"{':'.join(path)} {requirement!r} excludes "
                                f"{failed} hosts")
        return "; ".join(failures) or None


def _reads_no_usage(name):
    """Whether the lookup of attribute ``name`` reads nothing a usage
    change writes (``derived.USAGE_WRITTEN``)."""
    if name in INT_ATTRIBUTES or name in FLOAT_ATTRIBUTES:
        return name not in derived.USAGE_WRITTEN
    return INTERNED_ATTRIBUTES.get(name) == "cpu_info"


# --- AggregateInstanceExtraSpecsFilter ---------------------------------------

def aggregate_requirements(extra_specs):
    """(metadata key, requirement) for each extra spec without a scope or
    in the aggregate_instance_extra_specs scope, in key order."""
    requirements = []
    for key, requirement in sorted(extra_specs.items()):
        scope, colon, rest = key.partition(":")
        if colon:
            if scope != AGGREGATE_SCOPE:
                continue
            key = rest
        requirements.append((key, requirement))
    return tuple(requirements)


def aggregate_metadata(aggregates):
    """{key: set of values} over ``aggregates``: comma-separated values
    split and stripped, values of a key in several aggregates pooled."""
    metadata = {}
    for aggregate in aggregates:
        for key, value in aggregate.metadata.items():
            metadata.setdefault(key, set()).update(
                item.strip() for item in str(value).split(","))
    return metadata


def aggregates_satisfy(aggregates, requirements):
    """Whether, for every requirement, some value of its key in the
    aggregates' metadata matches it (a missing key fails)."""
    metadata = aggregate_metadata(aggregates)
    return all(any(extra_specs_ops.match(value, requirement)
                   for value in metadata.get(key, ()))
               for key, requirement in requirements)


class AggregateInstanceExtraSpecsFilter(BaseHostFilter):
    """Hosts whose aggregates' metadata meets the flavor's aggregate
    extra specs."""

    # Aggregates and the flavor do not change within a request.
    run_filter_once_per_request = True
    RUN_ON_REBUILD = False

    def filter_mask(self, table, rows, request):
        requirements = aggregate_requirements(request.extra_specs)
        if not requirements:
            return np.ones(len(rows), dtype=bool)
        ok = table.per_aggregate_set(
            lambda aggregates: aggregates_satisfy(aggregates, requirements),
            dtype=bool, key=("AggregateInstanceExtraSpecsFilter",
                             requirements))
        return ok[table.aggregate_codes[rows]]

    def explain(self, table, removed_rows, request):
        requirements = aggregate_requirements(request.extra_specs)
        wanted = ", ".join(f"{key} {requirement!r}"
                           for key, requirement in requirements)
        return f"no host's aggregate metadata meets {wanted}"
