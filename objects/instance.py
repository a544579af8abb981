"""Instance: what the resource tracker counts against a node.

Only the columns resource tracking and scheduling read are modelled: where
the instance runs (host, node, compute_id), its states, its sizes and the
flavor, NUMA topology and PCI requests it was claimed with. Those three are
objects stored as the JSON text of their primitives (one text per value,
see ``hoststate.objects.fields.dump_json``), so a reader gets back exactly
the object that was saved, at the version it was saved with.
"""
import copy
import functools

import sqlalchemy as sa

from hoststate import exception
from hoststate.db import api as db_api
from hoststate.db import schema
from hoststate.objects import allocation as allocation_obj
from hoststate.objects import attrs
from hoststate.objects import base
from hoststate.objects import fields
from hoststate.objects import flavor as flavor_obj
from hoststate.objects import migration_context as migration_context_obj
from hoststate.objects import numa as numa_obj
from hoststate.objects import pci as pci_obj
from hoststate.objects import states

#: Fields stored as JSON documents in the same-named columns.
_DOCUMENTS = {
    "flavor": flavor_obj.Flavor,
    "numa_topology": numa_obj.InstanceNUMATopology,
    "pci_requests": pci_obj.InstancePCIRequests,
    "migration_context": migration_context_obj.MigrationContext,
}


_DOCUMENT_NAMES = frozenset(_DOCUMENTS)


def _dump(value):
    return None if value is None else fields.dump_json(value)


def _load(cls, text):
    """The document ``text`` as a ``cls`` object of its own.

    Parsed once per distinct text (most instances share their flavor's
    document word for word) and deep-copied after: parsing coerces every
    field again and cost more than the rest of reading an instance."""
    if text is None:
        return None
    parsed = _parsed_document(cls, text)
    clone = copy.deepcopy(parsed)
    clone.obj_reset_changes(recursive=True)
    return clone


@functools.lru_cache(maxsize=256)
def _parsed_document(cls, text):
    return fields.load_json(cls, text)


