"""``hoststate simulate --cells K``: a cells v1 tree in one process, a
stream of boots at its top, and what became of them.

The tree: a top cell ``api`` (no hosts: it holds the API) and K children
``cell1``..``cellK`` sharing ``--nodes`` between them, each its own SQLite
database in the run's scratch directory and its own bus
(:class:`cell_tree.Buses`). Once the top has heard every child, the
boots go to the top's cells service one after the other, one instance
each, as ``hoststate boot`` sends them; each is timed at the caller.
With ``kill_cells`` N, half-way through the stream N children's cells
services stop (their agents, scheduler and conductor go on, as when only
the cells service of a cell dies): the run records when the top marks
each down, and where the builds went meanwhile and after. At the end the
killed services start again, so every cell's instance sync can settle
before the invariants are checked (:mod:`cells_report`).

Where a build's time goes is read by wrappers this module installs for
the run and removes afterwards (:class:`cells_report.Probes`), without a change to
the cells code: the cell choice (``cells.scheduling.choose``, timed
where the top calls it), the forward to a child (the top's client call,
which includes all below it), the child's conductor call (its
scheduler's choice and the cast to the agent) and the agent's build.
"""
import dataclasses
import random
import shutil
import tempfile
import threading
import time
import uuid as uuid_lib

import oslo_messaging as messaging

from hoststate import context as hs_context
from hoststate import exception
from hoststate import rpc
from hoststate.cells import neighbours as neighbours_mod
from hoststate.cells import rpcapi as cells_rpcapi
from hoststate.objects import request_spec
from hoststate.simulation import cell_tree
from hoststate.simulation import cells_report
from hoststate.simulation import workload

TOP = "api"
#: the boots' flavors, in turn: the workload's plain flavors that fit a
#: node of NODE_SHAPE (pinned, GPU and the largest need hosts the fake
#: nodes of a cell do not model)
FLAVORS = ("m1.tiny", "m1.small", "m1.medium", "m1.large")
#: every node of a simulated cell: room for about 40 boots of the mix
NODE_SHAPE = dict(vcpus=32, memory_mb=131072, local_gb=2000)
#: nodes per simulated host (a host is an agent, with a server and its
#: threads: fewer of them keep a large tree within one process)
NODES_PER_HOST = 8
SETTLE_S = 30.0


@dataclasses.dataclass
class Options:
    cells: int
    nodes: int
    requests: int
    transport_url: str = "local://"
    seed: int = 0
    kill_cells: int = 0
    kill_at: float = 0.5
    #: boots sent per second (evenly spaced); 0: each as soon as the one
    #: before is answered (between two broadcasts the top takes what it
    #: sent from a child's last report: capacity.consumed)
    rate: float = 0.0
    config_files: tuple = ()


@dataclasses.dataclass
class Build:
    """One boot: where it went (the child's name) or why it failed."""

    index: int
    uuid: str
    seconds: float
    sent_at: float
    cell: str | None = None
    host: str | None = None
    reason: str | None = None


@dataclasses.dataclass
class Result:
    options: Options
    transport: str
    #: {cell: its bus URL, password hidden}
    buses: dict = dataclasses.field(default_factory=dict)
    builds: list = dataclasses.field(default_factory=list)
    setup_seconds: float = 0.0
    run_seconds: float = 0.0
    #: stage -> array of seconds (see Probes)
    stages: dict = dataclasses.field(default_factory=dict)
    victims: list = dataclasses.field(default_factory=list)
    killed_at: float | None = None
    #: victim -> seconds from the kill to the top marking it down (None:
    #: not within the wait)
    marked_down: dict = dataclasses.field(default_factory=dict)
    down_after_s: float = 0.0
    #: {cell: {uuid: vm_state}} of every child's database, at the end
    cell_instances: dict = dataclasses.field(default_factory=dict)
    #: {uuid: (cell name, vm_state)} the top lists at the end
    top_instances: dict = dataclasses.field(default_factory=dict)
    settled: bool = False
    cleanup_problems: list = dataclasses.field(default_factory=list)


