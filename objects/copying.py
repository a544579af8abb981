"""Deep copies of object attribute values, without the generic machinery
where the value is plain (see ``copied``)."""
import copy
import datetime

from oslo_versionedobjects import fields as ovo_fields

#: values copying keeps as they are: nothing can change them in place
_IMMUTABLE = frozenset((int, float, str, bool, type(None), bytes,
                        datetime.datetime, datetime.date))


def copied(value, memo):
    """A deep copy of one attribute value: immutable scalars as they are,
    sets of them and lists and dicts directly, everything else (objects,
    anything unusual) through ``copy.deepcopy``. A node's NUMA cells are
    sets and lists of numbers: copying them the generic way was most of
    what cloning a node cost."""
    kind = type(value)
    if kind in _IMMUTABLE:
        return value
    found = memo.get(id(value))
    if found is not None:
        return found
    if kind is set and all(type(item) in _IMMUTABLE for item in value):
        clone = set(value)
    elif kind is list:
        clone = memo[id(value)] = []
        clone.extend(copied(item, memo) for item in value)
        return clone
    elif kind is dict:
        clone = memo[id(value)] = {}
        for key, item in value.items():
            clone[key if type(key) in _IMMUTABLE
                  else copy.deepcopy(key, memo)] = copied(item, memo)
        return clone
    elif isinstance(value, ovo_fields.CoercedCollectionMixin):
        return _coerced_collection(value, memo)
    else:
        return copy.deepcopy(value, memo)
    memo[id(value)] = clone
    return clone


def _coerced_collection(value, memo):
    """A copy of ovo's coercing set, list or dict (a field's value): its
    items copied, coercion enabled as on the original (element type, key
    checks), for the copy of the object that holds it. The items were
    coerced when they were added and are not coerced again
    (``copy.deepcopy`` also copied the field types themselves, every
    time)."""
    kind = type(value)
    clone = memo[id(value)] = kind.__new__(kind)
    if isinstance(value, dict):
        dict.update(clone, ((key if type(key) in _IMMUTABLE
                             else copy.deepcopy(key, memo),
                             copied(item, memo))
                            for key, item in value.items()))
    elif isinstance(value, set):
        set.update(clone, (copied(item, memo) for item in value))
    else:
        list.extend(clone, (copied(item, memo) for item in value))
    for name, attribute in value.__dict__.items():
        clone.__dict__[name] = copy.deepcopy(attribute, memo) \
            if name == "_obj" else attribute
    return clone
