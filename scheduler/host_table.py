"""The host-state table: one row per compute node, one numpy array per column.

Filters and weighers read whole columns (``table.free_ram_mb[rows]``), so a
filter is one vector expression instead of a Python call per host. Strings
and documents are interned columns (see ``interned``): ``hypervisor_type``,
``cell``, ``zone``, the aggregate set of the node's host, the node's
traits, ``stats``, ``numa_topology``, ``pci_stats`` and friends are int
codes per row plus one parsed value per distinct key.

Rows are stable: a node keeps its row while it lives; a deleted node's row
is marked absent and reused by the next new node. The table only ever
changes through ``write_nodes``, ``write_usage``, ``remove_node``,
``set_services``, ``set_aggregates``, ``set_up`` and ``consume`` (one
entry point per kind of change), and every change bumps ``version`` so
caches built on it know.

Scalars follow Nova's HostState (see ``nodes.scalar_columns``): a node row
with ``free_disk_gb`` unset is not ready and is never a candidate.
"""
import collections

import numpy as np

from hoststate.scheduler import host_columns
from hoststate.scheduler import interned
from hoststate.scheduler import nodes
from hoststate.scheduler import usage_rewrites

#: Usage-only changes remembered for derived columns (``_usage_changed``).
USAGE_LOG = 256
#: Float columns, Nova's HostState names.
FLOAT_COLUMNS = (
    "id", "generation", "vcpus_total", "vcpus_used", "total_usable_ram_mb",
    "free_ram_mb", "total_usable_disk_gb", "disk_mb_used", "free_disk_mb",
    "cpu_allocation_ratio", "ram_allocation_ratio", "disk_allocation_ratio",
    "num_instances", "num_io_ops", "failed_builds", "hypervisor_version",
    "service_id",
)
#: Boolean columns. ``present``: the row holds a live node; ``ready``: its
#: free_disk_gb is set; ``has_service``: its host has a compute service.
BOOL_COLUMNS = ("present", "ready", "has_service", "disabled", "forced_down",
                "up")
#: Interned columns and how a raw key becomes a value.
INTERNED_COLUMNS = {
    "host": None, "nodename": None, "cell": None, "hypervisor_type": None,
    "host_ip": None,
    "cpu_info": nodes.parse_cpu_info,
    "supported_instances": nodes.parse_supported_instances,
    "stats": nodes.parse_stats,
    "metrics": nodes.parse_metrics,
    "numa_topology": nodes.parse_numa_topology,
    "pci_stats": nodes.parse_pci_stats,
    # frozenset of aggregate ids of the node's host
    "aggregates": None,
    # frozenset of the node's trait names (its driver's and operators')
    "traits": nodes.parse_traits,
}


def _objects(values):
    """``values`` (a sequence of strings, datetimes or None) as an object
    array, element by element (never converted to another dtype)."""
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


