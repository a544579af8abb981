"""The scheduler's claim: a node's resources taken in the database, atomically.

Nova claims in Placement; hoststate has no Placement, so the scheduler
claims on the compute node row itself, with the checks the compute
tracker uses (``hardware.capacity``: cpu, memory and disk against total ×
ratio − used, no instance larger than its node; then the NUMA fit and PCI
pools of ``hardware.consumption``). One transaction writes

* the node's new usage, as a compare-and-swap on its generation,
* the ledger row that records what the instance holds there (the exact
  NUMA cells, pinned cpus and PCI devices included), and
* the instance row, placed on that node (created if the caller has not
  stored it yet),

so any number of schedulers in parallel never commit a node beyond its
capacity (a lost compare-and-swap re-reads the node and checks again),
the node's counters stay reserved + the sum of its ledger, and giving the
claim back (``release``) returns exactly what the row says.

The usual claim is three statements: when the scheduler's table holds the
node at the generation the database has (``Seen``), the table's copy is
the node, the capacity rule was checked on it, and the claim is one
compare-and-swap UPDATE on that generation (counters added in SQL), the
ledger insert and the instance insert. Only a node that moved since, or
an instance with NUMA or PCI needs, is read first.
"""
import contextlib
import dataclasses
import logging

import sqlalchemy as sa
from oslo_serialization import jsonutils

from hoststate import exception
from hoststate.db import api as db_api
from hoststate.db import ledger as db_ledger
from hoststate.db import schema
from hoststate.hardware import capacity
from hoststate.hardware import consumption as cons
from hoststate.hardware import node_stats
from hoststate.hardware import usage as hw_usage
from hoststate.objects import compute_node as cn_obj
from hoststate.objects import fields as obj_fields
from hoststate.objects import instance as instance_obj
from hoststate.objects import states
from hoststate.scheduler import nodes as nodes_mod

LOG = logging.getLogger(__name__)

#: Compare-and-swap attempts on one node before giving it up as contended.
CLAIM_RETRIES = 8


@dataclasses.dataclass(frozen=True)
class Seen:
    """A node as the scheduler's table holds it: its generation and the
    text of its stats. A claim that finds the node still at this
    generation needs not read it."""

    generation: int
    stats: str | None


def instance_for(request, instance_uuid):
    """The instance row a claim stores, built from the request.

    The instance shares the request's Flavor (no copy: the instance only
    serializes it, and a deep copy cost a quarter of a claim)."""
    spec = request.spec
    image = request.image
    instance = instance_obj.Instance(
        uuid=instance_uuid, project_id=spec.obj_get("project_id"),
        user_id=spec.obj_get("user_id"), vm_state=states.BUILDING,
        task_state=None, flavor=spec.flavor,
        instance_type_id=spec.flavor.obj_get("id"),
        vcpus=spec.flavor.vcpus, memory_mb=spec.flavor.memory_mb,
        root_gb=spec.flavor.root_gb, ephemeral_gb=spec.flavor.ephemeral_gb,
        image_ref=(image.obj_get("id") if image is not None else None),
        os_type=request.image_props.get("os_type"),
        availability_zone=spec.obj_get("availability_zone"),
        pci_requests=request.pci_requests)
    return instance