#: at most this many nodes in a tree (an agent per NODES_PER_HOST of
#: them, all in this process: 128 agents at the bound)
MAX_NODES = 1024
#: options of the single-cell simulation that a tree does not take
_SINGLE_CELL_ONLY = (("kill_agents", "--kill-agents"),
                     ("database_url", "--database-url"),
                     ("prefill", "--prefill"),
                     ("servicegroup", "--servicegroup"),
                     ("plot", "--plot"),
                     ("keep_database", "--keep-database"))


def refused(values):
    """Why the command line's ``values`` (argparse's, as a dict) make no
    tree, in one line; None when they do."""
    cells = values.get("cells")
    if cells is None:
        given = [flag for key, flag in (("kill_cells", "--kill-cells"),
                                        ("rate", "--rate"))
                 if values.get(key)]
        return f"{given[0]} needs --cells" if given else None
    for key, flag in _SINGLE_CELL_ONLY:
        if values.get(key) not in (None, False, 0):
            return f"--cells cannot be combined with {flag}"
    if values.get("kill_cells", 0) > cells:
        return f"--kill-cells {values['kill_cells']} is more than --cells " \
               f"{cells}"
    nodes = values["nodes"]
    if nodes < cells:
        return f"--nodes {nodes} is fewer than --cells {cells}: each " \
               f"child cell needs a node"
    if nodes > MAX_NODES:
        return f"--nodes {nodes} is more than {MAX_NODES} with --cells"
    url = values.get("transport_url") or "local://"
    if url.split(":", 1)[0] not in ("local", "rabbit"):
        return f"--cells needs --transport-url local:// or rabbit://..., " \
               f"not {rpc.shown_url(url)!r}"
    return None


def require_bus(options):
    """BusUnavailable (one line) when a bus per cell cannot be made on
    the run's broker (rabbitmqctl missing), before anything runs."""
    cell_tree.Buses(options.transport_url, "check")


def run(options, progress=None):
    """Build the tree, send the stream, report what happened (a Result);
    everything made (threads, files, vhosts) is gone when it returns or
    raises."""
    progress = progress or (lambda done, total, placed, failed: None)
    run_id = f"hs-sim-{uuid_lib.uuid4().hex[:8]}"
    buses = cell_tree.Buses(options.transport_url, run_id)
    result = Result(options, rpc.shown_url(options.transport_url))
    scratch = tempfile.mkdtemp(prefix="hoststate-simulate-cells-")
    cells, probes = [], None
    try:
        started = time.monotonic()
        names = [TOP] + [f"cell{i}" for i in range(1, options.cells + 1)]
        result.buses = {name: rpc.shown_url(buses.url(name))
                        for name in names}
        buses.create(names)
        cells = _build_tree(options, buses, scratch, names)
        top, children = cells[0], cells[1:]
        result.down_after_s = neighbours_mod.down_after_s(top.conf)
        probes = cells_report.Probes(top, children)
        result.setup_seconds = time.monotonic() - started
        _Stream(options, top, children, result, progress).run()
        result.run_seconds = time.monotonic() - started - \
            result.setup_seconds
        _revive(children, result.victims)
        result.settled = cells_report.settle(top, children, result,
                                             SETTLE_S)
        result.stages = probes.timings
    finally:
        if probes is not None:
            probes.remove()
        cell_tree.stop_all(cells)
        rpc.cleanup()
        for cell in cells:
            cell.ctx.engine.dispose()
        result.cleanup_problems = buses.delete()
        shutil.rmtree(scratch, ignore_errors=True)
    return result


