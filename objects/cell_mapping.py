"""CellMapping and HostMapping: which cell a compute host's data lives in.

A deployment splits into cells, each with its own database and message bus;
the top level keeps one ``cell_mappings`` row per cell (how to reach it) and
one ``host_mappings`` row per compute host (which cell it belongs to). The
scheduler picks a cell and then a host in it; the conductor uses a host
mapping to reach the right cell database. Rows are deleted for real, as in
Nova's API database.
"""
from oslo_versionedobjects import base as ovo_base

from hoststate import exception
from hoststate.conf import limits
from hoststate.db import api as db_api
from hoststate.db import schema
from hoststate.objects import base
from hoststate.objects import fields

#: The cell that holds instances which failed before reaching a real cell.
CELL0_UUID = "00000000-0000-0000-0000-000000000000"


def _cell_row_of(conn, host_mapping_row):
    """The cell row a host mapping points at (the foreign key keeps it)."""
    return db_api.select_one(
        conn, schema.cell_mappings,
        exception.CellMappingNotFound(key=host_mapping_row["cell_id"]),
        id=host_mapping_row["cell_id"])


# Version 1.0: initial version
@base.HoststateObjectRegistry.register
class CellMapping(base.RowObject, base.HoststateObject,
                  base.TimestampedObject):
    VERSION = "1.0"
    TABLE = schema.cell_mappings
    NOT_FOUND = exception.CellMappingNotFound

    fields = {
        "id": fields.IntegerField(read_only=True),
        "uuid": fields.UUIDField(read_only=True),
        "name": fields.StringField(nullable=True),
        # Either may be unset for a cell reached through the local
        # configuration (a single-cell deployment).
        "transport_url": fields.StringField(length=limits.TEXT_LENGTH,
                                            nullable=True),
        "database_connection": fields.StringField(length=limits.TEXT_LENGTH,
                                                  nullable=True),
        "disabled": fields.BooleanField(default=False),
    }

    @property
    def identity(self):
        """How logs name the cell: its uuid, and its name when it has one."""
        name = self.obj_get("name")
        return f"{self.uuid}({name})" if name else self.uuid

    def is_cell0(self):
        """True for cell0, where instances that were never scheduled rest."""
        return self.obj_get("uuid") == CELL0_UUID

    @classmethod
    @base.remotable
    def get_by_uuid(cls, context, cell_uuid):
        return cls._get(context, cell_uuid, uuid=cell_uuid)

    @base.remotable
    def create(self):
        self._set_new_uuid()
        self._insert(base.changed_columns(self, self.TABLE))

    @base.remotable
    def save(self):
        """Write the changed fields only; nothing when none changed."""
        values = base.changed_columns(self, self.TABLE)
        if values:
            self._update(values)

    @base.remotable
    def destroy(self):
        """Delete the mapping; the cell's host mappings go with it."""
        self._delete()


# Version 1.0: initial version
@base.HoststateObjectRegistry.register
class CellMappingList(base.RowObjectList, base.HoststateObjectListBase,
                      base.HoststateObject):
    VERSION = "1.0"

    fields = {"objects": fields.ListOfObjectsField("CellMapping")}

    @classmethod
    @base.remotable
    def get_all(cls, context):
        """Every cell, cell0 included, in the order they were mapped."""
        return cls._list(context)


# Version 1.0: initial version
@base.HoststateObjectRegistry.register
class HostMapping(base.HoststateObject, base.TimestampedObject):
    VERSION = "1.0"

    fields = {
        "id": fields.IntegerField(read_only=True),
        "host": fields.StringField(),
        "cell_mapping": fields.ObjectField("CellMapping"),
    }

    @staticmethod
    def _from_db_object(context, mapping, row, cell_row):
        base.load_row(mapping, context, row)
        mapping.cell_mapping = CellMapping._from_db_object(
            context, CellMapping(), cell_row)
        mapping.obj_reset_changes()
        return mapping

    def _column_values(self, action):
        """Changed columns; the cell is stored as its id (``cell_id``)."""
        values = base.changed_columns(self, schema.host_mappings)
        if "cell_mapping" in self.obj_what_changed():
            if not self.cell_mapping.obj_attr_is_set("id"):
                raise exception.ObjectActionError(
                    action=action, reason="its cell mapping is not created")
            values["cell_id"] = self.cell_mapping.id
        return values

    @classmethod
    @base.remotable
    def get_by_host(cls, context, host):
        with db_api.transaction(context) as conn:
            row = db_api.select_one(conn, schema.host_mappings,
                                    exception.HostMappingNotFound(host=host),
                                    host=host)
            cell_row = _cell_row_of(conn, row)
        return cls._from_db_object(context, cls(), row, cell_row)

    @base.remotable
    def create(self):
        """Map the host; ``cell_mapping`` must be a created CellMapping."""
        if self.obj_attr_is_set("id"):
            raise exception.ObjectActionError(action="create",
                                              reason="already created")
        if not self.obj_attr_is_set("cell_mapping"):
            raise exception.ObjectActionError(action="create",
                                              reason="cell_mapping is not set")
        values = self._column_values("create")
        with db_api.transaction(self._context) as conn:
            row = db_api.insert_row(conn, schema.host_mappings, values)
            cell_row = _cell_row_of(conn, row)
        self._from_db_object(self._context, self, row, cell_row)

    @base.remotable
    def save(self):
        """Write the host or the cell if changed; nothing when neither did."""
        values = self._column_values("save")
        if not values:
            return
        try:
            with db_api.transaction(self._context) as conn:
                row = db_api.update_row(conn, schema.host_mappings, self.id,
                                        values)
                cell_row = _cell_row_of(conn, row)
        except exception.NotFound as exc:
            raise exception.HostMappingNotFound(host=self.host) from exc
        self._from_db_object(self._context, self, row, cell_row)

    @base.remotable
    def destroy(self):
        try:
            with db_api.transaction(self._context) as conn:
                db_api.delete_row(conn, schema.host_mappings, self.id)
        except exception.NotFound as exc:
            raise exception.HostMappingNotFound(host=self.host) from exc


# Version 1.0: initial version
@base.HoststateObjectRegistry.register
class HostMappingList(base.HoststateObjectListBase, base.HoststateObject):
    VERSION = "1.0"

    fields = {"objects": fields.ListOfObjectsField("HostMapping")}

    @classmethod
    @base.remotable
    def get_by_cell_id(cls, context, cell_id):
        """Hosts mapped to the cell with database id ``cell_id``."""
        with db_api.transaction(context) as conn:
            rows = db_api.select_rows(conn, schema.host_mappings,
                                      cell_id=cell_id)
            cells = db_api.select_rows(conn, schema.cell_mappings, id=cell_id)
        return ovo_base.obj_make_list(context, cls(context), rows,
                                      cell_row=cells[0] if cells else None)
