"""How requests travel the tree: builds down to the cell that makes
them, instance changes up to the top, deletes down to the owner, and
listings gathered from every cell.

**Builds.** A cell ranks the candidates (its children, and itself when
it has nodes: :func:`hoststate.cells.scheduling.choose`) and tries them
best first: itself through its own conductors (whose scheduler picks the
host), a child by forwarding the build to that child's cells service,
which does the same below. A cell that answers NoValidHost, or does not
answer in time, is followed by the next; when none can, the build fails
with the reason of every cell tried and every cell filtered out.

Time: a build gets ``[cells] call_timeout`` in all from the top. Each
cell keeps ``ANSWER_SHARE`` of what it was given for its tries and
passes on what remains, so a cell below answers (NoValidHost, or its
own timeout) before the cell above stops waiting. A request also carries
the wall-clock time after which nobody waits for it; a cell that gets it
later (its service was down while the message waited in its queue)
drops it unanswered instead of building what nobody will see.

**One cell per instance.** The top records which child it handed each
instance to before it forwards (:mod:`hoststate.cells.instance_store`),
and moves the record to the next child only while the first has not
reported the instance. A child that timed out may still build it late;
its report then conflicts with the record, and the top sends it a
delete: the instance ends in exactly one cell.
"""
import concurrent.futures
import logging
import time

import oslo_messaging as messaging

from hoststate import exception
from hoststate.cells import instance_store
from hoststate.cells import neighbours
from hoststate.cells import rows as cell_rows
from hoststate.cells import tree
from hoststate.db import api as db_api
from hoststate.db import instance_faults
from hoststate.db import schema
from hoststate.objects import indirection

LOG = logging.getLogger(__name__)

#: of the time a cell is given, the share it uses; the rest is left for
#: its answer to travel back before its caller stops waiting
ANSWER_SHARE = 0.9
#: of what is left, the share a try gets while other cells remain to be
#: tried (a cell that does not answer leaves time for the next)
TRY_SHARE = 0.5
#: a cell with less than this left does not start another try
MIN_TRY_S = 0.2
#: what a failed build's fault at the top says
NO_CELL = "no cell could build it"
#: the kinds of listing a cell answers (views), and what each row is
VIEW_KINDS = ("hosts", "services", "hypervisors", "hypervisor-stats")


def check_hops(conf, hops):
    if hops > conf.cells.max_hop_count:
        raise exception.CellHopLimit(hops=hops,
                                     limit=conf.cells.max_hop_count)


def qualified(path, host):
    """``path@host``: a host as the top shows it (None stays None)."""
    return None if host is None else f"{path}{tree.ITEM_SEPARATOR}{host}"


# --- builds ----------------------------------------------------------------------

def build(service, context, spec, uuids, hops, budget_s, expires_at):
    """[[uuid, qualified host, node]] of the build, made by the best
    cell that can. When none can: NoValidHost with every cell's reason,
    or, below the top, CellBuildTimedOut when a cell tried did not
    answer (it may still build: its caller must not forget it)."""
    conf = service.conf
    if expires_at is not None and time.time() > expires_at:
        raise exception.CellRequestExpired(name=service.name,
                                           late=round(time.time()
                                                      - expires_at, 1))
    check_hops(conf, hops)
    deadline = time.monotonic() + ANSWER_SHARE * (
        conf.cells.call_timeout if budget_s is None else budget_s)
    choice = service.choose(spec)
    reasons = [f"{path}: {why}" for path, why in choice.rejected.items()]
    owner, unanswered = None, False
    for left, cell in enumerate(choice.ranked, 1):
        remaining = deadline - time.monotonic()
        if remaining < MIN_TRY_S:
            reasons.append(f"{cell.path}: not tried, no time left")
            continue
        if left < len(choice.ranked):   # leave time for the next cells
            remaining *= TRY_SHARE
        if service.is_top:
            placed = _hand_to(service, spec, uuids, owner, cell.path)
            if placed is not None:      # the previous cell built them late
                return placed
        owner = cell.path
        try:
            placed = _build_in(service, context, cell, spec, uuids, hops,
                               remaining)
            if not cell.is_self:
                service.neighbours.consume(cell.name, choice.request,
                                           len(uuids))
            return placed
        except exception.NoValidHost as exc:
            reasons.append(f"{cell.path}: {_reason(exc)}")
        except (messaging.MessagingTimeout,
                exception.CellBuildTimedOut) as exc:
            reasons.append(f"{cell.path}: " + (
                _reason(exc) if isinstance(exc, exception.HoststateError)
                else f"no answer within {remaining:.1f} s"))
            unanswered = True
    _failed(service, uuids, owner, unanswered, reasons)
    reason = f"{NO_CELL}: " + ("; ".join(reasons) or "no cell")
    if unanswered and not service.is_top:
        raise exception.CellBuildTimedOut(reason=reason)
    raise exception.NoValidHost(reason=reason)


