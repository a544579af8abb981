"""A row of the cell tree as commands show it: light to import (a
command's parser names its columns before anything heavy loads)."""
import dataclasses
import datetime

PARENT, CHILD = "parent", "child"
ROLES = (PARENT, CHILD)


@dataclasses.dataclass(frozen=True)
class Cell:
    """A live row of the tree. ``transport_url`` holds the credentials;
    show ``shown_url`` instead."""

    id: int
    name: str
    role: str
    transport_url: str
    weight_offset: float
    weight_scale: float
    created_at: datetime.datetime | None

    @property
    def shown_url(self):
        from hoststate import rpc      # oslo.messaging: only when shown
        return rpc.shown_url(self.transport_url)

    def as_shown(self):
        """The row with its transport URL's password hidden."""
        return dataclasses.replace(self, transport_url=self.shown_url)

    @classmethod
    def of_row(cls, row):
        return cls(id=row["id"], name=row["name"],
                   role=PARENT if row["is_parent"] else CHILD,
                   transport_url=row["transport_url"],
                   weight_offset=row["weight_offset"],
                   weight_scale=row["weight_scale"],
                   created_at=row["created_at"])


#: what ``cell-capacities`` rows are: this cell's own nodes, a child's
#: last report, and the sum this cell sends up
OWN, SUBTREE = "own", "subtree"
#: a child's state at its parent: ``unheard`` before its first report
UP, DOWN, UNHEARD = "up", "down", "unheard"


@dataclasses.dataclass(frozen=True)
class CellCapacity:
    """One row of what a cells service holds of capacity (its
    ``capacities`` answer): ``heard_s_ago`` is a child's report's age,
    None for the others; ``units`` {flavor: instances that still fit}."""

    path: str
    role: str
    state: str
    heard_s_ago: float | None
    nodes: int
    free_vcpus: float
    free_memory_mb: float
    free_disk_gb: float
    units: dict

    @classmethod
    def of(cls, path, role, state, heard_s_ago, report):
        """The row of a ``capacity.CapacityReport``."""
        return cls(path=path, role=role, state=state,
                   heard_s_ago=heard_s_ago, nodes=report.nodes,
                   free_vcpus=report.free_vcpus,
                   free_memory_mb=report.free_memory_mb,
                   free_disk_gb=report.free_disk_gb,
                   units=dict(sorted(report.units.items())))