def layouts(cells, nodes):
    """The node count of each host of each child: ``nodes`` shared as
    evenly as they go (the first children one more), NODES_PER_HOST to a
    host."""
    shares = [nodes // cells + (i < nodes % cells) for i in range(cells)]
    return [[min(NODES_PER_HOST, share - start)
             for start in range(0, share, NODES_PER_HOST)]
            for share in shares]


def _build_tree(options, buses, scratch, names):
    """The cells, linked and started; returns once the top has heard
    every child (so the first boot may go to any)."""
    cells = [cell_tree.Cell(
        name, buses.url(name), cell_tree.sqlite_engine(scratch, name),
        layout=layout, node_shape=NODE_SHAPE,
        config_files=list(options.config_files))
        for name, layout in zip(names, [[]] + layouts(options.cells,
                                                       options.nodes))]
    top = cells[0]
    for child in cells[1:]:
        cell_tree.link(top, child)
    try:
        for cell in cells:      # side by side would share one SQLite lock
            cell.start()
        bound = 10 * neighbours_mod.down_after_s(top.conf) + 30
        cell_tree.wait_until(lambda: all(cell_tree.children_up(top)
                                         .values()),
                             "every child cell heard at the top", bound)
    except AssertionError as exc:
        cell_tree.stop_all(cells)
        raise exception.HoststateError(f"simulate --cells: {exc}") from None
    except BaseException:
        cell_tree.stop_all(cells)
        raise
    return cells


def spec_of(flavor, project="simulation"):
    return request_spec.RequestSpec.from_components(
        str(uuid_lib.uuid4()), flavor, image=dict(workload.IMAGE),
        scheduler_hints={}, num_instances=1, project_id=project)


class _Stream:
    """The boots, one after the other, at the top's cells service."""

    def __init__(self, options, top, children, result, progress):
        self.options = options
        self.top = top
        self.children = children
        self.result = result
        self.progress = progress
        self.api = cells_rpcapi.CellsAPI(top.conf)
        self.context = hs_context.get_admin_context(engine=None)
        self.pick = random.Random(options.seed)
        self.flavors = workload.flavors()
        self.watch = None

    def run(self):
        options = self.options
        kill_index = int(options.requests * options.kill_at) \
            if options.kill_cells else None
        placed = failed = 0
        try:
            start = time.monotonic()
            for index in range(options.requests):
                if options.rate:
                    _sleep_until(start + index / options.rate)
                if index == kill_index:
                    self._kill()
                build = self._boot(index)
                self.result.builds.append(build)
                placed += build.cell is not None
                failed += build.cell is None
                self.progress(index + 1, options.requests, placed, failed)
            if self.watch is not None:
                self.watch.join(self.result.down_after_s * 3 + 10)
        finally:
            if self.watch is not None:
                self.watch.stop.set()

    def _boot(self, index):
        name = self.pick.choice(FLAVORS)
        instance = str(uuid_lib.UUID(int=self.pick.getrandbits(128),
                                     version=4))
        spec = spec_of(self.flavors[name])
        sent = time.monotonic()
        try:
            [(_, host, _)] = self.api.schedule_and_build_instances(
                self.context, spec, [instance])
        except (exception.HoststateError, messaging.MessagingTimeout) as exc:
            return Build(index, instance, time.monotonic() - sent, sent,
                         reason=_reason(exc))
        path, _, _ = host.partition("@")
        return Build(index, instance, time.monotonic() - sent, sent,
                     cell=path.split("!")[-1], host=host)

    def _kill(self):
        names = [c.name for c in self.children]
        victims = sorted(random.Random(self.options.seed + 7).sample(
            names, self.options.kill_cells))
        self.result.victims = victims
        self.result.killed_at = time.monotonic()
        self.watch = _DownWatch(self.top, victims, self.result)
        self.watch.start()
        cell_tree.stop_cells_services([c for c in self.children
                                       if c.name in victims])


class _DownWatch(threading.Thread):
    """Records, for each victim, when the top first holds it down."""

    STEP_S = 0.02

    def __init__(self, top, victims, result):
        super().__init__(name="cells-down-watch", daemon=True)
        self.top = top
        self.left = set(victims)
        self.result = result
        self.stop = threading.Event()
        result.marked_down = {name: None for name in victims}

    def run(self):
        while self.left and not self.stop.wait(self.STEP_S):
            up = cell_tree.children_up(self.top)
            for name in [n for n in self.left if not up.get(n, True)]:
                self.result.marked_down[name] = \
                    time.monotonic() - self.result.killed_at
                self.left.discard(name)


def _sleep_until(moment):
    left = moment - time.monotonic()
    if left > 0:
        time.sleep(left)


def _reason(exc):
    if isinstance(exc, messaging.MessagingTimeout):
        return "no answer from the top within its call timeout"
    reason = exc.kwargs.get("reason") if isinstance(
        exc, exception.HoststateError) else None
    return reason or str(exc).splitlines()[0]


def _revive(children, victims):
    """The killed cells services again, so their instance sync settles."""
    for cell in children:
        if cell.name in victims and cell.service is None:
            cell.start_cells_service()