def _reason(exc):
    return exc.kwargs.get("reason") or exc.format_message()


def _build_in(service, context, cell, spec, uuids, hops, remaining):
    if cell.is_self:
        placed = service.conductor(remaining).schedule_and_build_instances(
            context, spec, uuids)
        return [[uuid, qualified(cell.path, host), node]
                for uuid, host, node in placed]
    api = service.child_api(cell.name)
    return api.build_instances(
        context, spec, uuids, path=cell.path, hops=hops + 1,
        budget_s=remaining, expires_at=time.time() + remaining)


def _hand_to(service, spec, uuids, owner, path):
    """Record (at the top) that cell ``path`` owns the build, taking it
    over from ``owner`` (the cell tried before, None for the first).
    None when done; the placement when ``owner`` reported the instances
    meanwhile (it built them after all: they stay there)."""
    ctx = service.context
    with indirection.serving_locally():
        if owner is None:
            _record(ctx, spec, uuids, path)
            return None
        if all(instance_store.move_forward(ctx, uuid, owner, path)
               for uuid in uuids):
            return None
        states = instance_states(service, uuids)
    LOG.warning("cell %s built %s after its answer was given up on; "
                "they stay there", owner, uuids)
    return [[uuid, states[uuid]["host"], states[uuid]["node"]]
            for uuid in uuids]


def _record(ctx, spec, uuids, path):
    """The top's records of a new build in cell ``path``: all, or none
    (an instance uuid the top knows already is refused, and the records
    made before it go)."""
    recorded = []
    for uuid in uuids:
        if not instance_store.record_forward(ctx, uuid, path, _sizes(spec),
                                             spec.project_id):
            for made in recorded:
                instance_store.drop_forward(ctx, made, path)
            raise exception.InvalidArgument(
                name="instance_uuids", value=uuid,
                reason="the top already knows an instance of this uuid")
        recorded.append(uuid)


def _sizes(spec):
    flavor = spec.flavor
    return {"vcpus": flavor.vcpus, "memory_mb": flavor.memory_mb,
            "root_gb": flavor.root_gb, "ephemeral_gb": flavor.ephemeral_gb}


def _failed(service, uuids, owner, unanswered, reasons):
    """At the top, once every cell failed: when a cell tried did not
    answer (it may still build), the records stay, owned by no cell,
    in ERROR with a fault, so a late report is refused and its instance
    deleted; when the last one said no, nothing was built and the
    records go (the tables as they were)."""
    if not service.is_top or owner is None:
        return
    ctx = service.context
    with indirection.serving_locally():
        for uuid in uuids:
            if not unanswered:
                instance_store.drop_forward(ctx, uuid, owner)
                continue
            instance_store.forward_failed(ctx, uuid)
            with db_api.transaction(ctx) as conn:
                instance_faults.record(conn, uuid, NO_CELL, reasons)


# --- instances ---------------------------------------------------------------------

def sync_up(service, path, rows):
    """Instance changes of cell ``path``: relayed to the parent, or, at
    the top, stored; the uuids the top refused (another cell owns them)."""
    parent = service.parent_api()
    if parent is not None:
        return parent.sync_instances(service.context, path, rows)
    result = instance_store.apply_changes(service.context, path, rows)
    for uuid in result["conflicts"]:
        LOG.warning("cell %s reported instance %s, which another cell "
                    "holds; it is deleted there", path, uuid)
    return list(result["conflicts"])


