"""ComputeNode: one schedulable node's inventory and usage.

A compute node row is written by exactly one resource tracker and read by
every scheduler. Writes are compare-and-swap on ``generation``: a tracker
that lost a race gets ``GenerationConflict`` and re-reads, it never
overwrites what another writer stored.
"""
import functools

import sqlalchemy as sa
from oslo_serialization import jsonutils
from oslo_utils import versionutils

from hoststate import conf as hs_conf
from hoststate import exception
from hoststate.conf import limits
from hoststate.conf import node_defaults
from hoststate.db import api as db_api
from hoststate.db import ledger as db_ledger
from hoststate.db import schema
from hoststate.objects import attrs
from hoststate.objects import base
from hoststate.objects import bounded
from hoststate.objects import fields
from hoststate.objects import hv_spec
from hoststate.objects import node_columns
from hoststate.objects import numa
from hoststate.objects import pci
from hoststate.objects import traits as traits_mod

#: Trait fields: each the sorted names one writer gave the node (see
#: ``hoststate.objects.traits``), stored as JSON text.
TRAIT_FIELDS = traits_mod.COLUMNS

#: Keys a virt driver's ``get_available_resource`` may set on a node.
VIRT_DRIVER_KEYS = (
    "vcpus", "memory_mb", "local_gb", "vcpus_used", "memory_mb_used",
    "local_gb_used", "hypervisor_type", "hypervisor_version",
    "hypervisor_hostname", "disk_available_least", "host_ip", "uuid",
    "cpu_info", "current_workload", "running_vms",
)
#: A virt driver's key of its traits, and the field that stores them.
DRIVER_TRAITS_KEY = "traits"

