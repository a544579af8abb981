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


def scalar_columns(records, ratio_defaults):
    """{column: float array} for the table's numeric and readiness columns
    (numpy scalars for a single record: a claim writes one node, and
    arrays of one cost ten times more to build than the arithmetic)."""
    if len(records) == 1:
        column = _reader(records[0])
    else:
        def column(name, default=0.0):
            return np.fromiter((_number(r[name], default) for r in records),
                               dtype=np.float64, count=len(records))

    out = _usage(column)
    out.update({
        "id": column("id"), "vcpus_total": column("vcpus"),
        "total_usable_ram_mb": column("memory_mb"),
        "total_usable_disk_gb": column("local_gb"),
        "hypervisor_version": column("hypervisor_version"),
    })
    for name in node_defaults.RATIOS:
        values = column(name, np.nan)
        fallback = float(ratio_defaults.get(name, 1.0))
        out[name] = np.where(np.isnan(values) | (values == 0.0), fallback,
                             values)
    return out


def usage_columns(record):
    """{column: value} of the table's usage columns from one record that
    holds ``USAGE_COLUMNS`` (a claim's ``UsageRow``)."""
    return _usage(_reader(record))


def _reader(record):
    """``column(name, default)`` over one record: numpy scalars."""
    def column(name, default=0.0):
        return np.float64(_number(record[name], default))
    return column


def _usage(column):
    """The usage columns, ``column(name, default)`` reading a node column
    (arrays over records, or one record's numbers)."""
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


def interned_keys(records):
    """{interned column: list of raw keys, one per record}."""
    keys = {name: [r[source] for r in records]
            for name, source in _INTERNED_FROM.items()}
    keys["traits"] = [tuple(r[name] for name in traits_obj.COLUMNS)
                      for r in records]
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