def delete(service, context, uuid, owner, hops):
    """Delete instance ``uuid`` in the cell ``owner`` (found in the top's
    records when None); returns its node."""
    check_hops(service.conf, hops)
    ctx = service.context
    if owner is None:
        owner = instance_store.owner_of(ctx, uuid) if service.is_top \
            else service.path
        if owner is None:
            raise exception.InstanceNotFound(key=uuid)
    here = tree.split(service.path or service.name)
    names = tree.split(owner)
    if names == here:
        return service.conductor(service.conf.rpc_response_timeout) \
            .delete_instance(context, uuid)
    if names[:len(here)] != here:
        raise exception.CellNotFound(name=owner)
    child = tree.path(*names[:len(here) + 1])
    api = service.child_api(names[len(here)])
    if api is None:
        raise exception.CellNotFound(name=child)
    try:
        return api.delete_instance(ctx, uuid, owner=owner, hops=hops + 1)
    except messaging.MessagingTimeout:
        raise exception.CellNotAnswering(
            name=child, timeout=service.conf.cells.call_timeout,
            what=f"instance {uuid} is not deleted") from None


def instance_states(service, uuids):
    """{uuid: {vm_state, task_state, host, node, reasons}} from the top's
    records (hosts qualified by their cell's path)."""
    ctx = service.context
    table = schema.cell_instances
    with db_api.reading(ctx) as conn:
        rows = {row["uuid"]: row for row in db_api.select_rows(
            conn, table, read_deleted="yes",
            where=[table.c.uuid.in_(list(uuids))])}
    reasons = instance_faults.latest_reasons(ctx, list(uuids))
    return {uuid: _state_of(rows.get(uuid), reasons.get(uuid, []))
            for uuid in uuids}


def _state_of(row, reasons):
    if row is None:
        return {"vm_state": None, "task_state": None, "host": None,
                "node": None, "cell": None, "reasons": reasons}
    deleted = bool(row["deleted"])
    return {"vm_state": "deleted" if deleted else row["vm_state"],
            "task_state": row["task_state"],
            "host": qualified(row["cell_path"], row["host"]),
            "node": row["node"], "cell": row["cell_path"],
            "reasons": reasons}


# --- listings -------------------------------------------------------------------------

def view_budget(conf, budget_s=None):
    """Seconds a listing waits for each child: its share of the call's
    budget, and never longer than the silence after which the child
    would be marked down (a listing is a read: a child that died and is
    not yet marked down costs it that long at most, not ``call_timeout``;
    a live one answers in a fraction of a second)."""
    given = conf.cells.call_timeout if budget_s is None else budget_s
    return min(ANSWER_SHARE * given, neighbours.down_after_s(conf))


def view(service, context, kind, options, hops, budget_s):
    """[{path, state, rows[, warnings]}]: this cell's own rows (and what
    its listing warned of), then every cell below; a child that is down,
    or does not answer in time, is one entry with state ``down`` and no
    rows (never zeros). ``service.views(context, kind, options)`` gives
    a cell's own: {"rows": [...], "warnings": [...]}."""
    if kind not in VIEW_KINDS:
        raise exception.InvalidArgument(name="kind", value=kind,
                                        reason=f"one of {VIEW_KINDS}")
    check_hops(service.conf, hops)
    budget = view_budget(service.conf, budget_s)
    path = service.path or service.name
    with indirection.serving_locally():
        own = service.views(service.context, kind, options) \
            if service.views else {}
    found = [{"path": path, "state": cell_rows.UP,
              "rows": own.get("rows", []),
              "warnings": own.get("warnings", [])}]
    children = service.neighbours.children()
    up = [c for c in children if service.neighbours.is_up(c)]
    found += [{"path": c.path or tree.path(path, c.cell.name),
               "state": cell_rows.DOWN, "rows": []}
              for c in children if c not in up]
    if up:
        with concurrent.futures.ThreadPoolExecutor(len(up)) as pool:
            asked = [(c, pool.submit(_view_of, service, c, kind, options,
                                     hops, budget)) for c in up]
            for child, future in asked:
                found += future.result()
    return found


def _view_of(service, child, kind, options, hops, budget):
    path = child.path or tree.path(service.path or service.name,
                                   child.cell.name)
    try:
        return service.api_of(child.cell.transport_url).view(
            service.context, kind, options, path=path, hops=hops + 1,
            budget_s=budget)
    except messaging.MessagingTimeout:
        return [{"path": path, "state": cell_rows.DOWN, "rows": []}]