# Version 1.0: initial; numa_topology is a JSON string
# Version 1.1: cpu_allocation_ratio, ram_allocation_ratio
# Version 1.2: disk_allocation_ratio
# Version 1.3: numa_topology is a NUMATopology object (older peers get the
#              JSON text of the object, which is what 1.0-1.2 carried)
# Version 1.4: mapped
# Version 1.5: undelete() (a node the driver reports again after it was
#              deleted keeps its uuid)
# Version 1.6: save_with_ledger() (usage and its allocation rows in one
#              transaction)
# Version 1.7: driver_traits, operator_traits
@base.HoststateObjectRegistry.register
class ComputeNode(base.RowObject, base.HoststateObject,
                  base.SoftDeletedObject):
    VERSION = "1.7"
    TABLE = schema.compute_nodes
    NOT_FOUND = exception.ComputeNodeNotFound

    fields = {
        "id": fields.IntegerField(read_only=True),
        "uuid": fields.UUIDField(read_only=True),
        "service_id": fields.IntegerField(nullable=True),
        "host": fields.StringField(nullable=True),
        "hypervisor_hostname": fields.StringField(nullable=True),
        "vcpus": fields.NonNegativeIntegerField(),
        "memory_mb": fields.NonNegativeIntegerField(),
        "local_gb": fields.NonNegativeIntegerField(),
        "vcpus_used": fields.NonNegativeIntegerField(default=0),
        "memory_mb_used": fields.NonNegativeIntegerField(default=0),
        "local_gb_used": fields.NonNegativeIntegerField(default=0),
        # Free values may go negative when usage exceeds inventory (Nova
        # does not clamp them; the scheduler's weighers do).
        "free_ram_mb": fields.IntegerField(nullable=True),
        "free_disk_gb": fields.IntegerField(nullable=True),
        "disk_available_least": fields.IntegerField(nullable=True),
        "current_workload": fields.IntegerField(nullable=True),
        "running_vms": fields.IntegerField(nullable=True),
        "hypervisor_type": fields.StringField(),
        "hypervisor_version": fields.NonNegativeIntegerField(
            high=limits.INT64_MAX),                  # a BigInteger column
        "cpu_info": fields.StringField(length=limits.DOCUMENT_LENGTH),
        "host_ip": fields.IPAddressField(nullable=True),
        "supported_hv_specs": fields.ListOfObjectsField("HVSpec", default=[]),
        "metrics": fields.StringField(length=limits.DOCUMENT_LENGTH,
                                      nullable=True),
        # keys such as num_proj_<project id>: longer than a project id
        "stats": fields.DictOfNullableStringsField(
            key=bounded.String(2 * limits.NAME_LENGTH), nullable=True),
        "numa_topology": fields.ObjectField("NUMATopology", nullable=True),
        "pci_device_pools": fields.ObjectField("PciDevicePoolList",
                                               nullable=True),
        "cpu_allocation_ratio": fields.NonNegativeFloatField(
            high=limits.MAX_ALLOCATION_RATIO, nullable=True),
        "ram_allocation_ratio": fields.NonNegativeFloatField(
            high=limits.MAX_ALLOCATION_RATIO, nullable=True),
        "disk_allocation_ratio": fields.NonNegativeFloatField(
            high=limits.MAX_ALLOCATION_RATIO, nullable=True),
        "mapped": fields.NonNegativeIntegerField(default=0),
        "generation": fields.NonNegativeIntegerField(default=0),
        # what the virt driver reports (the resource tracker writes it) and
        # what operators added (host-update writes it); the node has both
        "driver_traits": traits_mod.TraitsField(default=[]),
        "operator_traits": traits_mod.TraitsField(default=[]),
    }

    FIELDS_ADDED = {
        "cpu_allocation_ratio": "1.1",
        "ram_allocation_ratio": "1.1",
        "disk_allocation_ratio": "1.2",
        "mapped": "1.4",
        "driver_traits": "1.7",
        "operator_traits": "1.7",
    }

    def obj_make_compatible(self, primitive, target_version):
        super().obj_make_compatible(primitive, target_version)
        target = versionutils.convert_version_to_tuple(target_version)
        if target < (1, 3) and primitive.get("numa_topology") is not None:
            # Before 1.3 the topology travelled as JSON text; the child's
            # primitive is already at the version the peer's manifest named.
            primitive["numa_topology"] = jsonutils.dumps(
                primitive["numa_topology"])

    # --- database rows ---------------------------------------------------

    @staticmethod
    def _from_db_object(context, node, row, conf=None):
        document = node_columns.document
        base.load_row(node, context, row,
                      skip=set(node_columns.DOCUMENT_COLUMNS))
        node.numa_topology = document(numa.NUMATopology.from_json,
                                      row["numa_topology"])
        node.pci_device_pools = document(pci.PciDevicePoolList.from_json,
                                         row["pci_stats"])
        node.supported_hv_specs = document(
            hv_spec.from_json, row["supported_instances"]) or []
        node.stats = node_columns.stats_of(row["stats"])
        for name in TRAIT_FIELDS:
            setattr(node, name, traits_mod.from_text(row[name]))
        node._fill_unset_allocation_ratios(conf)
        node.obj_reset_changes(recursive=True)
        return node

    def _fill_unset_allocation_ratios(self, conf=None):
        """A ratio stored as None or 0.0 means "use the configured one"
        (``conf.node_defaults.resolve``), from ``conf``.

        Without ``conf``, the process's CONF: a node read by a remotable
        method (``get_by_id``, ``get_by_host_and_nodename``, over the
        conductor) has no caller's configuration at hand. A scheduler with
        a configuration of its own passes it (its claim reads nodes with
        ``_from_db_object(..., conf=)``).
        """
        resolved = node_defaults.resolve(
            conf if conf is not None else hs_conf.CONF, self).ratios()
        for name in node_defaults.RATIOS:
            if node_defaults.unset(self.obj_get(name)):
                setattr(self, name, resolved[name])

    def _column_values(self, names):
        """Column values for the fields ``names`` (documents as JSON)."""
        return node_columns.column_values(
            names, functools.partial(getattr, self))

    def saved_as(self, row):
        """This node, just written by a compare-and-swap, as ``row`` (the
        row as stored after the write) has it: the generation and
        updated_at are the database's; every other column holds what this
        object wrote. Loading the whole row again (every document parsed
        or copied) cost more than the write; a node with a field unset is
        loaded all the same, as the row fills it."""
        attributes = self.__dict__
        if any(attrs.PREFIX + name not in attributes
               for name in self.fields):
            self._from_db_object(self._context, self, row)
            return
        base.load_row(self, self._context, {
            "generation": row["generation"],
            "updated_at": row["updated_at"]})
        if self.stats is None:
            self.stats = {}             # as a NULL column reads
        self._fill_unset_allocation_ratios()
        self.obj_reset_changes(recursive=True)

    def stored_with(self, fields, row):
        """A new node: this one (as stored) with ``fields`` ({field:
        value}) set, after a write of exactly those fields on its
        generation, which stored ``row``. It shares this node's other
        values, child objects included: neither node is changed in place
        (a tracker writes on a copy, and replaces its node)."""
        node = type(self).__new__(type(self))
        node.__dict__.update(self.__dict__)
        node._changed_fields = set()
        node.update(fields)
        node.saved_as(row)
        return node

    # --- persistence -----------------------------------------------------

    @base.remotable
    def create(self):
        self._set_new_uuid()
        self._insert(self._column_values(
            n for n in self.fields if self.obj_attr_is_set(n)))

    @base.remotable
    def save(self):
        """Write the changed fields, if the row is still as we last saw it.

        Nothing is written when nothing changed. A concurrent writer makes
        this raise ``GenerationConflict`` and leaves both the row and this
        object as they were.
        """
        values = self._column_values(self.obj_what_changed() - {"uuid"})
        if not values:
            return
        with db_api.transaction(self._context) as conn:
            row = db_api.cas_update(conn, self.TABLE, self.id,
                                    self.generation, values)
        self.saved_as(row)

    @base.remotable
    def save_with_ledger(self, added, removed, rekeyed=None):
        """Write the changed fields and the node's ledger changes in one
        transaction (the counters are a cache of the ledger: neither
        commits without the other).

        ``added`` are new Allocations, ``removed`` stored ones given back
        (exactly these rows: LedgerConflict if another writer removed one
        first), ``rekeyed`` [(consumer uuid, new consumer uuid)] hands a
        row to another consumer (a confirmed move's destination passing
        from its migration to its instance). The node's generation moves
        even when no field changed, so every reader of the node sees a
        ledger change as a change of the node.
        """
        values = self._column_values(self.obj_what_changed() - {"uuid"})
        with db_api.transaction(self._context) as conn:
            row = db_api.cas_update(conn, self.TABLE, self.id,
                                    self.generation, values)
            db_ledger.delete(conn, removed)
            for consumer, new_consumer in rekeyed or ():
                db_ledger.rekey(conn, consumer, new_consumer)
            db_ledger.insert(conn, [a.column_values() for a in added])
        self.saved_as(row)

    @base.remotable
    def destroy(self):
        """Soft-delete the node, unless another host has taken it over."""
        self._delete(host=self.host)

    @base.remotable
    def undelete(self):
        """Make a soft-deleted node live again, with the same id and uuid."""
        with db_api.transaction(self._context) as conn:
            row = db_api.undelete_row(conn, self.TABLE, self.id)
        self._from_db_object(self._context, self, row)

    @classmethod
    @base.remotable
    def get_by_id(cls, context, node_id):
        return cls._get(context, node_id, id=node_id)

    @classmethod
    @base.remotable
    def get_by_uuid(cls, context, node_uuid):
        return cls._get(context, node_uuid, uuid=node_uuid)

    @classmethod
    @base.remotable
    def get_by_host_and_nodename(cls, context, host, nodename):
        return cls._get(context, f"{host}/{nodename}", host=host,
                        hypervisor_hostname=nodename)

    @classmethod
    @base.remotable
    def get_by_nodename(cls, context, nodename):
        return cls._get(context, nodename, hypervisor_hostname=nodename)

    def update_from_virt_driver(self, resources):
        """Copy what a virt driver reported; a node's uuid never changes."""
        reported_uuid = resources.get("uuid")
        if (reported_uuid and self.obj_attr_is_set("uuid")
                and reported_uuid != self.uuid):
            raise exception.ObjectActionError(
                action="update_from_virt_driver",
                reason=f"node uuid {self.uuid} cannot become {reported_uuid}")
        self.update({k: resources[k] for k in VIRT_DRIVER_KEYS
                     if k in resources and not (
                         k == "uuid" and self.obj_attr_is_set("uuid"))})
        if DRIVER_TRAITS_KEY in resources:
            self.driver_traits = resources[DRIVER_TRAITS_KEY] or []

    def traits(self):
        """Every trait of the node: the driver's and the operators'."""
        return sorted(set(self.obj_get("driver_traits") or ()) |
                      set(self.obj_get("operator_traits") or ()))


