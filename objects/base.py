"""The base of every hoststate versioned object.

What hoststate adds to oslo.versionedobjects:

* its own registry and serial namespace (``hoststate_object.*``), so a
  primitive says which project's schema it follows;
* strict input: an unknown field name or a value a field cannot hold raises a
  typed error naming the object, the field and the value, *before* anything
  is changed or written (ovo on its own raises bare ValueErrors, and silently
  keeps attributes that are not fields);
* table-driven backports: ``FIELDS_ADDED`` maps a field to the version that
  introduced it, and ``obj_make_compatible`` drops it for older targets;
* helpers to load an object from a database row and to turn its changes back
  into column values.
"""
import datetime
import re
import warnings

import netaddr
from oslo_utils import uuidutils
from oslo_utils import versionutils

# oslo.versionedobjects imports oslo.messaging, whose dependencies
# (oslo.service, futurist) import eventlet, which prints a deprecation
# banner on stderr when first imported. hoststate never uses eventlet;
# this is the first hoststate module to import oslo.versionedobjects, so
# the banner is silenced here, for that import only (the process's
# warning filters are left as they were).
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")
    from oslo_versionedobjects import base as ovo_base
    from oslo_versionedobjects import exception as ovo_exception
    from oslo_versionedobjects import fields as ovo_fields

from hoststate import exception
from hoststate.conf import utils as conf_utils
from hoststate.db import api as db_api
from hoststate.objects import attrs
from hoststate.objects import changes
from hoststate.objects import copying
from hoststate.objects import indirection
from hoststate.objects import row_loading

remotable = ovo_base.remotable
remotable_classmethod = ovo_base.remotable_classmethod


class HoststateObjectRegistry(ovo_base.VersionedObjectRegistry):
    """hoststate's object registry.

    oslo.versionedobjects keeps one process-wide table of classes (its
    serializer and ``remotable`` look classes up there); this registry also
    keeps hoststate's own index, ``hoststate_classes``, which the fingerprint
    test and the conductor use, so objects another library registers never
    mix into hoststate's version checks.
    """

    hoststate_classes = {}

    def _register_class(self, cls):
        super()._register_class(cls)
        versions = self.hoststate_classes.setdefault(cls.obj_name(), [])
        versions[:] = [c for c in versions if c.VERSION != cls.VERSION] + [cls]
        versions.sort(key=lambda c: versionutils.convert_version_to_tuple(
            c.VERSION), reverse=True)

    @classmethod
    def newest(cls, name):
        """The newest registered class called ``name``."""
        return cls.hoststate_classes[name][0]


def _version_tuple(version):
    return versionutils.convert_version_to_tuple(version)