# Version 1.0: initial version
# Version 1.1: migration_context (what a move claimed, kept until confirm or
#              revert)
# Version 1.2: save(expected_vm_state=, expected_task_state=)
@base.HoststateObjectRegistry.register
class Instance(base.RowObject, base.HoststateObject, base.SoftDeletedObject):
    VERSION = "1.2"
    TABLE = schema.instances
    FIELDS_ADDED = {"migration_context": "1.1"}
    NOT_FOUND = exception.InstanceNotFound

    fields = {
        "id": fields.IntegerField(read_only=True),
        "uuid": fields.UUIDField(read_only=True),
        "display_name": fields.StringField(nullable=True),
        "project_id": fields.StringField(nullable=True),
        "user_id": fields.StringField(nullable=True),
        "host": fields.StringField(nullable=True),
        "node": fields.StringField(nullable=True),
        "compute_id": fields.IntegerField(nullable=True),
        "launched_on": fields.StringField(nullable=True),
        "availability_zone": fields.StringField(nullable=True),
        "vm_state": fields.StringField(nullable=True),
        "task_state": fields.StringField(nullable=True),
        "power_state": fields.IntegerField(nullable=True),
        "instance_type_id": fields.IntegerField(nullable=True),
        # Sizes are counted into node usage: a negative one would free
        # resources that were never there.
        "memory_mb": fields.NonNegativeIntegerField(nullable=True),
        "vcpus": fields.NonNegativeIntegerField(nullable=True),
        "root_gb": fields.NonNegativeIntegerField(nullable=True),
        "ephemeral_gb": fields.NonNegativeIntegerField(nullable=True),
        "image_ref": fields.StringField(nullable=True),
        "os_type": fields.StringField(nullable=True),
        "flavor": fields.ObjectField("Flavor", nullable=True),
        "numa_topology": fields.ObjectField("InstanceNUMATopology",
                                            nullable=True),
        "pci_requests": fields.ObjectField("InstancePCIRequests",
                                           nullable=True),
        "migration_context": fields.ObjectField("MigrationContext",
                                                nullable=True),
    }

    @staticmethod
    def _from_db_object(context, instance, row):
        base.load_row(instance, context, row, skip=_DOCUMENT_NAMES)
        # the documents as parsed from our own columns, each an object of
        # its field's class with no changes: set where the field keeps its
        # value (coercing them again checked nothing new), after the
        # changes were reset
        attributes = instance.__dict__
        for name, cls in _DOCUMENTS.items():
            attributes[attrs.PREFIX + name] = _load(cls, row[name])
        return instance

    def _column_values(self):
        """Changed columns, with changed documents as their JSON text."""
        values = base.changed_columns(self, schema.instances,
                                      skip=set(_DOCUMENTS))
        for name in set(_DOCUMENTS) & self.obj_what_changed():
            values[name] = _dump(getattr(self, name))
        return values

    # --- reads -----------------------------------------------------------

    @classmethod
    @base.remotable
    def get_by_uuid(cls, context, instance_uuid):
        return cls._get(context, instance_uuid, uuid=instance_uuid)

    # --- writes ----------------------------------------------------------

    @base.remotable
    def create(self):
        self._set_new_uuid()
        self._insert(self._column_values())

    @base.remotable
    def save(self, expected_vm_state=None, expected_task_state=None):
        """Write the changed fields only; nothing at all when none changed.

        A child object changed in place (``instance.flavor.vcpus = 2``)
        counts as a change of its field.

        ``expected_vm_state`` / ``expected_task_state``: the states the row
        must still be in (a list of them; ``[None]`` for no task), checked
        in the same UPDATE, as Nova's save does: an agent finishing a
        build writes ACTIVE only if nobody took the build back meanwhile.
        UnexpectedInstanceState, and nothing written, otherwise.
        """
        values = self._column_values()
        expected = _expected(vm_state=expected_vm_state,
                             task_state=expected_task_state)
        if not expected:
            if values:
                self._update(values)
            return
        with db_api.transaction(self._context) as conn:
            if not set_if(conn, self.uuid, expected, values):
                raise exception.UnexpectedInstanceState(
                    uuid=self.uuid, expected=_shown(expected))
            row = db_api.select_one(conn, schema.instances,
                                    self.NOT_FOUND(key=self.uuid),
                                    uuid=self.uuid)
        self._from_db_object(self._context, self, row)

    @base.remotable
    def destroy(self):
        """Soft-delete the instance and its migrations, as Nova does.

        If the instance has a host, the delete happens only while it still
        has that host: an instance that moved meanwhile raises
        ObjectActionError and stays, so the caller re-reads and decides.
        """
        if not self.obj_attr_is_set("id"):
            raise exception.ObjectActionError(action="destroy",
                                              reason="not created")
        constraint = {"host": self.host} if self.obj_get("host") else {}
        try:
            with db_api.transaction(self._context) as conn:
                row = db_api.delete_row(conn, schema.instances, self.id,
                                        read_back=True, **constraint)
                db_api.delete_rows(conn, schema.migrations,
                                   instance_uuid=self.uuid)
        except exception.NotFound as exc:
            raise exception.InstanceNotFound(key=self.uuid) from exc
        self._from_db_object(self._context, self, row)


# Version 1.0: initial version
@base.HoststateObjectRegistry.register
class InstanceList(base.RowObjectList, base.HoststateObjectListBase,
                   base.HoststateObject):
    VERSION = "1.0"

    fields = {"objects": fields.ListOfObjectsField("Instance")}

    @classmethod
    @base.remotable
    def get_by_host(cls, context, host):
        return cls._list(context, host=host)

    @classmethod
    @base.remotable
    def get_by_host_and_node(cls, context, host, node):
        """Instances on one node of ``host``: what its tracker counts."""
        return cls._list(context, host=host, node=node)

    @classmethod
    @base.remotable
    def get_by_uuids(cls, context, uuids):
        return cls._list(context, uuid=list(uuids))


