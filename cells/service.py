"""A cell's cells service: its place in the tree, on the bus.

    child cells ──report_state (cast, every broadcast_interval)──▶ parent
    child cells ──sync_instances (call)─────────────────────────▶ parent
    parent ──build_instances / delete_instance / view (call)────▶ child

One per cell (more may run: they share the ``cells`` topic of the
cell's bus and hold nothing another needs, except what children said
last, which each hears for itself). It serves on its own cell's bus
(``[DEFAULT] transport_url``) and reaches its parent and children on
the URLs of its ``cells`` table, which it re-reads every broadcast, so
``cell-add`` and ``cell-remove`` take effect without a restart.

The cell's *path* is its name at the top (a cell without a parent) and
its parent's path, ``!``, its name below; a child learns it from its
parent (``path``), or from the first build its parent forwards.

Two loops run beside the server (:mod:`hoststate.cells.periodic`):

* the broadcast: this cell's capacity from its scheduler's table
  (:mod:`hoststate.cells.capacity`), merged with the reports of its
  children that are up, and its capabilities merged with theirs, sent
  to the parent;
* the instance sync (:mod:`hoststate.cells.sync`): this cell's
  instances changed since the parent last acknowledged, sent up.
"""
import logging
import threading
import time

from hoststate import rpc
from hoststate.cells import capabilities as cell_capabilities
from hoststate.cells import capacity as cell_capacity
from hoststate.cells import endpoint as cells_endpoint
from hoststate.cells import neighbours as neighbours_mod
from hoststate.cells import periodic
from hoststate.cells import rows
from hoststate.cells import rpcapi
from hoststate.cells import scheduling
from hoststate.cells import sync as sync_mod
from hoststate.cells import tree
from hoststate.conductor import rpcapi as conductor_rpcapi
from hoststate.objects import indirection

LOG = logging.getLogger(__name__)


