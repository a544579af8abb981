"""The conductor's object endpoint: remotable calls of agents without a
database, run here against the cell database.

oslo.versionedobjects sends a remotable call to the process's indirection
API; an agent's is :class:`hoststate.conductor.rpcapi.ConductorAPI`, whose
three calls land here:

* ``object_class_action_versions``: a remotable classmethod (a read, a bulk
  save); the answer is expressed at the versions the caller listed in its
  manifest, so an agent a release older gets objects it can load;
* ``object_action``: a remotable method of an object the caller sent; the
  answer is the method's result and the fields the method changed, which
  the caller's ovo copies into its own object;
* ``object_backport_versions``: an object the caller received and cannot
  load (too new), expressed again at the versions it knows.

Every call is checked first (:mod:`hoststate.conductor.policy`): the
allow-list, then, for a write, that the caller owns the row as sent and as
stored. A refusal is logged and raised as a typed error; nothing is
written.
"""
import logging

import oslo_messaging as messaging
from oslo_utils import versionutils

from hoststate import exception
from hoststate.conductor import policy
from hoststate.objects import base as obj_base
from hoststate.objects import indirection

LOG = logging.getLogger(__name__)

#: the object API's RPC version; history:
#: 1.0 - object_class_action_versions, object_action,
#:       object_backport_versions, ping
OBJECT_API_VERSION = "1.0"


class ObjectEndpoint:
    """Serves ovo's indirection API over the bus."""

    target = messaging.Target(namespace="objects", version=OBJECT_API_VERSION)

    @messaging.expose
    @messaging.expected_exceptions(exception.HoststateError)
    def object_class_action_versions(self, context, objname, objmethod,
                                     object_versions, args, kwargs):
        caller = context.service_host
        with _refusals_logged(objname, objmethod, caller):
            kind = policy.check_allowed(objname, objmethod, caller)
            if kind == policy.WRITE_EACH:
                for obj in _objects_written(objname, objmethod, caller,
                                            args, kwargs):
                    policy.check_owned(obj, objmethod, caller)
            elif kind == policy.WRITE_OWN_HOST:
                policy.check_host_argument(objname, objmethod, caller,
                                           kwargs)
            elif kind != policy.READ:
                policy.refuse(objname, objmethod, caller,
                              "a class method that writes needs its own "
                              "ownership rule")
            cls = class_named(objname)
            with indirection.serving_locally():
                result = getattr(cls, objmethod)(context, *args, **kwargs)
        return for_caller(result, object_versions)

    @messaging.expose
    @messaging.expected_exceptions(exception.HoststateError)
    def object_action(self, context, objinst, objmethod, args, kwargs):
        objname, caller = objinst.obj_name(), context.service_host
        with _refusals_logged(objname, objmethod, caller):
            if policy.check_allowed(objname, objmethod, caller) \
                    == policy.WRITE:
                policy.check_owned(objinst, objmethod, caller,
                                   stored_row_of(context, objinst))
            before = objinst.obj_clone()
            with indirection.serving_locally():
                result = getattr(objinst, objmethod)(*args, **kwargs)
        return changes_of(before, objinst), result

    @messaging.expose
    @messaging.expected_exceptions(exception.HoststateError)
    def object_backport_versions(self, context, objinst, object_versions):
        return for_caller(objinst, object_versions, always=True)

    @messaging.expose
    def ping(self, context):
        """An answer: an agent starting waits for one (see
        ``rpcapi.wait_for_conductor``)."""
        return "pong"


class _refusals_logged:
    """Log a refusal (the conductor's operator sees every forged or
    mistaken call) and let it reach the caller."""

    def __init__(self, objname, method, caller):
        self.what = (objname, method, caller)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if isinstance(exc, exception.ConductorRefused):
            LOG.warning("%s", exc)
        return False


def _objects_written(objname, method, caller, args, kwargs):
    """The objects a WRITE_EACH class method writes: its first argument
    after the context, which must be a list of this project's objects."""
    written = args[0] if args else next(iter(kwargs.values()), None)
    if not isinstance(written, (list, tuple)) or not all(
            isinstance(obj, obj_base.HoststateObject) for obj in written):
        policy.refuse(objname, method, caller,
                      "its first argument is not a list of objects")
    return written


def class_named(objname):
    try:
        return obj_base.HoststateObjectRegistry.newest(objname)
    except KeyError:
        raise exception.UnknownObject(
            objname=objname, version="", reason="no such class") from None


def stored_row_of(context, obj):
    """The stored row ``obj`` would write, as an object, or None when it
    has none yet (a create)."""
    if not obj.obj_attr_is_set("id"):
        return None
    cls, elevated = type(obj), context.with_read_deleted("yes")
    if hasattr(cls, "get_by_id"):
        def read():
            return cls.get_by_id(elevated, obj.id)
    elif hasattr(cls, "get_by_uuid") and obj.obj_attr_is_set("uuid"):
        def read():
            return cls.get_by_uuid(elevated, obj.uuid)
    else:
        policy.refuse(obj.obj_name(), "(read)", context.service_host,
                      "its stored row cannot be read to check its owner")
    with indirection.serving_locally():
        try:
            stored = read()
        except exception.NotFound:
            return None
    if stored.id != obj.id:      # the uuid names another row than the id
        policy.refuse(obj.obj_name(), "(read)", context.service_host,
                      f"its id {obj.id} is not its uuid's")
    return stored


def for_caller(result, object_versions, always=False):
    """``result`` as the caller can load it: a versioned object newer than
    the version its manifest names is sent as a primitive of that version
    (ovo's serializer on the caller's side loads it)."""
    if not isinstance(result, obj_base.HoststateObject):
        return result
    wanted = (object_versions or {}).get(result.obj_name())
    if wanted is None:
        return result
    asked = versionutils.convert_version_to_tuple(wanted)
    have = versionutils.convert_version_to_tuple(result.VERSION)
    if always or asked < have or asked[0] != have[0]:
        return result.obj_to_primitive(target_version=wanted,
                                       version_manifest=object_versions)
    return result


def changes_of(before, after):
    """The fields a method changed on ``after``, as primitives, and the
    names it left changed-but-unsaved (``obj_what_changed``)."""
    updates = {}
    for name, field in after.fields.items():
        if not after.obj_attr_is_set(name):
            continue
        if not before.obj_attr_is_set(name) \
                or getattr(before, name) != getattr(after, name):
            updates[name] = field.to_primitive(after, name,
                                               getattr(after, name))
    updates["obj_what_changed"] = sorted(after.obj_what_changed())
    return updates
