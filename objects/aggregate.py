"""Aggregate: a named set of hosts with key/value metadata.

Schedulers read aggregates to place by availability zone, tenancy, flavor
extra specs and per-aggregate allocation ratios. Membership and metadata live
in their own tables (``aggregate_hosts``, ``aggregate_metadata``) and change
only through ``add_host``/``delete_host``/``update_metadata``: each of those
is one small transaction, so two operators editing different keys or hosts
of one aggregate never overwrite each other, which a whole-object ``save``
would.
"""
import collections

from oslo_utils import uuidutils

from hoststate import exception
from hoststate.db import api as db_api
from hoststate.db import schema
from hoststate.objects import base
from hoststate.objects import fields

#: Longest key or value the aggregate_metadata columns hold.
MAX_METADATA_LENGTH = 255

AZ_KEY = schema.AZ_KEY


def _hosts_by_aggregate(conn, aggregate_ids):
    found = collections.defaultdict(list)
    if aggregate_ids:
        for row in db_api.select_rows(conn, schema.aggregate_hosts,
                                      aggregate_id=list(aggregate_ids)):
            found[row["aggregate_id"]].append(row["host"])
    return found


def _metadata_by_aggregate(conn, aggregate_ids):
    found = collections.defaultdict(dict)
    if aggregate_ids:
        for row in db_api.select_rows(conn, schema.aggregate_metadata,
                                      aggregate_id=list(aggregate_ids)):
            found[row["aggregate_id"]][row["key"]] = row["value"]
    return found


def _aggregate_rows(conn, ids):
    """Aggregate rows with these ids, each with its hosts and metadata."""
    if not ids:
        return []
    rows = db_api.select_rows(conn, schema.aggregates, id=sorted(ids))
    hosts = _hosts_by_aggregate(conn, ids)
    metadata = _metadata_by_aggregate(conn, ids)
    return [(row, hosts[row["id"]], metadata[row["id"]]) for row in rows]