# Version 1.0: initial
# Version 1.1: get_nodenames_by_host
# Version 1.2: update_operator_traits
# Version 1.3: create_all is remotable (agents without a database)
# Version 1.4: save_all (one agent cycle's writes in one call)
@base.HoststateObjectRegistry.register
class ComputeNodeList(base.RowObjectList, base.HoststateObjectListBase,
                      base.HoststateObject):
    VERSION = "1.4"
    fields = {"objects": fields.ListOfObjectsField("ComputeNode")}

    @classmethod
    @base.remotable
    def create_all(cls, context, nodes):
        """Insert new ``nodes`` (ComputeNodes with every field they set
        already checked) in one transaction, multi-row INSERTs of
        BULK_ROWS, then complete each with what the database filled in (id,
        time stamps, generation, defaults) by one narrow read: loading
        thousands of full rows back would cost more than the rest together.
        DuplicateRecord, and nothing inserted, when one collides.

        Returns the nodes: through a conductor they are new objects (the
        ones sent are not completed), so callers use what it returns."""
        if not nodes:
            return nodes
        rows = [node._column_values(n for n in node.fields
                                    if node.obj_attr_is_set(n))
                for node in nodes]
        filled = [name for name in nodes[0].fields
                  if not nodes[0].obj_attr_is_set(name)]
        with db_api.transaction(context) as conn:
            for start in range(0, len(rows), BULK_ROWS):
                _insert_rows(conn, rows[start:start + BULK_ROWS])
            stored = _read_columns(conn, filled, [node.uuid for node in nodes])
        for node in nodes:
            _complete(node, stored[node.uuid])
        return nodes

    @classmethod
    @base.remotable
    def save_all(cls, context, nodes, edits):
        """Each node's ``save_with_ledger`` (``edits``: per node, {"added":
        [Allocation], "removed": [Allocation], "rekeyed": [[uuid, uuid]]}),
        all in one transaction, each in a savepoint of its own: a node
        whose compare-and-swap or ledger change conflicts (or that is
        gone) is left as stored and named in the answer, the others are
        written. So an agent working through a conductor sends a cycle's
        writes in one call and redoes only the conflicted ones, one by one.

        Refused before anything is written when a stored node belongs to
        another host than the node sent names: a bulk save never takes a
        node over (the one-by-one path does). Returns {"saved":
        [ComputeNode as written], "conflicts": [ids of those not]}."""
        saved, conflicts = [], []
        with db_api.transaction(context) as conn:
            _refuse_others(context, conn, nodes)
            for node, edit in zip(nodes, edits):
                values = node._column_values(node.obj_what_changed()
                                             - {"uuid"})
                try:
                    with conn.begin_nested():
                        row = db_api.cas_update(conn, ComputeNode.TABLE, node.id,
                                                node.generation, values)
                        db_ledger.delete(conn, edit.get("removed") or ())
                        for consumer, new in edit.get("rekeyed") or ():
                            db_ledger.rekey(conn, consumer, new)
                        db_ledger.insert(conn, [a.column_values() for a in
                                                edit.get("added") or ()])
                except (exception.GenerationConflict, exception.NotFound,
                        sa.exc.IntegrityError):
                    # redone one by one, which raises what it raises
                    conflicts.append(node.id)
                    continue
                node.saved_as(row)
                saved.append(node)
        return {"saved": saved, "conflicts": conflicts}

    @classmethod
    @base.remotable
    def get_all(cls, context):
        return cls._list(context)

    @classmethod
    @base.remotable
    def get_all_by_host(cls, context, host):
        nodes = cls._list(context, host=host)
        if not nodes:
            raise exception.ComputeHostNotFound(host=host)
        return nodes

    @classmethod
    @base.remotable
    def get_nodenames_by_host(cls, context, host):
        """The names of ``host``'s live nodes, without loading the nodes (an
        agent compares them with what its driver reports every cycle)."""
        table = schema.compute_nodes
        with db_api.reading(context) as conn:
            return sorted(conn.execute(
                sa.select(table.c.hypervisor_hostname)
                .where(table.c.host == host, table.c.deleted == 0)).scalars())

    @classmethod
    @base.remotable
    def update_operator_traits(cls, context, host, added=(), removed=()):
        """Add traits ``added`` to and take ``removed`` from the operator
        traits of every live node of ``host``, in one transaction: all of
        them change, or (on any error) none. Names are checked before
        anything is read (InvalidTrait naming ``operator_traits``); a host
        without nodes is ComputeHostNotFound. Each node that changes moves
        its generation and updated_at, so schedulers see it at their next
        refresh. Returns the host's nodes as stored."""
        added = set(traits_mod.check(added, "operator_traits"))
        removed = set(traits_mod.check(removed, "operator_traits"))
        table = schema.compute_nodes
        with db_api.transaction(context) as conn:
            rows = db_api.select_rows(conn, table, host=host, for_update=True)
            if not rows:
                raise exception.ComputeHostNotFound(host=host)
            stored = [_with_operator_traits(conn, row, added, removed)
                      for row in rows]
        return base.ovo_base.obj_make_list(context, cls(context), stored)

    @classmethod
    @base.remotable
    def get_all_by_uuids(cls, context, node_uuids):
        return cls._list(context, uuid=list(node_uuids))

    @classmethod
    @base.remotable
    def get_by_service_id(cls, context, service_id):
        return cls._list(context, service_id=service_id)


