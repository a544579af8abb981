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
claim back (``claim_release.release``) returns exactly what the row says.

The usual claim is one statement: when the scheduler's table holds the
node at the generation the database has (``Seen``), the table's copy is
the node, the capacity rule was checked on it, and the claim is the
compare-and-swap UPDATE on that generation (counters added in SQL), the
ledger insert and the instance insert, sent together where the server
takes them as one statement (``claim_statements``), else in a
transaction. Only a node that moved since, or an instance with NUMA or
PCI needs, is read first.
"""
import dataclasses
import logging

import sqlalchemy as sa

from hoststate import exception
from hoststate.db import api as db_api
from hoststate.db import errors as db_errors
from hoststate.db import engine as db_engine
from hoststate.db import ledger as db_ledger
from hoststate.db import schema
from hoststate.hardware import capacity
from hoststate.hardware import consumption as cons
from hoststate.hardware import node_stats
from hoststate.hardware import usage as hw_usage
from hoststate.objects import compute_node as cn_obj
from hoststate.objects import fields as obj_fields
from hoststate.objects import node_columns
from hoststate.objects import states
from hoststate.scheduler import claim_statements as statements
from hoststate.scheduler import db_reader
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


class Unplaced:
    """The instance a claim places, as the row it stores.

    Built once per request (``of``): the instance's columns, with the
    flavor and PCI requests serialized once (the flavor's text cost as
    much as the rest of a claim), and what it takes; each claim copies
    the row with its own uuid and node. The columns are those an
    Instance of the request stores (a test holds the two equal), without
    building one. Reads like an instance where the node's stats
    need one."""

    def __init__(self, request):
        spec = request.spec
        flavor = spec.flavor
        self.columns = {
            "project_id": spec.obj_get("project_id"),
            "user_id": spec.obj_get("user_id"),
            "vm_state": states.BUILDING, "task_state": None,
            "flavor": flavor.stored_text(),
            "instance_type_id": flavor.obj_get("id"),
            "vcpus": flavor.vcpus, "memory_mb": flavor.memory_mb,
            "root_gb": flavor.root_gb, "ephemeral_gb": flavor.ephemeral_gb,
            "image_ref": request.image_id,
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
        unplaced = request.per_request.get(cls)
        if unplaced is None:
            unplaced = request.per_request[cls] = cls(request)
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


def claim(context, node_id, request, instance_uuid, seen=None):
    """Claim ``request``'s resources on node ``node_id`` for the instance.

    ``seen`` (a Seen) is the node as the caller's table holds it, checked
    there by the capacity rule. Returns the node row as stored after the
    claim. Raises ClaimRejected when the node, as it really is now,
    cannot take the instance (or is gone, or stays contended for
    CLAIM_RETRIES attempts).

    A claim whose connection is lost is tried again, unless the ledger
    shows it committed before the connection went (``_landed``).
    """
    engine = db_api.engine_of(context)
    single = db_engine.for_single_statements(engine)
    if seen is not None and _in_one_statement(single, request):
        stored = _claim_in_one_statement(single, engine, node_id, request,
                                         instance_uuid, seen)
        if stored is not None:
            return stored
        seen = None         # read the node: it moved, or the instance exists
    elif seen is not None and single is None and \
            engine.dialect.name == "sqlite" and \
            not _needs_devices(Unplaced.of(request).wanted, request):
        stored = _claim_on_sqlite(engine, node_id, request, instance_uuid,
                                  seen)
        if stored is not None:
            return stored
        seen = None         # as above, or the driver failed: the usual way
    for attempt in range(CLAIM_RETRIES):
        try:
            # read, check and write on one connection: one checkout, one
            # transaction (the compare-and-swap, not the transaction,
            # is what makes it safe)
            with db_api.transaction(context) as conn:
                return claim_on(conn, context, node_id, request,
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
            stored = _landed(engine, node_id, instance_uuid)
            if stored is not None:
                return stored
    raise exception.ClaimRejected(
        node=str(node_id), reasons=[f"still contended after {CLAIM_RETRIES} "
                                    "attempts"])


def _in_one_statement(single, request):
    """Whether the claim on a seen node can be one statement: the server
    takes it (``single`` is the engine for single statements, None on
    SQLite), and the instance has no NUMA or PCI needs."""
    return single is not None and \
        statements.has_one_statement(single.dialect) and \
        not _needs_devices(Unplaced.of(request).wanted, request)


def _claim_in_one_statement(single, engine, node_id, request, instance_uuid,
                            seen):
    """The claim on a seen node as one statement, its own transaction
    (``claim_statements``), on ``single``: the node row as stored, or None
    when it wrote nothing (the node moved on, the instance row exists, a
    deadlock, the connection was lost before it committed)."""
    instance = Unplaced.of(request)
    wanted = instance.wanted
    columns = dict(instance.columns, uuid=instance_uuid)
    params = statements.one_statement_params(
        _seen_params(node_id, seen, wanted, instance),
        wanted.ledger_row(instance_uuid, instance_uuid, node_id), columns)
    try:
        return statements.run_one_statement(single, columns, params)
    except sa.exc.IntegrityError:
        return None
    except sa.exc.DBAPIError as exc:
        if exc.connection_invalidated:
            return _landed(engine, node_id, instance_uuid)
        if db_errors.is_deadlock(exc):
            return None
        raise


def _claim_on_sqlite(engine, node_id, request, instance_uuid, seen):
    """The claim on a seen node in one transaction on the driver's cursor
    (``claim_statements.run_in_transaction``): the usage row as stored,
    or None when it wrote nothing."""
    instance = Unplaced.of(request)
    wanted = instance.wanted
    params = dict(_seen_params(node_id, seen, wanted, instance))
    params.update((f"instance_{name}", value) for name, value in
                  dict(instance.columns, uuid=instance_uuid).items())
    return statements.run_in_transaction(
        engine, params, wanted.ledger_row(instance_uuid, instance_uuid,
                                          node_id))


def _landed(engine, node_id, instance_uuid):
    """After a claim lost its connection: the node's row if the claim is in
    the ledger (it committed before the connection went), else None (it
    wrote nothing, and is tried again)."""
    with engine.connect() as conn:
        if not db_ledger.rows_of(conn, node_id, consumer_uuid=instance_uuid):
            LOG.info("claim on node %s: connection lost, trying again",
                     node_id)
            return None
        LOG.info("claim on node %s: connection lost after the claim "
                 "committed", node_id)
        [stored] = db_reader.read_node(conn, node_id)
        return stored


def _needs_devices(wanted, request):
    return wanted.numa_topology is not None or \
        request.numa_request is not None or cons._has_pci(wanted.pci_requests)


def claim_on(conn, context, node_id, request, instance_uuid, lock=False,
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
    stats = node_stats.stats_with(node_columns.stats_of(stats_text),
                                  instance, 1)
    return {"stats": node_columns.stats_text(stats),
            "running_vms": int(stats["num_instances"]),
            "current_workload": int(stats["io_workload"])}


def _seen_params(node_id, seen, wanted, instance):
    """The parameters of the claim's UPDATE (``claim_statements``)."""
    return dict(_stats_values(seen.stats, instance), _id=node_id,
                _generation=seen.generation, _vcpus=int(wanted.vcpus),
                _memory_mb=int(wanted.memory_mb),
                _disk_gb=int(wanted.disk_gb))