# Version 1.0: initial version
@base.HoststateObjectRegistry.register
class Aggregate(base.HoststateObject, base.TimestampedObject):
    VERSION = "1.0"

    fields = {
        "id": fields.IntegerField(read_only=True),
        "uuid": fields.UUIDField(read_only=True),
        "name": fields.StringField(),
        "hosts": fields.ListOfStringsField(default=[]),
        "metadata": fields.DictOfStringsField(default={}),
    }

    @property
    def availability_zone(self):
        """The zone named in the metadata; derived, so it cannot disagree."""
        return self.obj_get("metadata", {}).get(AZ_KEY)

    @staticmethod
    def _from_db_object(context, aggregate, row, hosts=(), metadata=None):
        base.load_row(aggregate, context, row)
        aggregate.hosts = list(hosts)
        aggregate.metadata = dict(metadata or {})
        aggregate.obj_reset_changes()
        return aggregate

    # --- reads -----------------------------------------------------------

    @classmethod
    @base.remotable
    def get_by_id(cls, context, aggregate_id):
        return cls._get(context, exception.AggregateNotFound(key=aggregate_id),
                        id=aggregate_id)

    @classmethod
    @base.remotable
    def get_by_uuid(cls, context, aggregate_uuid):
        return cls._get(context,
                        exception.AggregateNotFound(key=aggregate_uuid),
                        uuid=aggregate_uuid)

    @classmethod
    def _get(cls, context, not_found, **equals):
        with db_api.transaction(context) as conn:
            row = db_api.select_one(conn, schema.aggregates, not_found,
                                    **equals)
            ((row, hosts, metadata),) = _aggregate_rows(conn, [row["id"]])
        return cls._from_db_object(context, cls(), row, hosts, metadata)

    # --- the aggregate row -----------------------------------------------

    @base.remotable
    def create(self):
        """Insert the aggregate with its initial metadata, in one transaction.

        Hosts cannot be given here: they join with ``add_host``, which checks
        each one on its own.
        """
        if self.obj_attr_is_set("id"):
            raise exception.ObjectActionError(action="create",
                                              reason="already created")
        self._refuse_inline_changes("create", ("hosts",))
        if not self.obj_attr_is_set("name"):
            raise exception.ObjectActionError(action="create",
                                              reason="name is not set")
        metadata = self._checked_metadata(self.obj_get("metadata", {}))
        if not self.obj_attr_is_set("uuid"):
            self.uuid = uuidutils.generate_uuid()
        values = base.changed_columns(self, schema.aggregates)
        with db_api.transaction(self._context) as conn:
            row = db_api.insert_row(conn, schema.aggregates, values)
            for key, value in metadata.items():
                db_api.insert_row(conn, schema.aggregate_metadata, {
                    "aggregate_id": row["id"], "key": key, "value": value})
        self._from_db_object(self._context, self, row, (), metadata)

    @base.remotable
    def save(self):
        """Rename the aggregate; nothing else is saved this way."""
        self._refuse_inline_changes("save", ("hosts", "metadata"))
        values = base.changed_columns(self, schema.aggregates)
        if not values:
            return
        try:
            with db_api.transaction(self._context) as conn:
                row = db_api.update_row(conn, schema.aggregates, self.id,
                                        values)
        except exception.NotFound as exc:
            raise exception.AggregateNotFound(key=self.id) from exc
        base.load_row(self, self._context, row)

    @base.remotable
    def destroy(self):
        """Delete the aggregate; hosts and metadata go with it (cascade)."""
        try:
            with db_api.transaction(self._context) as conn:
                db_api.delete_row(conn, schema.aggregates, self.id)
        except exception.NotFound as exc:
            raise exception.AggregateNotFound(key=self.id) from exc

    def _refuse_inline_changes(self, action, names):
        changed = sorted(set(names) & self.obj_what_changed())
        if changed:
            raise exception.ObjectActionError(
                action=action,
                reason=f"{', '.join(changed)} change only through "
                       f"add_host/delete_host/update_metadata")

    # --- membership ------------------------------------------------------

    @base.remotable
    def add_host(self, host):
        """Add ``host``; DuplicateRecord if it is already a member."""
        with db_api.transaction(self._context) as conn:
            self._require_row(conn)
            db_api.insert_row(conn, schema.aggregate_hosts,
                              {"aggregate_id": self.id, "host": host})
            hosts = _hosts_by_aggregate(conn, [self.id])[self.id]
        self._set_loaded("hosts", hosts)

    @base.remotable
    def delete_host(self, host):
        """Remove ``host``; AggregateHostNotFound if it is not a member."""
        with db_api.transaction(self._context) as conn:
            row = db_api.select_one(
                conn, schema.aggregate_hosts,
                exception.AggregateHostNotFound(aggregate_id=self.id,
                                                host=host),
                aggregate_id=self.id, host=host)
            db_api.delete_row(conn, schema.aggregate_hosts, row["id"])
            hosts = _hosts_by_aggregate(conn, [self.id])[self.id]
        self._set_loaded("hosts", hosts)

    def _set_loaded(self, name, value):
        """Set a field to what was committed: it is not an unsaved change."""
        setattr(self, name, value)
        self.obj_reset_changes([name])

    def _require_row(self, conn):
        """Fail with AggregateNotFound, not a foreign-key error, if gone."""
        db_api.select_one(conn, schema.aggregates,
                          exception.AggregateNotFound(key=self.id), id=self.id)

    # --- metadata --------------------------------------------------------

    @base.remotable
    def update_metadata(self, updates):
        """Set the keys of ``updates``; a None value deletes its key.

        Deleting a key that is not there is not an error (the caller's wish,
        no such key, holds). Every value is checked before anything is
        written, and all of ``updates`` is applied in one transaction.
        """
        updates = self._checked_metadata(updates, allow_none=True)
        with db_api.transaction(self._context) as conn:
            self._require_row(conn)
            existing = {row["key"]: row for row in db_api.select_rows(
                conn, schema.aggregate_metadata, aggregate_id=self.id,
                key=list(updates))} if updates else {}
            for key, value in updates.items():
                _write_metadata_key(conn, self.id, key, value,
                                    existing.get(key))
            metadata = _metadata_by_aggregate(conn, [self.id])[self.id]
        self._set_loaded("metadata", metadata)

    def _checked_metadata(self, metadata, allow_none=False):
        """``metadata`` with its values as strings, or ObjectFieldInvalid.

        Checked entry by entry before anything is written, so one bad entry
        leaves the stored metadata as it was. The caller's dict is not
        changed.
        """
        try:
            if not isinstance(metadata, dict):
                raise ValueError(f"expected a dict, not {type(metadata)}")
            return {key: _checked_entry(self, key, value, allow_none)
                    for key, value in metadata.items()}
        except (ValueError, TypeError) as exc:
            raise base.field_invalid(self.obj_name(), "metadata", metadata,
                                     str(exc)) from None


