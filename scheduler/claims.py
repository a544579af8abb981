"""The scheduler's claim: a node's resources taken in the database, atomically.

Nova claims in Placement; hoststate has no Placement, so the scheduler
claims on the compute node row itself, with the checks the compute
tracker uses (``hardware.capacity``: cpu, memory and disk against total ×
ratio − used, no instance larger than its node; then the NUMA fit and PCI
pools of ``hardware.consumption``). One
transaction writes both

* the node's new usage, as a compare-and-swap on its generation, and
* the instance row, placed on that node (created if the caller has not
  stored it yet),

so any number of schedulers in parallel never commit a node beyond its
capacity (a lost compare-and-swap re-reads the node and checks again) and
the compute tracker's periodic recount, which counts the instances placed
on its node, finds exactly the usage the claim wrote: nothing counted
twice, nothing lost.
"""
import contextlib
import logging

import sqlalchemy as sa
from oslo_serialization import jsonutils

from hoststate import exception
from hoststate.db import api as db_api
from hoststate.db import schema
from hoststate.hardware import capacity
from hoststate.hardware import consumption as cons
from hoststate.hardware import node_stats
from hoststate.hardware import usage as hw_usage
from hoststate.objects import compute_node as cn_obj
from hoststate.objects import instance as instance_obj
from hoststate.objects import states

LOG = logging.getLogger(__name__)

#: Compare-and-swap attempts on one node before giving it up as contended.
CLAIM_RETRIES = 8


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


def claim(context, node_id, request, instance_uuid):
    """Claim ``request``'s resources on node ``node_id`` for the instance.

    Returns the node row as stored after the claim. Raises ClaimRejected
    when the node, as it really is now, cannot take the instance (or is
    gone, or stays contended for CLAIM_RETRIES attempts).
    """
    instance = instance_for(request, instance_uuid)
    wanted = cons.Consumption.of(
        instance.flavor, hw_usage.is_boot_from_volume(instance),
        pci_requests=request.pci_requests)
    for _ in range(CLAIM_RETRIES):
        try:
            # read, check and write on one connection: one checkout, one
            # transaction (the compare-and-swap, not the transaction,
            # is what makes it safe)
            with db_api.transaction(context) as conn:
                return _claim_on(conn, context, node_id, wanted, request,
                                 instance)
        except exception.GenerationConflict:
            continue
        except exception.NotFound:
            raise exception.ClaimRejected(
                node=str(node_id), reasons=["the node was deleted"]) from None
    raise exception.ClaimRejected(
        node=str(node_id), reasons=[f"still contended after {CLAIM_RETRIES} "
                                    "attempts"])


def _claim_on(conn, context, node_id, wanted, request, instance,
              lock=False):
    """Fit, count and write one claim; the node row as now stored."""
    rows = db_api.select_rows(conn, schema.compute_nodes, where=(
        schema.compute_nodes.c.id == node_id,), for_update=lock)
    if not rows:
        raise exception.ClaimRejected(node=str(node_id),
                                      reasons=["the node was deleted"])
    read = rows[0]
    if wanted.numa_topology is None and request.numa_request is None and \
            not cons._has_pci(wanted.pci_requests):
        return _scalar_claim(conn, read, wanted, instance, request.conf)
    node = cn_obj.ComputeNode._from_db_object(
        context, cn_obj.ComputeNode(context), read, conf=request.conf)
    fitted, shortfalls = cons.fit(node, wanted, request.numa_request)
    if shortfalls:
        raise exception.ClaimRejected(node=node.hypervisor_hostname,
                                      reasons=shortfalls)
    instance.numa_topology = fitted.numa_topology
    cons.apply(node, fitted, 1)
    node_stats.apply_stats(node, instance, 1)
    node_values = node._column_values(node.obj_what_changed() - {"uuid"})
    db_api.cas_update(conn, schema.compute_nodes, node.id, node.generation,
                      node_values, read_back=False)
    _place_instance(conn, instance, node)
    # what is stored now: the row read plus what was written (no read back)
    stored = dict(read)
    stored.update(node_values)
    stored["generation"] = read["generation"] + 1
    return stored