class CellsService:
    """The service of the cell whose database ``context`` names.

    ``views``: what answers a cross-cell listing in this cell (a
    callable ``(context, kind, options) -> rows``; the command line
    gives its own, :mod:`hoststate.cli.cell_views`); without it the
    cell shows no rows of its own.
    """

    def __init__(self, conf, context, views=None, clock=time.monotonic):
        self.conf = conf
        self.context = context
        self.name = conf.cells.name
        self.views = views
        self.capabilities = cell_capabilities.parse(conf.cells.capabilities)
        self.neighbours = neighbours_mod.Neighbours(conf, clock)
        self.own_capacity = cell_capacity.CapacityReport()
        self._lock = threading.Lock()
        self._parent = None
        self._parent_path = None
        self._clients = {}
        self._hosts = None
        self.sync = sync_mod.InstanceSync(self)
        self.refresh_tree()
        self._server = rpc.get_server(
            conf, rpcapi.TOPIC, conf.host,
            [cells_endpoint.CellsEndpoint(self)], engine=context.engine)
        self._loops = [
            periodic.Every("cells-broadcast", conf.cells.broadcast_interval,
                           self.broadcast_once),
            periodic.Every("cells-sync", conf.cells.instance_sync_interval,
                           self.sync.run_once)]

    # --- running ---------------------------------------------------------------

    def start(self):
        self._server.start()
        for loop in self._loops:
            loop.start()
        LOG.info("cells service of cell %s started", self.name)

    def stop_loops(self):
        """Stop the broadcast and the sync (the server still answers:
        what stops a whole tree stops every cell's loops first, so no
        loop waits out a call to a cell already stopped)."""
        for loop in self._loops:
            loop.stop()

    def stop(self):
        self.stop_loops()
        self._server.stop()

    def wait(self):
        self._server.wait()

    # --- the tree --------------------------------------------------------------

    def refresh_tree(self):
        with indirection.serving_locally():
            cells = tree.list_cells(self.context)
        parents = [c for c in cells if c.role == tree.PARENT]
        with self._lock:
            parent = parents[0] if parents else None
            if parent != self._parent:
                self._parent_path = None   # a new parent: ask again
            self._parent = parent
        self.neighbours.set_tree(cells)

    @property
    def parent(self):
        """This cell's parent row (None at the top)."""
        return self._parent

    @property
    def is_top(self):
        return self._parent is None

    @property
    def path(self):
        """This cell's path; None while a child has not yet heard it."""
        if self._parent is None:
            return self.name
        parent_path = self._parent_path
        return None if parent_path is None else tree.path(
            *tree.split(parent_path), self.name)

    def told_path(self, path):
        """The path a parent forwarding to this cell knows it by (the
        parent is the authority on its own path)."""
        names = tree.split(path)
        if self._parent is not None and len(names) > 1 and \
                names[-1].casefold() == self.name.casefold():
            self._parent_path = tree.path(*names[:-1])

    def learn_path(self):
        """Ask the parent its path, once (None when it does not answer:
        next broadcast asks again)."""
        if self._parent is None or self._parent_path is not None:
            return self.path
        try:
            # asked again every broadcast: wait no longer than one
            self._parent_path = self.parent_api().path(
                self.context, timeout=min(self.conf.cells.call_timeout,
                                          self.conf.cells.broadcast_interval))
        except Exception as exc:   # noqa: BLE001 - any bus failure
            LOG.warning("parent cell %s did not say its path: %s",
                        self._parent.name, exc)
            return None
        return self.path

    # --- clients ----------------------------------------------------------------

    def api_of(self, url):
        """The cells client for ``url`` (one per URL, kept)."""
        with self._lock:
            client = self._clients.get(url)
            if client is None:
                client = self._clients[url] = rpcapi.CellsAPI(self.conf, url)
            return client

    def parent_api(self):
        parent = self._parent
        return None if parent is None else self.api_of(parent.transport_url)

    def child_api(self, name):
        child = self.neighbours.child(name)
        return None if child is None else self.api_of(child.cell.transport_url)

    def conductor(self, timeout):
        """This cell's conductors (its own bus), waiting ``timeout`` s."""
        return conductor_rpcapi.ComputeTaskAPI(self.conf, timeout=timeout)

    # --- the broadcast ----------------------------------------------------------

    def refresh_own_capacity(self):
        """This cell's own nodes' capacity, from a scheduler's table of
        them (read whole once, then only what changed)."""
        from hoststate.scheduler import host_manager   # heavy: when used
        with indirection.serving_locally():
            if self._hosts is None:
                self._hosts = host_manager.HostManager(
                    self.context, conf=self.conf).load()
            else:
                self._hosts.refresh()
            self.own_capacity = cell_capacity.report_from_conf(
                self._hosts.table, self.conf)
        return self.own_capacity

    def subtree_report(self):
        """(capabilities, capacity) of this cell and its children that
        are up: what it sends up."""
        reports = self.neighbours.up_reports()
        return (cell_capabilities.merge(
                    self.capabilities, *(caps for caps, _ in reports)),
                cell_capacity.merge(
                    [self.own_capacity, *(cap for _, cap in reports)]))

    def capacities(self):
        """[rows.CellCapacity]: this cell's own nodes, each child's last
        report (its state and age), and the subtree's sum it sends up:
        what the cell choice here works from (``hoststate
        cell-capacities``; Nova's cells had ``cell-capacities`` too)."""
        path = self.path or self.name
        found = [rows.CellCapacity.of(path, rows.OWN, rows.UP, None,
                                      self.own_capacity)]
        for child in self.neighbours.children():
            state, age = self.neighbours.state_of(child)
            found.append(rows.CellCapacity.of(
                child.path or tree.path(path, child.cell.name), rows.CHILD,
                state, age, child.capacity))
        _, subtree = self.subtree_report()
        found.append(rows.CellCapacity.of(path, rows.SUBTREE, rows.UP, None,
                                          subtree))
        return found

    def broadcast_once(self):
        self.refresh_tree()
        self.refresh_own_capacity()
        if self._parent is None or self.learn_path() is None:
            return
        caps, capacity = self.subtree_report()
        self.parent_api().report_state(
            self.context, path=self.path,
            capabilities=cell_capabilities.to_primitive(caps),
            capacity=capacity.to_primitive())

    def heard(self, path, capabilities, capacity):
        """A child's broadcast; one from a cell that is not a child here
        (removed, or a stranger on the bus) is logged and dropped."""
        names = tree.split(path)
        if self.path is not None and tree.path(*names[:-1]) != self.path:
            LOG.warning("dropped a broadcast of cell %s: not a child of %s",
                        path, self.path)
            return
        if not self.neighbours.heard(names[-1], path, capabilities,
                                     capacity):
            LOG.warning("dropped a broadcast of cell %s: no child of that "
                        "name in this cell's table", path)

    # --- choosing ---------------------------------------------------------------

    def candidates(self):
        """The cells a build may go to: the children, and this cell when
        it has nodes of its own and is not the top (the top holds the API,
        not hosts: it would keep no record of what it built itself)."""
        found = self.neighbours.candidates(self.path or self.name)
        if self.own_capacity.nodes and not self.is_top:
            found.append(scheduling.CellCandidate(
                path=self.path or self.name, name=self.name, is_self=True,
                up=True, capabilities=self.capabilities,
                capacity=self.own_capacity))
        return found


    def choose(self, spec):
        """The ``CellChoice`` of this cell's candidates for ``spec`` (one
        method, so that what measures or traces a choice wraps it)."""
        return scheduling.choose(self.candidates(), spec, self.conf)


def make_service(conf, context, views=None):
    """The cells service of ``context``'s cell (not started)."""
    return CellsService(conf, context, views=views)