class Unplaced:
    """The instance a claim places, as the row it stores.

    Built once per request (``of``): the instance's columns, with the
    flavor and PCI requests serialized once (the flavor's text cost as
    much as the rest of a claim), and what it takes; each claim copies
    the row with its own uuid and node. The columns are those
    ``instance_for``'s Instance stores (a test holds the two equal),
    without building one. Reads like an instance where the node's stats
    need one."""

    def __init__(self, request):
        spec, image = request.spec, request.image
        flavor = spec.flavor
        self.columns = {
            "project_id": spec.obj_get("project_id"),
            "user_id": spec.obj_get("user_id"),
            "vm_state": states.BUILDING, "task_state": None,
            "flavor": obj_fields.dump_json(flavor),
            "instance_type_id": flavor.obj_get("id"),
            "vcpus": flavor.vcpus, "memory_mb": flavor.memory_mb,
            "root_gb": flavor.root_gb, "ephemeral_gb": flavor.ephemeral_gb,
            "image_ref": image.obj_get("id") if image is not None else None,
            "os_type": request.image_props.get("os_type"),
            "availability_zone": spec.obj_get("availability_zone"),
            "pci_requests": None if request.pci_requests is None else
            obj_fields.dump_json(request.pci_requests),
        }
        self.wanted = cons.Consumption.of(
            flavor, hw_usage.is_boot_from_volume(self.columns),
            pci_requests=request.pci_requests)
        self.vm_state = states.BUILDING

    @classmethod
    def of(cls, request):
        unplaced = getattr(request, "_unplaced", None)
        if unplaced is None:
            unplaced = request._unplaced = cls(request)
        return unplaced

    def obj_get(self, name, default=None):
        value = self.columns.get(name)
        return default if value is None else value

    def row(self, instance_uuid, node_row, numa_topology=None):
        """The row of instance ``instance_uuid`` placed on ``node_row``."""
        values = dict(self.columns, uuid=instance_uuid,
                      host=node_row["host"],
                      node=node_row["hypervisor_hostname"],
                      compute_id=node_row["id"],
                      launched_on=node_row["host"])
        if numa_topology is not None:
            values["numa_topology"] = obj_fields.dump_json(numa_topology)
        return values


_PLACEHOLDER = "00000000-0000-4000-8000-000000000000"


def claim(context, node_id, request, instance_uuid, seen=None):
    """Claim ``request``'s resources on node ``node_id`` for the instance.

    ``seen`` (a Seen) is the node as the caller's table holds it, checked
    there by the capacity rule. Returns the node row as stored after the
    claim. Raises ClaimRejected when the node, as it really is now,
    cannot take the instance (or is gone, or stays contended for
    CLAIM_RETRIES attempts).
    """
    for attempt in range(CLAIM_RETRIES):
        try:
            # read, check and write on one connection: one checkout, one
            # transaction (the compare-and-swap, not the transaction,
            # is what makes it safe)
            with db_api.transaction(context) as conn:
                return _claim_on(conn, context, node_id, request,
                                 instance_uuid, seen=None if attempt
                                 else seen)
        except exception.GenerationConflict:
            continue
        except exception.NotFound:
            raise exception.ClaimRejected(
                node=str(node_id), reasons=["the node was deleted"]) from None
        except sa.exc.DBAPIError as exc:
            if not exc.connection_invalidated:
                raise
            # a pooled connection the server closed (a scheduler's engine
            # needs no pre-ping round trip before every claim): the pool
            # is refilled, and the claim, which wrote nothing, runs again
            LOG.info("claim on node %s: connection lost, trying again",
                     node_id)
    raise exception.ClaimRejected(
        node=str(node_id), reasons=[f"still contended after {CLAIM_RETRIES} "
                                    "attempts"])


def _needs_devices(wanted, request):
    return wanted.numa_topology is not None or \
        request.numa_request is not None or cons._has_pci(wanted.pci_requests)


def _claim_on(conn, context, node_id, request, instance_uuid, lock=False,
              seen=None):
    """Fit, count and write one claim; the node row as now stored."""
    instance = Unplaced.of(request)
    wanted = instance.wanted
    if seen is not None and not _needs_devices(wanted, request):
        return _claim_as_seen(conn, node_id, wanted, instance, instance_uuid,
                              seen)
    rows = db_api.select_rows(conn, schema.compute_nodes, where=(
        schema.compute_nodes.c.id == node_id,), for_update=lock)
    if not rows:
        raise exception.ClaimRejected(node=str(node_id),
                                      reasons=["the node was deleted"])
    read = rows[0]
    if not _needs_devices(wanted, request):
        return _scalar_claim(conn, read, wanted, request, instance,
                             instance_uuid)
    node = cn_obj.ComputeNode._from_db_object(
        context, cn_obj.ComputeNode(context), read, conf=request.conf)
    fitted, shortfalls = cons.fit(node, wanted, request.numa_request)
    if shortfalls:
        raise exception.ClaimRejected(node=node.hypervisor_hostname,
                                      reasons=shortfalls)
    cons.apply(node, fitted, 1)
    node_stats.apply_stats(node, instance, 1)
    node_values = node._column_values(node.obj_what_changed() - {"uuid"})
    db_api.cas_update(conn, schema.compute_nodes, node.id, node.generation,
                      node_values, read_back=False)
    _record(conn, fitted, instance, instance_uuid, read)
    # what is stored now: the row read plus what was written (no read back)
    stored = dict(read)
    stored.update(node_values)
    stored["generation"] = read["generation"] + 1
    return stored