class HoststateObject(ovo_base.VersionedObject,
                      ovo_base.ComparableVersionedObject):
    """Base class of hoststate's versioned objects."""

    OBJ_SERIAL_NAMESPACE = "hoststate_object"
    OBJ_PROJECT_NAMESPACE = "hoststate"

    #: {field name: version that added it}; older targets lose the field.
    FIELDS_ADDED = {}

    #: where remotable calls go (see hoststate.objects.indirection)
    indirection_api = indirection.IndirectionSlot()

    def __init__(self, context=None, **kwargs):
        unknown = sorted(set(kwargs) - set(self.fields))
        if unknown:
            raise exception.UnknownObjectField(objname=self.obj_name(),
                                               field=unknown[0])
        super().__init__(context, **kwargs)

    def __setattr__(self, name, value):
        field = self.fields.get(name)
        if field is not None:
            self._set_coerced(name, field, self._checked(name, value))
            return
        if not name.startswith("_") and not hasattr(type(self), name):
            raise exception.UnknownObjectField(objname=self.obj_name(),
                                               field=name)
        super().__setattr__(name, value)

    def _set_coerced(self, name, field, value):
        """What ovo's field setter does, with the value coerced once
        (``_checked`` already did; ovo's setter would coerce it again,
        which doubled the cost of every assignment)."""
        attribute = attrs.PREFIX + name
        if field.read_only and attribute in self.__dict__:
            if self.__dict__[attribute] != value:
                raise ovo_exception.ReadOnlyFieldError(field=name)
            return
        self._changed_fields.add(name)
        object.__setattr__(self, attribute, value)

    def __deepcopy__(self, memo):
        """A deep copy made without coercing any field again: the values
        were checked when they were set, and coercing them once more made
        copying a compute node cost milliseconds. The context is shared,
        as ovo shares it."""
        clone = type(self).__new__(type(self))
        memo[id(self)] = clone
        for key, value in self.__dict__.items():
            object.__setattr__(clone, key, value if key == "_context"
                               else copying.copied(value, memo))
        return clone

    def _checked(self, name, value):
        """``value`` coerced for field ``name``, or a typed error naming both.

        Booleans and UUIDs are strict (see ``_check_strict``); numbers and
        strings are bounded by their field types (see ``bounded.py``).
        A plain value already of the field's type and within its bounds is
        returned as it is, without the machinery (``row_loading``).
        """
        fast = row_loading.plan(type(self))[name][0](value)
        if fast is not row_loading.SLOW:
            return fast
        field = self.fields[name]
        try:
            if value is None and not field.nullable:
                # ovo would quietly substitute the default, if there is one
                raise ValueError(f"field {name} cannot be None")
            if value is not None:
                _check_strict(field, value)
            return field.coerce(self, name, value)
        except (ValueError, TypeError, OverflowError, RecursionError) as exc:
            raise field_invalid(self.obj_name(), name, value, exc) from None

    @classmethod
    def _obj_from_primitive(cls, context, objver, primitive):
        """ovo's, with each field's value given to the checked setter
        directly (``__setattr__`` would look the field up again): a
        RequestSpec and its Selections are loaded on every select."""
        self = cls()
        self._context = context
        self.VERSION = objver
        data = cls._obj_primitive_field(primitive, "data")
        for name, field in self.fields.items():
            if name in data:
                value = field.from_primitive(self, name, data[name])
                self._set_coerced(name, field, self._checked(name, value))
        self._changed_fields = {
            name for name in cls._obj_primitive_field(primitive, "changes", [])
            if name in self.fields}
        return self

    def obj_attr_is_set(self, attrname):
        """ovo's answer, without building the list of every field name on
        each call (ovo's serializer asks once per field): a field is set
        when its attribute is in the instance's ``__dict__``; any other
        name is ovo's to answer (extra fields; AttributeError)."""
        if attrname in self.fields:
            return attrs.PREFIX + attrname in self.__dict__
        return super().obj_attr_is_set(attrname)

    def obj_what_changed(self):
        """Changed fields, including lists whose objects changed inside
        (see ``changes.what_changed``)."""
        return changes.what_changed(self)

    def obj_reset_changes(self, fields=None, recursive=False):
        """ovo's, faster (see ``changes.reset_changes``)."""
        changes.reset_changes(self, fields, recursive)

    @classmethod
    def trusted(cls, **values):
        """An object from values hoststate itself made, already of their
        fields' types: set without coercion or checks.

        Only for hot paths that build results from their own data (the
        scheduler makes several Selections per request, and coercing their
        fields costs more than choosing the host); never for input from a
        caller, which must go through the checked constructor.
        """
        obj = cls.__new__(cls)
        # straight into the instance's __dict__: the same attributes as
        # object.__setattr__ one by one would make, at a third of the cost
        found = obj.__dict__
        found["_context"] = None
        found["_changed_fields"] = set(values)
        for name, value in values.items():
            found[attrs.PREFIX + name] = value
        return obj

    def update(self, values):
        """Set several fields at once; all are checked before any is set
        (and each is coerced once: the checked value is the one set)."""
        checked = {}
        for name, value in values.items():
            if name not in self.fields:
                raise exception.UnknownObjectField(objname=self.obj_name(),
                                                   field=name)
            checked[name] = self._checked(name, value)
        for name, value in checked.items():
            self._set_coerced(name, self.fields[name], value)

    def obj_make_compatible(self, primitive, target_version):
        super().obj_make_compatible(primitive, target_version)
        target = _version_tuple(target_version)
        for name, added in self.FIELDS_ADDED.items():
            if target < _version_tuple(added):
                primitive.pop(name, None)

    def obj_to_primitive(self, target_version=None, version_manifest=None):
        """Serialise, at ``target_version`` if given.

        Without a manifest, child objects are sent at the versions this
        process knows; a peer that is older passes its own manifest (as
        the conductor does), which pins every child too.
        """
        if target_version is not None and version_manifest is None:
            version_manifest = ovo_base.obj_tree_get_versions(self.obj_name())
        primitive = super().obj_to_primitive(target_version=target_version,
                                             version_manifest=version_manifest)
        return changes.sorted_in(self, primitive)

    def obj_get(self, name, default=None):
        """A field's value, or ``default`` when it is not set (an unknown
        name raises AttributeError, as ``obj_attr_is_set`` does).

        ``obj_attr_is_set`` builds the list of field names on every call;
        a scheduler asks a few dozen times per request, so the set value
        is read where oslo.versionedobjects keeps it (``attrs``)."""
        if name not in self.fields:
            self.obj_attr_is_set(name)          # raises for unknown names
        return attrs.set_value(self, name, default)


def field_invalid(objname, field, value, exc):
    """ObjectFieldInvalid for ``value`` of ``objname.field``, refused with
    ``exc``: the message is one line that quotes a long value (a megabyte
    string, a list of a million names) abbreviated; ``.value`` keeps it
    whole."""
    facts = dict(objname=objname, field=field,
                 reason=conf_utils.shorten(exc) or type(exc).__name__)
    message = exception.ObjectFieldInvalid.msg_fmt % dict(
        facts, value=conf_utils.ShortRepr(value))
    return exception.ObjectFieldInvalid(message, value=value, **facts)


_CANONICAL_UUID = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def is_uuid_like(value):
    """``uuidutils.is_uuid_like``, without its parse for a text in the
    canonical form (``str(uuid.UUID(...))``): a scheduler checks every
    instance uuid of every request."""
    return bool(isinstance(value, str) and _CANONICAL_UUID.fullmatch(value)) \
        or uuidutils.is_uuid_like(value)


