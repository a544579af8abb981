"""What changed in an object, and forgetting it, without ovo's per-field
``obj_attr_is_set`` (which lists the fields on every call): reading a
row back into an object resets its changes recursively, and the tracker
asks what changed before every write, so these ran for every field of
every child object many times per request."""
from oslo_versionedobjects import base as ovo_base
from oslo_versionedobjects import fields as ovo_fields

from hoststate.objects import attrs

_CHILDREN = {}


def what_changed(obj):
    """Changed fields of ``obj``, including those whose child object
    changed inside, and lists whose objects changed inside (ovo notices
    the first but not the second: a NUMA cell of a topology; a save must
    see both)."""
    changes = set(obj._changed_fields)
    attributes = obj.__dict__
    for name, attribute, is_list in _children(type(obj)):
        if name in changes:
            continue
        value = attributes.get(attribute)
        if value is None:
            continue
        if isinstance(value, ovo_base.VersionedObject):
            if value.obj_what_changed():
                changes.add(name)
        elif is_list and any(item.obj_what_changed() for item in value):
            changes.add(name)
    return changes


def reset_changes(obj, fields=None, recursive=False):
    """What ovo's ``obj_reset_changes`` does: with ``recursive`` the child
    objects (and list items) of the changed fields are reset too; only the
    top level honours ``fields``."""
    if recursive:
        attributes = obj.__dict__
        for name in what_changed(obj):
            if fields and name not in fields:
                continue
            value = attributes.get(attrs.PREFIX + name)
            if value is None:
                continue
            field = obj.fields[name]
            if isinstance(field, ovo_fields.ObjectField):
                value.obj_reset_changes(recursive=True)
            elif isinstance(field, ovo_fields.ListOfObjectsField):
                for thing in value:
                    thing.obj_reset_changes(recursive=True)
    if fields:
        obj._changed_fields -= set(fields)
    else:
        obj._changed_fields.clear()


def _children(cls):
    """[(field name, attribute, whether a list of objects)] of every field
    of ``cls``: where a changed child object may hide (built once)."""
    found = _CHILDREN.get(cls)
    if found is None:
        found = _CHILDREN[cls] = [
            (name, attrs.PREFIX + name,
             isinstance(field, ovo_fields.ListOfObjectsField))
            for name, field in cls.fields.items()]
    return found


def sorted_in(obj, primitive):
    """``primitive`` (``obj``'s) with its list of changed fields sorted:
    ovo lists a set, whose order differs between processes and between
    two loads of one object; sorted, one object always has one primitive
    (and ``==`` between objects, which compares primitives, is stable).
    Returns ``primitive``."""
    key = obj._obj_primitive_key("changes")
    if key in primitive:
        primitive[key] = sorted(primitive[key])
    return primitive