def _scalar_claim(conn, read, wanted, request, instance, instance_uuid):
    """The claim of an instance with no NUMA or PCI needs on the node row
    as read: the same check (``capacity.node_shortfalls``, unset ratios
    resolved from the scheduler's ``conf``) and the same arithmetic
    (``consumption.counters_after``) as the object path, without building
    a ComputeNode (which costs more than the rest of the claim together)."""
    shortfalls = capacity.node_shortfalls(read, wanted, request.conf)
    if shortfalls:
        raise exception.ClaimRejected(node=read["hypervisor_hostname"],
                                      reasons=shortfalls)
    values = cons.counters_after(read, wanted.vcpus, wanted.memory_mb,
                                 wanted.disk_gb)
    values.update(_stats_values(read["stats"], instance))
    db_api.cas_update(conn, schema.compute_nodes, read["id"],
                      read["generation"], values, read_back=False)
    _record(conn, wanted, instance, instance_uuid, read)
    stored = dict(read)
    stored.update(values)
    stored["generation"] = read["generation"] + 1
    return stored


def _stats_values(stats_text, instance):
    """The stats, running_vms and current_workload columns with the
    instance counted in."""
    stats = node_stats.stats_with(
        jsonutils.loads(stats_text) if stats_text else {}, instance, 1)
    return {"stats": jsonutils.dumps(stats, sort_keys=True),
            "running_vms": int(stats["num_instances"]),
            "current_workload": int(stats["io_workload"])}


def _claim_as_seen(conn, node_id, wanted, instance, instance_uuid, seen):
    """The claim on a node still at ``seen.generation``: one UPDATE adds
    the counters in SQL (the caller checked the capacity rule on this
    very generation); GenerationConflict if the node moved."""
    nodes = schema.compute_nodes
    params = dict(_stats_values(seen.stats, instance), _id=node_id,
                  _generation=seen.generation, _vcpus=int(wanted.vcpus),
                  _memory_mb=int(wanted.memory_mb),
                  _disk_gb=int(wanted.disk_gb))
    if conn.dialect.update_returning:
        stored = conn.execute(_seen_update(returning=True), params).first()
    elif conn.execute(_seen_update(returning=False), params).rowcount == 1:
        # MariaDB has no UPDATE ... RETURNING
        stored = conn.execute(sa.select(
            *(nodes.c[name] for name in nodes_mod.NODE_COLUMNS),
            nodes.c.deleted).where(nodes.c.id == node_id)).first()
    else:
        stored = None
    if stored is None:
        raise exception.GenerationConflict(
            table="compute_nodes", row_id=node_id,
            seen_generation=seen.generation)
    stored = stored._mapping
    _record(conn, wanted, instance, instance_uuid, stored)
    return stored


_SEEN_UPDATES = {}


