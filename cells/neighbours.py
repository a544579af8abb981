"""What a cells service knows of its children: who they are (its
``cells`` table), what they last broadcast, and whether they are up.

A child is *up* while its last broadcast is at most ``[cells]
down_after_broadcasts`` × ``broadcast_interval`` seconds old; a child
never heard from since this service started is down (a parent does not
send builds to a cell it knows nothing of). The clock is monotonic:
a wall-clock jump marks nobody down.

Thread safe: broadcasts arrive on the RPC server's threads while builds
read the candidates on others.
"""
import dataclasses
import threading
import time

from hoststate.cells import capabilities as cell_capabilities
from hoststate.cells import capacity as cell_capacity
from hoststate.cells import rows
from hoststate.cells import scheduling
from hoststate.cells import tree


@dataclasses.dataclass
class Child:
    """A child cell: its row of the tree and what it last said."""

    cell: tree.Cell
    path: str | None = None
    heard_at: float | None = None
    capabilities: dict = dataclasses.field(default_factory=dict)
    capacity: cell_capacity.CapacityReport = dataclasses.field(
        default_factory=cell_capacity.CapacityReport)


def down_after_s(conf):
    """Seconds of silence after which a child is down (one rule: the
    service, its views and its tests all use this)."""
    return conf.cells.down_after_broadcasts * conf.cells.broadcast_interval


class Neighbours:
    def __init__(self, conf, clock=time.monotonic):
        self.conf = conf
        self._clock = clock
        self._lock = threading.Lock()
        self._children = {}

    def set_tree(self, cells):
        """The children of the ``cells`` table rows ``cells`` (re-read
        periodically: ``cell-add`` and ``cell-remove`` take effect
        without a restart). What a child kept said stays."""
        with self._lock:
            named = {c.name: c for c in cells if c.role == tree.CHILD}
            self._children = {
                name: dataclasses.replace(self._children[name], cell=cell)
                if name in self._children else Child(cell)
                for name, cell in named.items()}

    def heard(self, name, path, capabilities, capacity):
        """Record a child's broadcast; False when no child of that name
        is in the tree (a removed cell, or a stranger)."""
        with self._lock:
            child = self._children.get(name)
            if child is None:
                return False
            child.path = path
            child.heard_at = self._clock()
            child.capabilities = cell_capabilities.from_primitive(
                capabilities)
            child.capacity = cell_capacity.CapacityReport.from_primitive(
                capacity)
            return True

    def consume(self, name, request, count):
        """What a build of ``count`` instances of ``request`` (a
        ``scheduling.CellRequest``) sent to child ``name`` takes from its
        last report, until its next broadcast replaces it
        (``capacity.consumed``)."""
        with self._lock:
            child = self._children.get(name)
            if child is not None and request is not None:
                child.capacity = cell_capacity.consumed(
                    child.capacity, request.wanted, count, request.flavors)

    def is_up(self, child, now=None):
        now = self._clock() if now is None else now
        return child.heard_at is not None and \
            now - child.heard_at <= down_after_s(self.conf)

    def state_of(self, child, now=None):
        """(``rows.UP``/``DOWN``/``UNHEARD``, seconds since its last
        report or None)."""
        now = self._clock() if now is None else now
        if child.heard_at is None:
            return rows.UNHEARD, None
        return (rows.UP if self.is_up(child, now) else rows.DOWN,
                now - child.heard_at)

    def children(self):
        """Snapshot of every child, by name."""
        with self._lock:
            return [dataclasses.replace(c) for _, c in
                    sorted(self._children.items())]

    def child(self, name):
        with self._lock:
            found = self._children.get(name)
            return None if found is None else dataclasses.replace(found)

    def up_reports(self):
        """(capabilities, capacity) of every child that is up: what this
        cell merges into its own broadcast."""
        now = self._clock()
        return [(c.capabilities, c.capacity) for c in self.children()
                if self.is_up(c, now)]

    def candidates(self, own_path):
        """The children as cell candidates (``own_path`` names those not
        heard from yet: their path is this cell's path and their name)."""
        now = self._clock()
        return [scheduling.CellCandidate(
            path=c.path or tree.path(own_path, c.cell.name),
            name=c.cell.name, is_self=False, up=self.is_up(c, now),
            capabilities=c.capabilities, capacity=c.capacity,
            weight_offset=c.cell.weight_offset,
            weight_scale=c.cell.weight_scale)
            for c in self.children()]
