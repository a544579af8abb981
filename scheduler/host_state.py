"""HostState: Nova's per-node object shape, as a view onto one table row.

For code that wants ``host_state.free_ram_mb`` rather than columns (a
third-party filter written Nova's way, a debugging session, the host views
of the command line). A view holds only the table and the row: it reads
what is stored now and copies nothing, so it is never stale and costs
nothing to make. It is read-only: the table changes only through its own
entry points.
"""
from hoststate.scheduler import host_table as host_table_mod

_FLOAT_ATTRIBUTES = frozenset(host_table_mod.FLOAT_COLUMNS) - {"service_id"}
_INT_ATTRIBUTES = frozenset((
    "vcpus_total", "vcpus_used", "total_usable_ram_mb", "free_ram_mb",
    "total_usable_disk_gb", "disk_mb_used", "free_disk_mb", "num_instances",
    "num_io_ops", "failed_builds", "hypervisor_version", "id", "generation"))


class HostState:
    """One compute node of the host-state table."""

    __slots__ = ("table", "row")

    def __init__(self, table, row):
        self.table = table
        self.row = row

    def __getattr__(self, name):
        table = object.__getattribute__(self, "table")
        row = object.__getattribute__(self, "row")
        if name in _FLOAT_ATTRIBUTES:
            value = float(table.columns[name][row])
            return int(value) if name in _INT_ATTRIBUTES else value
        if name in table.interned and name not in ("aggregates",):
            return table.value(name, row)
        raise AttributeError(f"HostState has no attribute {name!r}")

    def __setattr__(self, name, value):
        if name in self.__slots__:
            object.__setattr__(self, name, value)
            return
        raise AttributeError("HostState is a read-only view of the host "
                             "table; change the table through HostManager")

    # --- identity ------------------------------------------------------------

    @property
    def host(self):
        return self.table.host_of(self.row)

    @property
    def nodename(self):
        return self.table.nodename_of(self.row)

    hypervisor_hostname = nodename

    @property
    def uuid(self):
        return self.table.uuid[self.row]

    @property
    def cell_uuid(self):
        return self.table.cell_of(self.row)

    @property
    def updated(self):
        return self.table.updated_at[self.row]

    # --- service and grouping ------------------------------------------------

    @property
    def service(self):
        """The compute service of the host, as a dict (Nova's ReadOnlyDict)."""
        service = self.table.services.get(self.host)
        return None if service is None else service.as_dict()

    @property
    def up(self):
        return bool(self.table.columns["up"][self.row])

    @property
    def aggregates(self):
        code = int(self.table.aggregate_codes[self.row])
        return self.table.aggregates_of_set(code)

    @property
    def availability_zone(self):
        codes, zones = self.table.zone_codes()
        return zones[codes[self.row]]

    @property
    def pci_stats(self):
        return self.table.value("pci_stats", self.row)

    def __repr__(self):
        return (f"({self.host}, {self.nodename}) ram: {self.free_ram_mb}MB "
                f"disk: {self.free_disk_mb}MB io_ops: {self.num_io_ops} "
                f"instances: {self.num_instances}")
