"""Service: one process of hoststate (a compute agent, a scheduler) on a host.

Liveness reads ``last_seen_up``, which only a heartbeat moves: saving a
higher ``report_count`` stamps it. Enabling, disabling or forcing a service
down changes ``updated_at`` but never ``last_seen_up``, so an operator's
action cannot make a dead service look alive (Nova bug 1420848).
"""
from oslo_utils import versionutils

from hoststate import exception
from hoststate.db import api as db_api
from hoststate.db import schema
from hoststate.objects import base
from hoststate.objects import fields

#: Binary and topic of a compute agent, as Nova names them.
COMPUTE_BINARY = schema.COMPUTE_BINARY
COMPUTE_TOPIC = "compute"

#: The version of the service code; bumped when a compute agent or scheduler
#: starts to rely on something older peers do not do.
SERVICE_VERSION = 1


# Version 1.0: initial
# Version 1.1: last_seen_up; older peers judged liveness by updated_at, so
#              they are sent the heartbeat time as updated_at
# Version 1.2: forced_down
# Version 1.3: version (of the service code)
@base.HoststateObjectRegistry.register
class Service(base.RowObject, base.HoststateObject, base.SoftDeletedObject):
    VERSION = "1.3"
    TABLE = schema.services
    NOT_FOUND = exception.ServiceNotFound

    fields = {
        "id": fields.IntegerField(read_only=True),
        "uuid": fields.UUIDField(read_only=True),
        "host": fields.StringField(),
        "binary": fields.StringField(),
        "topic": fields.StringField(nullable=True),
        "report_count": fields.NonNegativeIntegerField(default=0),
        "disabled": fields.BooleanField(default=False),
        "disabled_reason": fields.StringField(nullable=True),
        "last_seen_up": fields.DateTimeField(nullable=True),
        "forced_down": fields.BooleanField(default=False),
        "version": fields.NonNegativeIntegerField(default=SERVICE_VERSION),
        "generation": fields.NonNegativeIntegerField(default=0),
    }

    FIELDS_ADDED = {
        "last_seen_up": "1.1",
        "forced_down": "1.2",
        "version": "1.3",
    }

    def obj_make_compatible(self, primitive, target_version):
        target = versionutils.convert_version_to_tuple(target_version)
        if target < (1, 1) and primitive.get("last_seen_up"):
            primitive["updated_at"] = primitive["last_seen_up"]
        super().obj_make_compatible(primitive, target_version)

    @staticmethod
    def _from_db_object(context, service, row):
        base.load_row(service, context, row)
        service._stored_report_count = service.report_count
        return service

    def _column_values(self, names):
        return {name: base.column_value(getattr(self, name)) for name in names
                if name not in ("id", "deleted", "generation")}

    @base.remotable
    def create(self):
        self._set_new_uuid()
        for name in ("report_count", "disabled", "forced_down", "version"):
            if not self.obj_attr_is_set(name):
                self.obj_set_defaults(name)
        self._insert(self._column_values(
            n for n in self.fields if self.obj_attr_is_set(n)))

    @base.remotable
    def save(self):
        """Compare-and-swap the changed fields; stamp a heartbeat.

        ``last_seen_up`` is set to now exactly when ``report_count`` grows,
        on the database server's clock (the one liveness is judged by), so a
        heartbeating host with a skewed clock is not judged dead.
        A lost race raises ``GenerationConflict`` and changes nothing.
        """
        values = self._column_values(self.obj_what_changed() - {"uuid"})
        if not values:
            return
        with db_api.transaction(self._context) as conn:
            if "report_count" in values and (
                    values["report_count"] > self._report_count_stored(conn)):
                values["last_seen_up"] = db_api.server_utcnow()
            row = db_api.cas_update(conn, self.TABLE, self.id,
                                    self.generation, values)
        self._from_db_object(self._context, self, row)

    def _report_count_stored(self, conn):
        """The report_count of the row as this object last saw it.

        Known when the object was loaded or saved in this process; an
        object that arrived serialised (through a conductor) reads it. The
        compare-and-swap that follows fails if the row moved meanwhile.
        """
        stored = getattr(self, "_stored_report_count", None)
        if stored is None:
            stored = db_api.select_one(
                conn, self.TABLE, exception.ServiceNotFound(key=self.id),
                id=self.id)["report_count"]
        return stored

    @base.remotable
    def destroy(self):
        self._delete()

    @classmethod
    @base.remotable
    def get_by_id(cls, context, service_id):
        return cls._get(context, service_id, id=service_id)

    @classmethod
    @base.remotable
    def get_by_uuid(cls, context, service_uuid):
        return cls._get(context, service_uuid, uuid=service_uuid)

    @classmethod
    @base.remotable
    def get_by_host_and_binary(cls, context, host, binary):
        return cls._get(context, f"{binary} on {host}", host=host,
                        binary=binary)

    @classmethod
    @base.remotable
    def get_by_compute_host(cls, context, host):
        """The compute agent of ``host``; ComputeHostNotFound if none."""
        try:
            return cls._get(context, host, host=host, binary=COMPUTE_BINARY)
        except exception.ServiceNotFound:
            raise exception.ComputeHostNotFound(host=host) from None


# Version 1.0: initial
@base.HoststateObjectRegistry.register
class ServiceList(base.RowObjectList, base.HoststateObjectListBase,
                  base.HoststateObject):
    VERSION = "1.0"
    fields = {"objects": fields.ListOfObjectsField("Service")}

    @classmethod
    @base.remotable
    def get_all(cls, context, disabled=None):
        if disabled is None:
            return cls._list(context)
        return cls._list(context, disabled=disabled)

    @classmethod
    @base.remotable
    def get_by_binary(cls, context, binary, include_disabled=False):
        if include_disabled:
            return cls._list(context, binary=binary)
        return cls._list(context, binary=binary, disabled=False)

    @classmethod
    @base.remotable
    def get_by_host(cls, context, host):
        return cls._list(context, host=host)

    @classmethod
    @base.remotable
    def get_by_topic(cls, context, topic):
        return cls._list(context, topic=topic)