def _scalar_claim(conn, read, wanted, instance, conf):
    """The claim of an instance with no NUMA or PCI needs, on the plain
    row: the same check (``capacity.node_shortfalls``, unset ratios
    resolved from the scheduler's ``conf``) and the same arithmetic
    (``consumption.counters_after``) as the object path, without building
    a ComputeNode (which costs more than the rest of the claim together)."""
    shortfalls = capacity.node_shortfalls(read, wanted, conf)
    if shortfalls:
        raise exception.ClaimRejected(node=read["hypervisor_hostname"],
                                      reasons=shortfalls)
    stats = node_stats.stats_with(
        jsonutils.loads(read["stats"]) if read["stats"] else {}, instance, 1)
    values = cons.counters_after(read, wanted.vcpus, wanted.memory_mb,
                                 wanted.disk_gb)
    values.update({
        "stats": jsonutils.dumps(stats, sort_keys=True),
        "running_vms": int(stats["num_instances"]),
        "current_workload": int(stats["io_workload"]),
    })
    db_api.cas_update(conn, schema.compute_nodes, read["id"],
                      read["generation"], values, read_back=False)
    instance.numa_topology = None
    _place_instance(conn, instance, _PlacedOn(read))
    stored = dict(read)
    stored.update(values)
    stored["generation"] = read["generation"] + 1
    return stored


class _PlacedOn:
    """Where an instance is placed: what _place_instance reads of a node."""

    def __init__(self, row):
        self.id = row["id"]
        self.host = row["host"]
        self.hypervisor_hostname = row["hypervisor_hostname"]


def _place_instance(conn, instance, node):
    instance.host = node.host
    instance.node = node.hypervisor_hostname
    instance.compute_id = node.id
    instance.launched_on = node.host
    values = instance._column_values()
    table = schema.instances
    if db_api.insert_if_absent(conn, table, values):
        return                  # the usual case: a new instance
    stored = db_api.select_rows(conn, table, where=(
        table.c.uuid == instance.uuid,))
    if not stored:
        raise exception.ClaimRejected(
            node=node.hypervisor_hostname,
            reasons=[f"instance {instance.uuid} was deleted"])
    existing = stored[0]
    if existing["host"] is not None:
        raise exception.ClaimRejected(
            node=node.hypervisor_hostname,
            reasons=[f"instance {instance.uuid} is already placed on "
                     f"{existing['host']}/{existing['node']}"])
    placement = {k: values[k] for k in (
        "host", "node", "compute_id", "launched_on", "numa_topology")
        if k in values}
    db_api.update_row(conn, table, existing["id"], placement)


#: What a claim sets on an instance row, as it was before (a scheduler
#: only claims unplaced instances).
_UNPLACED = {"host": None, "node": None, "compute_id": None,
             "launched_on": None, "numa_topology": None}


def release(context, node_id, instance_uuid):
    """Undo a claim this scheduler made (the request failed later): the
    instance row is unplaced and its usage given back, in one
    transaction, with the same arithmetic."""
    for _ in range(CLAIM_RETRIES):
        node = cn_obj.ComputeNode.get_by_id(context, node_id)
        instance = instance_obj.Instance.get_by_uuid(context, instance_uuid)
        if instance.compute_id != node.id:
            return None
        fitted = cons.Consumption.of(
            instance.flavor, hw_usage.is_boot_from_volume(instance),
            numa_topology=instance.obj_get("numa_topology"))
        cons.apply(node, fitted, -1)
        node_stats.apply_stats(node, instance, -1)
        node_values = node._column_values(node.obj_what_changed() - {"uuid"})
        try:
            with db_api.transaction(context) as conn:
                row = db_api.cas_update(conn, schema.compute_nodes, node.id,
                                        node.generation, node_values)
                db_api.update_row(conn, schema.instances, instance.id,
                                  dict(_UNPLACED))
            return row
        except exception.GenerationConflict:
            continue
    raise exception.GenerationConflict(
        table="compute_nodes", row_id=node_id, seen_generation=-1)


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

    def claim(self, context, node_id, request, instance_uuid):
        """Claim on node ``node_id``; the node row as stored after it (in
        this session). Raises ClaimRejected or Deadlocked."""
        if not self.together:
            return claim(context, node_id, request, instance_uuid)
        conn = self._connection(context)
        instance = instance_for(request, instance_uuid)
        wanted = cons.Consumption.of(
            instance.flavor, hw_usage.is_boot_from_volume(instance),
            pci_requests=request.pci_requests)
        try:
            with conn.begin_nested():
                return _claim_on(conn, context, node_id, wanted, request,
                                 instance, lock=True)
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
