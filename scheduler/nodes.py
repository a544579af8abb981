"""From compute_nodes rows to the host-state table's columns.

Nova's HostState reads a ComputeNode object field by field; building a
hundred thousand of those objects (and parsing every JSON document in them)
takes minutes. Here a row stays a plain mapping of column values: numbers go
straight into float columns, documents stay text until a filter asks for one
(and then are parsed once per distinct text).

Nova's rules, reproduced:

* ``free_disk_mb`` is ``min(disk_available_least, free_disk_gb) * 1024``
  when the driver reports ``disk_available_least``, else ``free_disk_gb *
  1024``; ``disk_mb_used`` is ``local_gb_used * 1024``;
* ``num_instances``, ``num_io_ops`` and ``failed_builds`` come from the
  node's stats (``num_instances``, ``io_workload``, ``failed_builds``);
* a node whose ``free_disk_gb`` is unset is not ready;
* an allocation ratio that is unset or 0.0 becomes the configured one, else
  the initial one (``ratio_defaults`` carries the value
  ``conf.node_defaults.resolve`` gives; 1.0 for one it does not name);
* a node's traits are those its driver reported and those operators
  added, together (``traits``: the pair of stored texts, interned, parsed
  into one frozenset per distinct pair).
"""
import json
import math

import numpy as np

from hoststate.conf import node_defaults
from hoststate.objects import numa as numa_obj
from hoststate.objects import pci as pci_obj
from hoststate.objects import traits as traits_obj

#: The compute_nodes columns the scheduler reads.
NODE_COLUMNS = (
    "id", "uuid", "host", "hypervisor_hostname", "vcpus", "vcpus_used",
    "memory_mb", "memory_mb_used", "free_ram_mb", "local_gb", "local_gb_used",
    "free_disk_gb", "disk_available_least", "hypervisor_type",
    "hypervisor_version", "cpu_info", "host_ip", "supported_instances",
    "metrics", "pci_stats", "stats", "numa_topology", "cpu_allocation_ratio",
    "ram_allocation_ratio", "disk_allocation_ratio", "generation",
    "updated_at", *traits_obj.COLUMNS,
)

#: Interned columns filled from a node column of the same or another name.
_INTERNED_FROM = {
    "host": "host", "nodename": "hypervisor_hostname",
    "hypervisor_type": "hypervisor_type", "host_ip": "host_ip",
    "cpu_info": "cpu_info", "supported_instances": "supported_instances",
    "stats": "stats", "metrics": "metrics", "numa_topology": "numa_topology",
    "pci_stats": "pci_stats",
}


#: What a claim on a node the table holds at the current generation reads
#: back: the columns the claim changes, those the table derives its usage
#: columns from (``usage_columns``) and those naming the node.
USAGE_COLUMNS = (
    "id", "uuid", "host", "hypervisor_hostname", "vcpus_used", "free_ram_mb",
    "local_gb_used", "free_disk_gb", "disk_available_least", "stats",
    "generation", "updated_at",
)


class UsageRow(dict):
    """A node's ``USAGE_COLUMNS`` as a claim stored them. The claim wrote
    on the generation the scheduler's table held, so the node's other
    columns are still as the table has them."""


def _number(value, default=0.0):
    return default if value is None else float(value)


class NodeColumns:
    """compute_nodes rows held as columns: one list per column name, one
    entry per node, in read order.

    A full load reads a hundred thousand rows; a Python object (or dict)
    per row costs more than reading them. The reader transposes the
    cursor's tuples once (``from_rows``) and every derived column is then
    computed a whole column at a time. ``from_records`` gives the same
    shape from mappings (a claim's stored row, tests' descriptions), so
    one node and a hundred thousand take the same path.
    """

    __slots__ = ("_columns", "count")

    def __init__(self, columns, count):
        self._columns = columns
        self.count = count

    @classmethod
    def from_rows(cls, names, rows):
        """From a sequence of tuples whose fields are ``names``."""
        rows = rows if isinstance(rows, list) else list(rows)
        values = list(zip(*rows)) if rows else [()] * len(names)
        return cls(dict(zip(names, values)), len(rows))

    @classmethod
    def from_records(cls, records, names=None):
        """From mappings (a missing ``deleted`` reads as 0: live)."""
        records = list(records)
        names = NODE_COLUMNS if names is None else names
        columns = {name: [r[name] for r in records] for name in names}
        if "deleted" not in columns:
            columns["deleted"] = [r.get("deleted", 0) or 0 for r in records]
        return cls(columns, len(records))

    def __len__(self):
        return self.count

    def __getitem__(self, name):
        return self._columns[name]

    def __contains__(self, name):
        return name in self._columns

    def take(self, positions):
        """The nodes at ``positions`` (a sequence of ints), in that order."""
        positions = list(positions)
        return NodeColumns({name: [values[i] for i in positions]
                            for name, values in self._columns.items()},
                           len(positions))

    def number(self, name, default=0.0):
        """Column ``name`` as floats, None read as ``default`` (NaN when
        the default is NaN: a float column of the database never stores
        NaN where a None means something else)."""
        column = self._columns[name]
        try:        # twice as fast, for a column without None
            values = np.fromiter(column, dtype=np.float64, count=len(column))
        except TypeError:
            values = np.array(column, dtype=np.float64)
        if not np.isnan(default):
            values[np.isnan(values)] = default
        return values

    def record(self, position):
        """One node as a dict (for a caller that wants a row)."""
        return {name: values[position]
                for name, values in self._columns.items()}