def _with_operator_traits(conn, row, added, removed):
    """Write node ``row``'s operator traits plus ``added`` less
    ``removed`` (the row is locked); the row as now stored."""
    now = set(traits_mod.from_text(row["operator_traits"]))
    text = traits_mod.to_text((now | added) - removed)
    if text == row["operator_traits"]:
        return row
    return db_api.cas_update(conn, schema.compute_nodes, row["id"],
                             row["generation"], {"operator_traits": text})


#: Rows a multi-row INSERT or an IN (...) read carries at most.
BULK_ROWS = 500


def _refuse_others(context, conn, nodes):
    """ConductorRefused when a stored node of ``nodes`` (live or not) is
    another host's than the one its object names."""
    table = ComputeNode.TABLE
    ids = [node.id for node in nodes]
    stored = {}
    for start in range(0, len(ids), BULK_ROWS):
        stored.update(conn.execute(sa.select(table.c.id, table.c.host).where(
            table.c.id.in_(ids[start:start + BULK_ROWS]))).all())
    for node in nodes:
        owner = stored.get(node.id, node.host)
        if owner != node.host:
            raise exception.ConductorRefused(
                objname="ComputeNodeList", method="save_all",
                caller=context.service_host or node.host,
                reason=f"the ComputeNode {node.id} as stored belongs to "
                       f"{owner or 'no host'}")