def _claim_as_seen(conn, node_id, wanted, instance, instance_uuid, seen):
    """The claim on a node still at ``seen.generation``: one UPDATE adds
    the counters in SQL (the caller checked the capacity rule on this
    very generation); GenerationConflict if the node moved."""
    nodes = schema.compute_nodes
    params = _seen_params(node_id, seen, wanted, instance)
    if conn.dialect.update_returning:
        stored = conn.execute(statements.seen_update(returning=True),
                              params).first()
    elif conn.execute(statements.seen_update(returning=False),
                      params).rowcount == 1:
        # MySQL has no UPDATE ... RETURNING
        stored = conn.execute(sa.select(
            *(nodes.c[name] for name in nodes_mod.USAGE_COLUMNS))
            .where(nodes.c.id == node_id)).first()
    else:
        stored = None
    if stored is None:
        raise exception.GenerationConflict(
            table="compute_nodes", row_id=node_id,
            seen_generation=seen.generation)
    stored = nodes_mod.UsageRow(stored._mapping)
    _record(conn, wanted, instance, instance_uuid, stored)
    return stored


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
    # placed anew, the build waits for its new node's agent (no task); and
    # only while the instance is as read: a conductor's build sweep may
    # end it (ERROR) at the same moment
    placement["task_state"] = None
    try:
        db_api.update_row(conn, table, existing["id"], placement, host=None,
                          vm_state=existing["vm_state"])
    except exception.ObjectActionError:
        raise exception.ClaimRejected(
            node=name, reasons=[f"instance {instance_uuid} changed while "
                                f"it was claimed"]) from None
