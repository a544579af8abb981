"""Migration: one move of an instance from a source node to a destination.

The resource tracker counts in-progress migrations against both ends of the
move (the destination holds the new flavor, the source keeps the old one for
a possible revert), so "in progress" is defined once, here, as Nova defines
it: any status that is not terminal.
"""
import sqlalchemy as sa

from hoststate import exception
from hoststate.db import api as db_api
from hoststate.db import schema
from hoststate.objects import base
from hoststate.objects import fields

MIGRATION_TYPES = ("migration", "resize", "live-migration", "evacuation")

#: Statuses after which a migration no longer holds resources anywhere.
#: ``finished`` is deliberately absent: a finished resize still waits in
#: VERIFY_RESIZE for a confirm or revert, holding both nodes.
DONE_STATUSES = frozenset((
    "accepted", "confirmed", "reverted", "error", "failed", "completed",
    "cancelled", "done"))


def is_in_progress(status):
    """True for a status that still holds resources on source or dest.

    A NULL status is not in progress: Nova's query filters with SQL
    ``NOT IN``, which is never true for NULL, and we keep its answer.
    """
    return status is not None and status not in DONE_STATUSES


def _derived_migration_type(row):
    """The type of a row stored before migration_type was recorded.

    As Nova does: a flavor change makes it a resize, otherwise a cold
    migration.
    """
    if row["old_instance_type_id"] != row["new_instance_type_id"]:
        return "resize"
    return "migration"


# Version 1.0: initial version
@base.HoststateObjectRegistry.register
class Migration(base.RowObject, base.HoststateObject, base.SoftDeletedObject):
    VERSION = "1.0"
    TABLE = schema.migrations
    NOT_FOUND = exception.MigrationNotFound

    fields = {
        "id": fields.IntegerField(read_only=True),
        "uuid": fields.UUIDField(read_only=True),
        "instance_uuid": fields.UUIDField(),
        "source_compute": fields.StringField(nullable=True),
        "dest_compute": fields.StringField(nullable=True),
        "source_node": fields.StringField(nullable=True),
        "dest_node": fields.StringField(nullable=True),
        "dest_host": fields.StringField(nullable=True),
        "dest_compute_id": fields.IntegerField(nullable=True),
        "old_instance_type_id": fields.IntegerField(nullable=True),
        "new_instance_type_id": fields.IntegerField(nullable=True),
        "status": fields.StringField(nullable=True),
        "migration_type": fields.EnumField(MIGRATION_TYPES),
        "hidden": fields.BooleanField(default=False),
        "cross_cell_move": fields.BooleanField(default=False),
        "user_id": fields.StringField(nullable=True),
        "project_id": fields.StringField(nullable=True),
    }

    @staticmethod
    def _from_db_object(context, migration, row):
        """Load ``row``; a NULL migration_type is derived, not left unset."""
        base.load_row(migration, context, row, skip={"migration_type"})
        migration.migration_type = (row["migration_type"]
                                    or _derived_migration_type(row))
        migration.obj_reset_changes()
        return migration

    # --- reads -----------------------------------------------------------

    @classmethod
    @base.remotable
    def get_by_id(cls, context, migration_id):
        return cls._get(context, migration_id, id=migration_id)

    @classmethod
    @base.remotable
    def get_by_uuid(cls, context, migration_uuid):
        return cls._get(context, migration_uuid, uuid=migration_uuid)

    # --- writes ----------------------------------------------------------

    @base.remotable
    def create(self):
        """Insert the migration; uuid and owner default as in Nova.

        The owner recorded is whoever starts the move (the context's user and
        project), which need not be the instance's owner. A migration_type is
        required: guessing it here would hide a caller's bug.
        """
        if not self.obj_attr_is_set("migration_type"):
            raise exception.ObjectActionError(
                action="create", reason="migration_type is not set")
        self._set_new_uuid()
        for name in ("user_id", "project_id"):
            if not self.obj_attr_is_set(name):
                setattr(self, name, getattr(self._context, name, None))
        self._insert(base.changed_columns(self, self.TABLE))

    @base.remotable
    def save(self):
        """Write the changed fields only; nothing at all when none changed."""
        values = base.changed_columns(self, self.TABLE)
        if values:
            self._update(values)

    # --- helpers ---------------------------------------------------------

    def is_same_host(self):
        """True when the move stays on one compute host (same-host resize)."""
        return self.source_compute == self.dest_compute

    @property
    def is_in_progress(self):
        return is_in_progress(self.status)

    @property
    def is_live_migration(self):
        return self.migration_type == "live-migration"

    @property
    def is_resize(self):
        return self.migration_type == "resize"

    @property
    def is_evacuation(self):
        return self.migration_type == "evacuation"


# Version 1.0: initial version
# Version 1.1: get_in_progress_by_host (one read for every node of a host)
@base.HoststateObjectRegistry.register
class MigrationList(base.RowObjectList, base.HoststateObjectListBase,
                    base.HoststateObject):
    VERSION = "1.1"

    fields = {"objects": fields.ListOfObjectsField("Migration")}

    @classmethod
    @base.remotable
    def get_all(cls, context):
        return cls._list(context)

    @classmethod
    @base.remotable
    def get_by_instance_uuid(cls, context, instance_uuid):
        return cls._list(context, instance_uuid=instance_uuid)

    @classmethod
    @base.remotable
    def get_in_progress_by_host_and_node(cls, context, host, node):
        """Unfinished migrations with ``node`` of ``host`` at either end.

        One statement; a same-node resize matches both ends and is returned
        once. ``NOT IN`` is never true for a NULL status, as in Nova.
        """
        table = schema.migrations
        either_end = sa.or_(
            sa.and_(table.c.source_compute == host, table.c.source_node == node),
            sa.and_(table.c.dest_compute == host, table.c.dest_node == node))
        return cls._list(context, where=[
            either_end, table.c.status.notin_(DONE_STATUSES)])

    @classmethod
    @base.remotable
    def get_in_progress_by_host(cls, context, host):
        """Unfinished migrations with any node of ``host`` at either end
        (every agent start and periodic update asks)."""
        with db_api.reading(context) as conn:
            rows = [row._mapping for row in conn.execute(
                _in_progress_by_host(context.read_deleted), {"host": host})]
        return base.ovo_base.obj_make_list(context, cls(context), rows)


_BUILT = {}


def _in_progress_by_host(read_deleted):
    """The statement of ``get_in_progress_by_host``, ``host`` a
    parameter, built once per soft-delete mode: building it cost more
    than running it."""
    query = _BUILT.get(read_deleted)
    if query is None:
        table = schema.migrations
        host = sa.bindparam("host", type_=table.c.source_compute.type)
        query = _BUILT[read_deleted] = (
            sa.select(table)
            .where(db_api.not_deleted(table, read_deleted),
                   sa.or_(table.c.source_compute == host,
                          table.c.dest_compute == host),
                   table.c.status.notin_(sorted(DONE_STATUSES)))
            .order_by(table.c.id))
    return query