def get_placed(context, instance_uuid):
    """(Instance ``instance_uuid``, its ledger rows as mappings) read in
    one query: what an agent adopting a scheduler's claim is handed (the
    instance, as Nova's conductor hands it to the compute) and what the
    claim holds, which the tracker adopts
    (``ResourceTracker.instance_claim(..., held=)``). For a process with
    the database at hand (the simulation's agents); InstanceNotFound if
    there is no such instance (the newest of its rows, when deleted ones
    are read too, as ``get_by_uuid`` reads)."""
    with db_api.reading(context) as conn:
        return _placed_on(conn, context, instance_uuid)


def _placed_on(conn, context, instance_uuid):
    """``get_placed`` on ``conn`` (in the caller's transaction)."""
    rows = [row._mapping for row in conn.execute(
        _placed_query(context.read_deleted),
        {"instance_uuid": instance_uuid})]
    if not rows:
        raise Instance.NOT_FOUND(key=instance_uuid)
    newest = rows[0]["id"]
    held = allocation_obj.joined_rows(
        row for row in rows if row["id"] == newest)
    return Instance._from_db_object(context, Instance(), rows[0]), held


_PLACED_QUERIES = {}


def _placed_query(read_deleted):
    """The instance's rows (newest first), each joined with one of its
    ledger rows (``allocation.joined_columns``; NULL when it holds
    none), built once per soft-delete mode."""
    query = _PLACED_QUERIES.get(read_deleted)
    if query is None:
        instances, ledger = schema.instances, schema.allocations
        query = _PLACED_QUERIES[read_deleted] = (
            sa.select(instances, *allocation_obj.joined_columns())
            .select_from(instances.outerjoin(
                ledger, ledger.c.instance_uuid == instances.c.uuid))
            .where(db_api.not_deleted(instances, read_deleted),
                   instances.c.uuid == sa.bindparam("instance_uuid"))
            .order_by(instances.c.id.desc(), ledger.c.id))
    return query


def _expected(**states_of):
    """{column: [allowed values]} of the states given (None: no check)."""
    return {name: list(allowed) for name, allowed in states_of.items()
            if allowed is not None}


def _shown(expected):
    return " and ".join(f"{name} in {allowed}"
                        for name, allowed in expected.items())


def _matching(expected):
    """WHERE clauses: each column holds one of its allowed values (None
    stands for NULL, which IN never matches)."""
    table, clauses = schema.instances, []
    for name, allowed in expected.items():
        column, known = table.c[name], [v for v in allowed if v is not None]
        options = [column.in_(known)] if known else []
        if None in allowed:
            options.append(column.is_(None))
        clauses.append(sa.or_(*options))
    return clauses


def set_if(conn, instance_uuid, expected, values):
    """Compare-and-swap an instance row: write ``values`` (stamped with
    the server's time) only while the live row of ``instance_uuid`` holds
    one of the allowed values of every column of ``expected``
    ({column: [value, ...]}); whether it did. The one way builds change
    hands (an agent taking its build, a conductor taking one back), so
    two writers that race for an instance cannot both win."""
    table = schema.instances
    values = dict(values, updated_at=db_api.server_utcnow())
    result = conn.execute(
        sa.update(table)
        .where(table.c.uuid == instance_uuid, table.c.deleted == 0,
               *_matching(expected))
        .values(**values))
    return result.rowcount == 1


def waiting_build(host, nodename):
    """What an instance whose build was cast to ``host``'s ``nodename``
    and not yet taken holds: placed there, BUILDING, no task."""
    return {"vm_state": [states.BUILDING], "task_state": [None],
            "host": [host], "node": [nodename]}


def take_build(context, instance_uuid, host, nodename):
    """(Instance, its ledger rows) once the agent of ``host`` has taken
    the build cast to its ``nodename`` (the instance SPAWNING, so no
    conductor takes it back as lost), or None when that build no longer
    stands: rescheduled, taken back or deleted while the cast waited."""
    with db_api.transaction(context) as conn:
        if not set_if(conn, instance_uuid, waiting_build(host, nodename),
                      {"task_state": states.SPAWNING}):
            return None
        # read in the same transaction: one checkout per build taken
        return _placed_on(conn, context, instance_uuid)