_STRING = fields.StringField()


def _checked_entry(aggregate, key, value, allow_none):
    """One metadata value as a string (None kept when it means delete)."""
    if not isinstance(key, str) or not key:
        raise ValueError(f"key {key!r} is not a non-empty string")
    if value is None and allow_none:
        return None
    value = _STRING.coerce(aggregate, "metadata", value)
    for text in (key, value):
        if len(text) > MAX_METADATA_LENGTH:
            raise ValueError(f"{text[:20]!r}... is longer than "
                             f"{MAX_METADATA_LENGTH} characters")
    return value


def _write_metadata_key(conn, aggregate_id, key, value, existing_row):
    """Insert, update or delete one metadata key (None value deletes)."""
    table = schema.aggregate_metadata
    if value is None:
        if existing_row is not None:
            db_api.delete_row(conn, table, existing_row["id"])
    elif existing_row is None:
        db_api.insert_row(conn, table, {"aggregate_id": aggregate_id,
                                        "key": key, "value": value})
    elif existing_row["value"] != value:
        db_api.update_row(conn, table, existing_row["id"], {"value": value})


# Version 1.0: initial version
@base.HoststateObjectRegistry.register
class AggregateList(base.HoststateObjectListBase, base.HoststateObject):
    VERSION = "1.0"

    fields = {"objects": fields.ListOfObjectsField("Aggregate")}

    @classmethod
    def _from_ids(cls, context, conn, ids):
        aggregates = cls(context, objects=[
            Aggregate._from_db_object(context, Aggregate(), row, hosts, meta)
            for row, hosts, meta in _aggregate_rows(conn, ids)])
        aggregates.obj_reset_changes()
        return aggregates

    @classmethod
    @base.remotable
    def get_all(cls, context):
        with db_api.transaction(context) as conn:
            ids = [r["id"] for r in db_api.select_rows(conn,
                                                       schema.aggregates)]
            return cls._from_ids(context, conn, ids)

    @classmethod
    @base.remotable
    def get_by_host(cls, context, host, key=None):
        """Aggregates ``host`` is in; with ``key``, only those having it."""
        with db_api.transaction(context) as conn:
            ids = {r["aggregate_id"] for r in db_api.select_rows(
                conn, schema.aggregate_hosts, host=host)}
            if key is not None:
                ids &= _ids_with_key(conn, key)
            return cls._from_ids(context, conn, ids)

    @classmethod
    @base.remotable
    def get_by_metadata_key(cls, context, key, hosts=None):
        """Aggregates with metadata ``key``; with ``hosts``, only those
        containing at least one of them."""
        with db_api.transaction(context) as conn:
            ids = _ids_with_key(conn, key)
            if hosts is not None:
                ids &= {r["aggregate_id"] for r in db_api.select_rows(
                    conn, schema.aggregate_hosts, host=list(hosts))}
            return cls._from_ids(context, conn, ids)


def _ids_with_key(conn, key):
    return {r["aggregate_id"] for r in db_api.select_rows(
        conn, schema.aggregate_metadata, key=key)}