def _insert_rows(conn, rows):
    """Insert compute node ``rows`` (column values), stamped with the
    server's clock as db.api.insert_row stamps one; rows that set the same
    columns go in one statement."""
    table = ComputeNode.TABLE
    query = sa.insert(table).values(created_at=db_api.server_utcnow(),
                                    updated_at=db_api.server_utcnow())
    alike = {}
    for row in rows:
        alike.setdefault(tuple(sorted(row)), []).append(row)
    for same_columns in alike.values():
        conn.execute(query, same_columns)


def _read_columns(conn, names, node_uuids):
    """{uuid: {column: value}} of the columns ``names`` of the live nodes
    ``node_uuids``, in chunks of BULK_ROWS."""
    table = ComputeNode.TABLE
    columns = [table.c[name] for name in names if name in table.c]
    found = {}
    for start in range(0, len(node_uuids), BULK_ROWS):
        for row in conn.execute(
                sa.select(table.c.uuid, *columns)
                .where(table.c.deleted == 0,
                       table.c.uuid.in_(node_uuids[start:start + BULK_ROWS]))):
            found[row.uuid] = row._mapping
    return found


def _complete(node, row):
    """Fill ``node``'s unset fields from its stored ``row`` (as loading the
    row would: ``deleted`` is the soft-delete marker, a boolean here) and
    mark it unchanged."""
    for name in node.fields:
        if not node.obj_attr_is_set(name) and name in row:
            value = row[name]
            if name == "deleted":
                value = bool(value)
            elif name in TRAIT_FIELDS:
                value = traits_mod.from_text(value)
            setattr(node, name, value)
    node.obj_reset_changes(recursive=True)