def _seen_update(returning):
    """The claim's UPDATE, built once (values are bound parameters).

    Counters are added in SQL, free ones first: MySQL evaluates
    assignments left to right, with the new value of a column assigned
    before it; the other dialects with the old. Ordered so, both give free
    = total - (used + wanted)."""
    query = _SEEN_UPDATES.get(returning)
    if query is None:
        c = schema.compute_nodes.c
        amount = {name: sa.bindparam(f"_{name}", type_=sa.Integer)
                  for name in ("vcpus", "memory_mb", "disk_gb")}
        query = (sa.update(schema.compute_nodes)
                 .where(c.id == sa.bindparam("_id"), c.deleted == 0,
                        c.generation == sa.bindparam("_generation"))
                 .ordered_values(
                     (c.free_ram_mb, c.memory_mb - c.memory_mb_used -
                      amount["memory_mb"]),
                     (c.free_disk_gb, c.local_gb - c.local_gb_used -
                      amount["disk_gb"]),
                     (c.vcpus_used, c.vcpus_used + amount["vcpus"]),
                     (c.memory_mb_used, c.memory_mb_used +
                      amount["memory_mb"]),
                     (c.local_gb_used, c.local_gb_used + amount["disk_gb"]),
                     (c.stats, sa.bindparam("stats")),
                     (c.running_vms, sa.bindparam("running_vms")),
                     (c.current_workload, sa.bindparam("current_workload")),
                     (c.generation, c.generation + 1),
                     (c.updated_at, db_api.server_utcnow())))
        if returning:
            # what the scheduler's table reads of a node, no more
            query = query.returning(*(c[name] for name in
                                      nodes_mod.NODE_COLUMNS), c.deleted)
        _SEEN_UPDATES[returning] = query
    return query


def _record(conn, fitted, instance, instance_uuid, node_row):
    """The ledger row and the placed instance row of a claim."""
    db_ledger.insert(conn, [fitted.ledger_row(instance_uuid, instance_uuid,
                                              node_row["id"])])
    _place_instance(conn, instance.row(instance_uuid, node_row,
                                       fitted.numa_topology), node_row)


def _place_instance(conn, values, node_row):
    table = schema.instances
    if db_api.insert_if_absent(conn, table, values):
        return                  # the usual case: a new instance
    instance_uuid = values["uuid"]
    stored = db_api.select_rows(conn, table, where=(
        table.c.uuid == instance_uuid,))
    name = node_row["hypervisor_hostname"]
    if not stored:
        raise exception.ClaimRejected(
            node=name, reasons=[f"instance {instance_uuid} was deleted"])
    existing = stored[0]
    if existing["host"] is not None:
        raise exception.ClaimRejected(
            node=name, reasons=[f"instance {instance_uuid} is already "
                                f"placed on {existing['host']}/"
                                f"{existing['node']}"])
    placement = {k: values[k] for k in (
        "host", "node", "compute_id", "launched_on", "numa_topology")
        if k in values}
    db_api.update_row(conn, table, existing["id"], placement)


#: What a claim sets on an instance row, as it was before (a scheduler
#: only claims unplaced instances).
_UNPLACED = {"host": None, "node": None, "compute_id": None,
             "launched_on": None, "numa_topology": None}


def release(context, node_id, instance_uuid):
    """Give back a claim this scheduler made (the request failed later):
    exactly what the instance's ledger rows on the node hold, in one
    transaction with the node's counters and the instance row, which is
    unplaced. Returns the node row as stored, or None when the ledger
    holds nothing for the instance there."""
    for _ in range(CLAIM_RETRIES):
        try:
            with db_api.transaction(context) as conn:
                return _release_on(conn, context, node_id, instance_uuid)
        except exception.GenerationConflict:
            continue
    raise exception.GenerationConflict(
        table="compute_nodes", row_id=node_id, seen_generation=-1)


def _release_on(conn, context, node_id, instance_uuid):
    held_rows = [row for row in db_ledger.rows_of(conn, node_id)
                 if row["instance_uuid"] == instance_uuid]
    if not held_rows:
        return None
    node = cn_obj.ComputeNode._from_db_object(
        context, cn_obj.ComputeNode(context), db_api.select_one(
            conn, schema.compute_nodes, exception.ComputeNodeNotFound(
                key=node_id), id=node_id))
    instances = db_api.select_rows(conn, schema.instances,
                                   uuid=instance_uuid)
    for row in held_rows:
        cons.apply(node, cons.Consumption.held(row), -1)
    if instances and instances[0]["compute_id"] == node_id:
        instance = instance_obj.Instance._from_db_object(
            context, instance_obj.Instance(context), instances[0])
        node_stats.apply_stats(node, instance, -1)
        db_api.update_row(conn, schema.instances, instance.id,
                          dict(_UNPLACED))
    node_values = node._column_values(node.obj_what_changed() - {"uuid"})
    row = db_api.cas_update(conn, schema.compute_nodes, node.id,
                            node.generation, node_values)
    db_ledger.delete(conn, held_rows)
    return row


