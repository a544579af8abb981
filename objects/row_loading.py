"""Loading a database row into an object without coercing it again.

A row read back from hoststate's own tables holds values of the right
types already: integers within their columns, text, naive UTC datetimes.
Setting each through the checked ``__setattr__`` coerced every one of
them (bounds, text checks, ovo's nullable handling) and was most of what
reading an instance or a compute node cost. ``fast_check(field)`` is a
function that returns the value the field's own ``coerce`` would store,
when that is plain to see (an ``int`` within the bounds, ASCII text
within its length, a naive datetime), and ``SLOW`` otherwise: the caller
then sets the value the checked way, which stores it or raises the same
typed error as before. Nothing that ``coerce`` would refuse or change in
another way takes the fast path.
"""
import datetime
import math
import re

from oslo_versionedobjects import fields as ovo_fields

from hoststate.objects import attrs
from hoststate.objects import bounded

#: the value was not checked fast: set it the checked way
SLOW = object()

_CANONICAL_UUID = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_UTC = datetime.timezone.utc

_PLANS = {}


def plan(cls):
    """{field name: (fast check, read only)} of ``cls``, built once."""
    found = _PLANS.get(cls)
    if found is None:
        found = _PLANS[cls] = {
            name: (fast_check(field), field.read_only)
            for name, field in cls.fields.items()}
    return found


def fast_check(field):
    """value -> the value ``field.coerce`` stores, or SLOW (see the module
    docstring)."""
    kind = field._type
    check = _checker(kind)
    nullable = field.nullable

    def checked(value):
        if value is None:
            return None if nullable else SLOW
        return check(value)
    return checked


def _checker(kind):
    coerce = type(kind).coerce
    if coerce is bounded.Integer.coerce:
        return _integer(kind.low, kind.high)
    if coerce is bounded.Float.coerce:
        return _float(kind.low, kind.high)
    if coerce is bounded.String.coerce and kind.pattern is None:
        return _string(kind.min_length, kind.length)
    if coerce is ovo_fields.Boolean.coerce:
        return lambda value: value if type(value) is bool else SLOW
    if coerce is ovo_fields.UUID.coerce:
        return lambda value: value if type(value) is str and \
            _CANONICAL_UUID.fullmatch(value) else SLOW
    if coerce is ovo_fields.DateTime.coerce and kind.tzinfo_aware:
        return _datetime
    return lambda value: SLOW


def _integer(low, high):
    return _number(int, low, high)


def _float(low, high):
    return _number(float, low, high)


def _number(kind, low, high):
    """A check of a value already ``kind`` (finite, for floats) within
    [low, high]; anything else goes the checked way."""
    def check(value):
        if type(value) is kind and (kind is int or math.isfinite(value)) \
                and (low is None or value >= low) and (
                high is None or value <= high):
            return value
        return SLOW
    return check


def _string(min_length, length):
    def check(value):
        if type(value) is str and min_length <= len(value) <= length and \
                value.isascii() and "\x00" not in value:
            return value
        return SLOW
    return check


def _datetime(value):
    if type(value) is datetime.datetime and value.tzinfo is None:
        return value.replace(tzinfo=_UTC)
    return SLOW


def load(obj, row, skip=()):
    """Set the fields of ``obj`` named by columns of ``row`` (not those in
    ``skip``): fast where ``fast_check`` can, the checked way otherwise.
    ``deleted`` (0 or the row id in the database) becomes a boolean.
    Marks nothing changed; the caller resets the changes anyway."""
    attributes = obj.__dict__
    # one dict look-up per field: asking a SQLAlchemy row mapping whether
    # it has a key, then for it, cost more than checking the value
    get = (row if type(row) is dict else dict(row)).get
    for name, attribute, check, read_only in _steps(type(obj)):
        if name in skip:
            continue
        value = get(name, _ABSENT)
        if value is _ABSENT:
            continue
        if name == "deleted":
            value = bool(value)
        fast = check(value)
        if fast is SLOW or (read_only and attribute in attributes):
            setattr(obj, name, value)
        else:
            attributes[attribute] = fast


#: a column the row does not have
_ABSENT = object()
_STEPS = {}


def _steps(cls):
    """[(field name, its attribute, fast check, read only)] of ``cls``:
    ``plan`` as ``load`` walks it, built once."""
    found = _STEPS.get(cls)
    if found is None:
        found = _STEPS[cls] = [
            (name, attrs.PREFIX + name, check, read_only)
            for name, (check, read_only) in plan(cls).items()]
    return found