def scalar_columns(columns, ratio_defaults):
    """{column: float array} for the table's numeric and readiness columns
    of ``columns`` (a NodeColumns)."""
    out = _usage(columns.number)
    out.update({
        "id": columns.number("id"), "vcpus_total": columns.number("vcpus"),
        "total_usable_ram_mb": columns.number("memory_mb"),
        "total_usable_disk_gb": columns.number("local_gb"),
        "hypervisor_version": columns.number("hypervisor_version"),
    })
    for name in node_defaults.RATIOS:
        values = columns.number(name, np.nan)
        fallback = float(ratio_defaults.get(name, 1.0))
        out[name] = np.where(np.isnan(values) | (values == 0.0), fallback,
                             values)
    return out


def usage_columns(record):
    """{column: value} of the table's usage columns from one record that
    holds ``USAGE_COLUMNS`` (a claim's ``UsageRow``): numpy scalars, as
    arrays of one cost ten times more to build than the arithmetic."""
    return _usage(_reader(record))


def _reader(record):
    """``column(name, default)`` over one record: numpy scalars."""
    def column(name, default=0.0):
        return np.float64(_number(record[name], default))
    return column


def _usage(column):
    """The usage columns, ``column(name, default)`` reading a node column
    (arrays over nodes, or one record's numbers)."""
    free_disk_gb = column("free_disk_gb", np.nan)
    least = column("disk_available_least", np.nan)
    free_disk_mb = np.where(np.isnan(least), free_disk_gb,
                            np.fmin(least, free_disk_gb)) * 1024
    ready = ~np.isnan(free_disk_gb)
    return {
        "generation": column("generation"),
        "vcpus_used": column("vcpus_used"),
        "free_ram_mb": column("free_ram_mb"),
        "disk_mb_used": column("local_gb_used") * 1024,
        "free_disk_mb": np.where(ready, free_disk_mb, 0.0),
        "ready": ready,
    }


def interned_keys(columns):
    """{interned column: sequence of raw keys, one per node} of
    ``columns`` (a NodeColumns)."""
    keys = {name: columns[source] for name, source in _INTERNED_FROM.items()}
    keys["traits"] = list(zip(*(columns[name]
                                for name in traits_obj.COLUMNS)))
    return keys


# --- document parsers (raw text -> value), run once per distinct text ------

def parse_stats(text):
    if not text:
        return {}
    loaded = json.loads(text) if isinstance(text, str) else text
    return {str(k): v for k, v in loaded.items()}


def _stat_number(name):
    def read(stats):
        try:
            return float(stats.get(name) or 0)
        except (TypeError, ValueError):
            return 0.0
    read.__name__ = f"stat_{name}"
    return read


#: Table columns counted from stats, as Nova's HostState reads them.
STATS_COUNTERS = {
    "num_instances": _stat_number("num_instances"),
    "num_io_ops": _stat_number("io_workload"),
    "failed_builds": _stat_number("failed_builds"),
}


def parse_cpu_info(text):
    """cpu_info as a dict ({} when it is not a JSON object)."""
    if not text:
        return {}
    try:
        loaded = json.loads(text)
    except (TypeError, ValueError):
        return {}
    return loaded if isinstance(loaded, dict) else {}


def parse_supported_instances(text):
    """A tuple of (arch, hv_type, vm_mode) triples."""
    if not text:
        return ()
    return tuple(tuple(triple) for triple in json.loads(text))


#: Metrics a monitor reports as a fraction (0 to 1) that Nova's scheduler
#: reads as a percentage (``MonitorMetricList.from_json`` multiplies them
#: by 100).
PERCENT_METRICS = frozenset((
    "cpu.user.percent", "cpu.kernel.percent", "cpu.idle.percent",
    "cpu.iowait.percent", "cpu.percent"))


def parse_metrics(text):
    """{metric name: value} from Nova's metrics JSON (a list of {"name",
    "value", ...} dicts), as Nova's scheduler reads them: the percent
    metrics times 100, and every value a whole number (Nova's
    MonitorMetric holds an integer, truncated toward zero)."""
    if not text:
        return {}
    metrics = {}
    for entry in json.loads(text):
        try:
            name, value = entry["name"], float(entry["value"])
        except (KeyError, TypeError, ValueError):
            continue
        if name in PERCENT_METRICS:
            value *= 100
        if math.isfinite(value):
            metrics[name] = float(math.trunc(value))
    return metrics


def parse_traits(texts):
    """The frozenset of trait names of a (driver_traits, operator_traits)
    pair of stored texts."""
    return frozenset(name for text in texts
                     for name in traits_obj.from_text(text))


def parse_numa_topology(text):
    return numa_obj.NUMATopology.from_json(text) if text else None


def parse_pci_stats(text):
    return pci_obj.PciDevicePoolList.from_json(text) if text else None