class Deadlocked(exception.HoststateError):
    """The database aborted a request's claims to break a deadlock with
    another writer (or they waited too long for a row lock); nothing of
    them was kept, and the whole request may be tried again."""

    msg_fmt = "claims on %(node)s deadlocked with another writer: %(reason)s"


class ClaimSession:
    """Where the claims of one request are written.

    A request for one instance claims in a transaction of its own, as
    ``claim`` does: nothing is written unless the claim succeeds. A
    request for several (``together=True``) claims every instance in one
    transaction per cell database, committed when all are placed and
    rolled back otherwise, so a request that fails part-way leaves every
    table as it was, generations and timestamps included, and no other
    reader ever sees half a request. Its node rows are read with a row
    lock, so its claims wait for other writers instead of losing to them;
    two such requests locking nodes in opposite orders deadlock, the
    database aborts one, and ``claim`` raises Deadlocked (the scheduler
    then tries the whole request again). Each claim runs in a savepoint: a
    claim rejected half-way (the instance already placed) undoes only
    itself.

    A context manager: leaving it without an exception commits.
    """

    def __init__(self, together=False):
        self.together = together
        self._stack = contextlib.ExitStack()
        self._connections = {}

    def __enter__(self):
        return self

    def __exit__(self, kind, value, traceback):
        return self._stack.__exit__(kind, value, traceback)

    def claim(self, context, node_id, request, instance_uuid, seen=None):
        """Claim on node ``node_id``; the node row as stored after it (in
        this session). Raises ClaimRejected or Deadlocked. ``seen`` is
        used by a claim of its own transaction only (a shared one locks
        and reads its nodes)."""
        if not self.together:
            return claim(context, node_id, request, instance_uuid, seen)
        conn = self._connection(context)
        try:
            with conn.begin_nested():
                return _claim_on(conn, context, node_id, request,
                                 instance_uuid, lock=True)
        except (exception.GenerationConflict, exception.NotFound):
            raise exception.ClaimRejected(
                node=str(node_id), reasons=["the node changed or was "
                                            "deleted under a row lock"])
        except sa.exc.DBAPIError as exc:
            victim = _deadlock_in(exc)
            if victim is not None:
                raise Deadlocked(node=str(node_id),
                                 reason=str(victim.orig).strip()
                                 .splitlines()[0]) from None
            raise

    def read_node(self, context, node_id):
        """The node's row as this session sees it (its own claims
        included), or None outside a shared transaction."""
        conn = self._connections.get(id(db_api.engine_of(context)))
        if conn is None:
            return None
        rows = db_api.select_rows(conn, schema.compute_nodes, where=(
            schema.compute_nodes.c.id == node_id,), read_deleted="yes")
        return rows[0] if rows else None

    def _connection(self, context):
        engine = db_api.engine_of(context)
        conn = self._connections.get(id(engine))
        if conn is None:
            conn = self._stack.enter_context(engine.connect())
            conn.execution_options(**{db_api.WRITE_INTENT: True})
            self._stack.enter_context(_named_errors())
            self._stack.enter_context(conn.begin())
            self._connections[id(engine)] = conn
        return conn


def _deadlock_in(exc):
    """The deadlock error behind ``exc``, if any: MySQL rolls the whole
    transaction back on a deadlock, so undoing the savepoint fails next
    and that error is the one raised, with the deadlock as its context."""
    while exc is not None:
        if db_api.is_deadlock(exc):
            return exc
        exc = exc.__context__
    return None


@contextlib.contextmanager
def _named_errors():
    """Integrity errors at commit as the named errors db_api raises."""
    try:
        yield
    except sa.exc.IntegrityError as exc:
        raise db_api.named_integrity_error(exc) from exc