def _check_strict(field, value):
    """Refuse what ovo would silently accept.

    ovo turns any value (even "no") into True for a boolean, and only warns
    about a UUID field given something that is not a UUID; both hide a
    caller's mistake until much later.
    """
    if isinstance(field._type, ovo_fields.Boolean):
        if not isinstance(value, bool) and value not in (0, 1):
            raise ValueError("a boolean is required")
    elif isinstance(field._type, ovo_fields.UUID):
        if not is_uuid_like(value):
            raise ValueError("a UUID is required")


class HoststateObjectListBase(ovo_base.ObjectListBase):
    """Lists hold objects in ``objects``; one version history per list."""


class RowObject:
    """An object stored as one row of ``TABLE``: the reads and writes every
    such object shares.

    Subclasses set ``TABLE`` and ``NOT_FOUND`` (raised as
    ``NOT_FOUND(key=...)``) and override ``_from_db_object`` when a column
    needs converting (JSON documents, child objects).
    """

    TABLE = None
    NOT_FOUND = exception.NotFound

    @staticmethod
    def _from_db_object(context, obj, row):
        return load_row(obj, context, row)

    @classmethod
    def _get(cls, context, key, **equals):
        """The one live row matching ``equals``, or NOT_FOUND(key=key)."""
        with db_api.reading(context) as conn:
            row = db_api.select_one(conn, cls.TABLE, cls.NOT_FOUND(key=key),
                                    context.read_deleted, **equals)
        return cls._from_db_object(context, cls(), row)

    def _insert(self, values):
        """Insert ``values`` as this object's row, then load the row back."""
        if self.obj_attr_is_set("id"):
            raise exception.ObjectActionError(action="create",
                                              reason="already created")
        with db_api.transaction(self._context) as conn:
            row = db_api.insert_row(conn, self.TABLE, values)
        self._from_db_object(self._context, self, row)

    def _update(self, values, **constraint):
        """Write ``values`` to this object's row (no generation check)."""
        try:
            with db_api.transaction(self._context) as conn:
                row = db_api.update_row(conn, self.TABLE, self.id, values,
                                        **constraint)
        except exception.NotFound as exc:
            if isinstance(exc, self.NOT_FOUND):
                raise
            raise self.NOT_FOUND(key=self.obj_get("uuid", self.id)) from exc
        self._from_db_object(self._context, self, row)

    def _set_new_uuid(self):
        if not self.obj_attr_is_set("uuid"):
            self.uuid = uuidutils.generate_uuid()

    def _delete(self, **constraint):
        """Delete this object's row (soft where the table keeps history)."""
        try:
            with db_api.transaction(self._context) as conn:
                db_api.delete_row(conn, self.TABLE, self.id, **constraint)
        except exception.NotFound as exc:
            if isinstance(exc, self.NOT_FOUND):
                raise
            raise self.NOT_FOUND(key=self.obj_get("uuid", self.id)) from exc
        if "deleted" in self.fields:
            self.deleted = True
        self.obj_reset_changes(recursive=True)


class RowObjectList:
    """A list of RowObjects read with one query."""

    @classmethod
    def _list(cls, context, where=(), **equals):
        item_cls = HoststateObjectRegistry.newest(
            cls.fields["objects"]._type._element_type._type._obj_name)
        with db_api.reading(context) as conn:
            rows = db_api.select_rows(conn, item_cls.TABLE,
                                      context.read_deleted, where=where,
                                      **equals)
        return ovo_base.obj_make_list(context, cls(context), rows)


class TimestampedObject:
    """Fields of every row: when it was created and last updated."""

    fields = {
        "created_at": ovo_fields.DateTimeField(nullable=True),
        "updated_at": ovo_fields.DateTimeField(nullable=True),
    }


class SoftDeletedObject(TimestampedObject):
    """Fields of rows that are soft-deleted, as Nova's are."""

    fields = dict(TimestampedObject.fields, **{
        "deleted_at": ovo_fields.DateTimeField(nullable=True),
        "deleted": ovo_fields.BooleanField(default=False),
    })


def column_value(value):
    """A field value in the form its database column stores.

    Datetimes become naive UTC; IP addresses (netaddr) become text.
    """
    if isinstance(value, datetime.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(datetime.timezone.utc).replace(tzinfo=None)
        return value
    if isinstance(value, netaddr.IPAddress):
        return str(value)
    return value


def load_row(obj, context, row, skip=()):
    """Copy the columns of ``row`` into the same-named fields of ``obj``.

    ``deleted`` is the soft-delete marker (0 or the row id) in the database
    and a boolean on objects. Fields in ``skip`` are left for the caller to
    convert (JSON documents, child objects).
    """
    row_loading.load(obj, row, skip)
    obj._context = context
    obj.obj_reset_changes(recursive=True)
    return obj


def changed_columns(obj, table, skip=()):
    """Column values for the changed fields of ``obj`` that ``table`` has."""
    values = {}
    for name in obj.obj_what_changed():
        if name in skip or name not in table.c or name in ("id", "deleted"):
            continue
        values[name] = column_value(getattr(obj, name))
    return values