class HostTable(host_columns.HostColumns):
    """Columns of every compute node the scheduler knows."""

    def __init__(self, default_availability_zone="nova", capacity=1024):
        self.default_availability_zone = default_availability_zone
        self.capacity = 0
        self.columns = {}
        for name in FLOAT_COLUMNS:
            self.columns[name] = np.zeros(0, dtype=np.float64)
        for name in BOOL_COLUMNS:
            self.columns[name] = np.zeros(0, dtype=bool)
        self.interned = {name: interned.Interned(name, parse)
                         for name, parse in INTERNED_COLUMNS.items()}
        self.uuid = np.empty(0, dtype=object)
        self.updated_at = np.empty(0, dtype=object)
        self.row_of_uuid = {}
        self.row_of_host_node = {}
        self.rows_of_host = {}
        self.free_rows = []
        self.size = 0              # rows ever used (live or free)
        self.services = {}         # host -> ServiceRecord
        self.up_of_host = {}       # host -> last liveness answer
        self.aggregates = {}       # aggregate id -> AggregateRecord
        self.aggregates_of_host = {}
        self.version = 0
        self._zone_of_set = []
        self._grow(capacity)

    def __getattr__(self, name):
        columns = self.__dict__.get("columns")
        if columns is not None and name in columns:
            return columns[name]
        raise AttributeError(name)

    # --- shape --------------------------------------------------------------

    def _grow(self, capacity):
        if capacity <= self.capacity:
            return
        extra = capacity - self.capacity
        for name, column in self.columns.items():
            self.columns[name] = np.concatenate(
                [column, np.zeros(extra, dtype=column.dtype)])
        for column in self.interned.values():
            column.grow(capacity)
        self.uuid = np.concatenate([self.uuid, np.empty(extra, dtype=object)])
        self.updated_at = np.concatenate(
            [self.updated_at, np.empty(extra, dtype=object)])
        self.capacity = capacity

    def _allocate(self, count):
        """Rows for ``count`` new nodes: free rows first, then new ones."""
        reused = [self.free_rows.pop() for _ in
                  range(min(count, len(self.free_rows)))]
        fresh = count - len(reused)
        if self.size + fresh > self.capacity:
            self._grow(max(self.capacity * 2, self.size + fresh))
        rows = reused + list(range(self.size, self.size + fresh))
        self.size += fresh
        return rows

    def live_rows(self):
        """Row indices of live nodes (present), in row order."""
        return np.flatnonzero(self.columns["present"][:self.size])

    def candidates(self, rows=None):
        """Mask (over ``size`` rows, or over ``rows`` when given) of nodes
        a request may land on: live, ready and served by a compute
        service."""
        c = self.columns
        at = slice(0, self.size) if rows is None else rows
        return c["present"][at] & c["ready"][at] & c["has_service"][at]

    def __len__(self):
        return int(self.columns["present"][:self.size].sum())

    # --- nodes --------------------------------------------------------------

    def write_nodes(self, records, cell=None, ratio_defaults=None):
        """Add or update nodes from ``records``: compute_nodes rows
        (mappings with the table's column names), all of one cell; see
        ``write_columns``."""
        records = list(records)
        if not records:
            return np.zeros(0, dtype=np.intp)
        return self.write_columns(nodes.NodeColumns.from_records(records),
                                  cell=cell, ratio_defaults=ratio_defaults)

    def write_columns(self, columns, cell=None, ratio_defaults=None):
        """Add or update the nodes of ``columns`` (a ``nodes.NodeColumns``,
        all of one cell), a column at a time.

        Nodes are matched by uuid; a node whose host changed moves in the
        host index. Returns the rows written, in the order of ``columns``.
        """
        if not len(columns):
            return np.zeros(0, dtype=np.intp)
        rows, new = self._rows_for(columns["uuid"])
        before = None if len(new) else \
            usage_rewrites.outside_usage(self, rows)
        self._index_columns(rows, new, columns)
        self._write_scalars(rows, columns, ratio_defaults or {})
        self._write_interned(rows, columns, cell)
        self._attach_services(rows)
        if before is not None and \
                usage_rewrites.outside_usage(self, rows) == before:
            for row in rows.tolist():
                self._usage_changed(row)
        else:
            self.version += 1
        return rows

    def _rows_for(self, uuids):
        """(rows of ``uuids``, positions of the nodes that had none): the
        rows nodes already hold, new rows (free ones first) for the rest."""
        get = self.row_of_uuid.get
        rows = np.fromiter([get(uuid, -1) for uuid in uuids],
                           dtype=np.intp, count=len(uuids))
        new = np.flatnonzero(rows < 0)
        if len(new):
            rows[new] = self._allocate(len(new))
        return rows, new

    def _index_columns(self, rows, new, columns):
        """Index the nodes of ``columns``: new ones in bulk, known ones
        one by one (their host or name may have changed)."""
        uuids, hosts = columns["uuid"], columns["host"]
        names = columns["hypervisor_hostname"]
        is_new = np.zeros(len(rows), dtype=bool)
        is_new[new] = True
        for position in np.flatnonzero(~is_new).tolist():
            self._index(int(rows[position]), uuids[position],
                        hosts[position], names[position])
        if not len(new):
            return
        new_rows = rows[new].tolist()
        if len(new) == len(rows):
            new_uuids, new_hosts, new_names = uuids, hosts, names
        else:
            picked = new.tolist()
            new_uuids = [uuids[i] for i in picked]
            new_hosts = [hosts[i] for i in picked]
            new_names = [names[i] for i in picked]
        self.uuid[rows[new]] = _objects(new_uuids)
        self.row_of_uuid.update(zip(new_uuids, new_rows))
        self.row_of_host_node.update(zip(zip(new_hosts, new_names),
                                         new_rows))
        rows_of_host = self.rows_of_host
        for host, row in zip(new_hosts, new_rows):
            held = rows_of_host.get(host)
            if held is None:
                rows_of_host[host] = {row}
            else:
                held.add(row)

    def _index(self, row, uuid, host, nodename):
        old_uuid = self.uuid[row]
        if old_uuid is not None and old_uuid == uuid:
            old_host = self.interned["host"].keys[self.interned["host"].codes[row]]
            old_node = self.interned["nodename"].keys[
                self.interned["nodename"].codes[row]]
            if (old_host, old_node) == (host, nodename):
                return
            self._unindex(row, old_host, old_node)
        self.uuid[row] = uuid
        self.row_of_uuid[uuid] = row
        self.row_of_host_node[(host, nodename)] = row
        self.rows_of_host.setdefault(host, set()).add(row)

    def _unindex(self, row, host, nodename):
        if self.row_of_host_node.get((host, nodename)) == row:
            del self.row_of_host_node[(host, nodename)]
        rows = self.rows_of_host.get(host)
        if rows is not None:
            rows.discard(row)
            if not rows:
                del self.rows_of_host[host]

    def _write_scalars(self, rows, columns, ratio_defaults):
        scalars = nodes.scalar_columns(columns, ratio_defaults)
        for name, values in scalars.items():
            self.columns[name][rows] = values
        self.columns["present"][rows] = True
        self.updated_at[rows] = _objects(columns["updated_at"])

    def write_usage(self, record):
        """Take a claim's ``nodes.UsageRow``: the node's usage columns and
        stats change, the rest of its row stays. Only when the claim wrote
        on the generation this table holds; False (nothing written) when
        the table has the node at another generation, or not at all."""
        row = self.row_of_uuid.get(record["uuid"])
        if row is None or \
                self.columns["generation"][row] != record["generation"] - 1:
            return False
        for name, value in nodes.usage_columns(record).items():
            self.columns[name][row] = value
        self.updated_at[row] = record.get("updated_at")
        rows = np.array([row])
        stats = self.interned["stats"]
        stats.codes[rows] = stats.codes_of([record["stats"]])
        self._write_stats_counters(rows)
        self._compact_if_needed()
        self._usage_changed(row)
        return True

    def _write_interned(self, rows, columns, cell):
        keys = nodes.interned_keys(columns)
        keys["cell"] = [cell] * len(columns)
        for name, column_keys in keys.items():
            column = self.interned[name]
            column.codes[rows] = column.codes_of(column_keys)
        aggregates = self.interned["aggregates"]
        of_host = self.aggregates_of_host
        aggregates.codes[rows] = aggregates.codes_of(
            [of_host.get(host, host_columns.NO_AGGREGATES) for host in columns["host"]])
        self._write_stats_counters(rows)
        self._compact_if_needed()

    def _write_stats_counters(self, rows):
        stats = self.interned["stats"]
        codes = stats.codes[rows]
        for name, function in nodes.STATS_COUNTERS.items():
            self.columns[name][rows] = stats.map(function, key=name)[codes]

    def _compact_if_needed(self):
        # every live node is in row_of_uuid: its size is the live count,
        # without a pass over the rows on every write
        live_count = len(self.row_of_uuid)
        for name in ("stats", "numa_topology", "pci_stats", "metrics"):
            column = self.interned[name]
            if column.needs_compaction(live_count):
                column.compact(self.live_rows())

    def remove_node(self, uuid):
        """Forget a node (its row was deleted); its row becomes free."""
        row = self.row_of_uuid.pop(uuid, None)
        if row is None:
            return False
        self._unindex(row, self.host_of(row), self.nodename_of(row))
        for name in BOOL_COLUMNS:
            self.columns[name][row] = False
        self.uuid[row] = None
        self.free_rows.append(row)
        self.version += 1
        return True

    # --- consumption in memory ---------------------------------------------------

    def consume(self, row, vcpus, memory_mb, disk_mb, documents=None,
                count=1):
        """Count one instance into ``row`` as Nova's consume_from_request
        does (free RAM and disk down, used vCPUs and disk, instances and
        I/O ops up), for a scheduler that does not claim in a database; a claim
        rewrites the row from the stored node instead. ``documents`` maps
        interned columns (numa_topology, pci_stats) to their new text.
        Negative amounts with ``count=-1`` (and the old documents) give an
        instance back.
        """
        c = self.columns
        c["free_ram_mb"][row] -= memory_mb
        c["free_disk_mb"][row] -= disk_mb
        c["disk_mb_used"][row] += disk_mb
        c["vcpus_used"][row] += vcpus
        c["num_instances"][row] += count
        c["num_io_ops"][row] += count
        for name, key in (documents or {}).items():
            column = self.interned[name]
            column.codes[row] = column.code(key)
        self._usage_changed(row)

    # --- the invalidation hook of derived columns (scheduler.derived) ---------

    def _usage_changed(self, row):
        """Bump ``version`` for a change of ``row``'s usage only (its usage
        columns, stats, NUMA and PCI documents: ``consume`` and
        ``write_usage``), and log it: derived columns then recompute that
        row instead of the whole table. Any other write bumps ``version``
        alone, which rebuilds them."""
        self.version += 1
        log = self.__dict__.get("_usage_log")
        if log is None:
            log = self.__dict__["_usage_log"] = collections.deque(
                maxlen=USAGE_LOG)
        log.append((self.version, row))

    def rows_changed_since(self, version):
        """The rows (a list, maybe with repeats) whose usage alone changed
        since ``version``, or None when anything else may have changed
        (or the log no longer reaches back that far)."""
        steps = self.version - version
        log = self.__dict__.get("_usage_log")
        if steps == 0:
            return []
        if steps < 0 or log is None or steps > len(log):
            return None
        # versions in the log only grow: the last ``steps`` entries are
        # exactly version+1 .. self.version when the oldest is version+1
        if log[len(log) - steps][0] != version + 1:
            return None
        return [log[i][1] for i in range(len(log) - steps, len(log))]

    # --- reads ------------------------------------------------------------

    def host_of(self, row):
        column = self.interned["host"]
        return column.keys[column.codes[row]]

    def nodename_of(self, row):
        column = self.interned["nodename"]
        return column.keys[column.codes[row]]

    def cell_of(self, row):
        column = self.interned["cell"]
        return column.keys[column.codes[row]]

    def value(self, name, row):
        """The parsed value of interned column ``name`` at ``row``."""
        return self.interned[name].row_value(row)

    def codes(self, name):
        return self.interned[name].codes

    def host_codes(self, names, case_insensitive=False):
        """Codes of the ``host`` column for host ``names`` that exist."""
        column = self.interned["host"]
        if not case_insensitive:
            found = (column.find(name) for name in names)
            return np.asarray([c for c in found if c is not None],
                              dtype=np.int32)
        wanted = {name.lower() for name in names}
        return np.asarray([code for code, key in enumerate(column.keys)
                           if key is not None and key.lower() in wanted],
                          dtype=np.int32)

    def metric(self, name):
        """Per-row values of metric ``name`` (NaN where not reported)."""
        column = self.interned["metrics"]
        by_code = column.map(lambda metrics: metrics.get(name, np.nan),
                             key=("metric", name))
        return by_code[column.codes[:self.size]]
