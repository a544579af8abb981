"""Field types that hold only what can be stored and computed with.

oslo.versionedobjects coerces generously: ``int(2.7)`` is 2, ``True`` is 1,
``float("nan")`` is a float, any iterable is a list (an endless generator
too) and a string may be a megabyte long. Each of those passes an object
and fails far away: in the database (a 256-character host name on
MySQL, a NUL byte on PostgreSQL, 2**31 in an Integer column) or in the
scheduler (NaN compares false with everything). The types here refuse
them on assignment, so an object only ever holds values that fit:

* integers are whole numbers (``2.0`` and ``"2"`` are 2; ``2.7``, ``1e3``
  as text, NaN, infinities and booleans are errors) in a range that
  defaults to the ``sa.Integer`` column, a signed 32-bit integer;
* floats are finite, within MySQL's 4-byte FLOAT by default;
* strings are text (no NUL, no lone surrogate, no boolean) of at most
  255 characters by default, the ``sa.String(255)`` columns;
* lists, sets and dicts are sized containers, of at most ``items``
  entries when a bound is given; a dict's keys are strings with their own
  bounds, checked also when the dict is changed in place (values too:
  ovo coerces them with the element type).

Each class keeps the name of the ovo class it refines: an object's
fingerprint hashes its fields' type names, and what goes on the wire is
unchanged (only what an object accepts is narrower), so no object version
changes.
"""
import collections.abc
import datetime
import decimal
import math
import numbers

from oslo_versionedobjects import fields as ovo_fields

from hoststate.conf import limits

# --- scalar conversions ------------------------------------------------------


def whole_number(value):
    """``value`` as an int, if it is one: an int, a numeral string, or a
    float or decimal with nothing after the point. ValueError or TypeError
    for anything else, never a silent truncation."""
    if type(value) is int:         # the common case, without ABC checks
        return value
    if isinstance(value, bool):
        raise TypeError("a boolean is not a number")
    if isinstance(value, int):
        return int(value)
    if isinstance(value, str):
        return int(value)          # "2.7", "1e3", "nan" are ValueErrors
    if isinstance(value, numbers.Integral):
        return int(value)          # numpy integers
    if isinstance(value, (numbers.Real, decimal.Decimal)):
        if not math.isfinite(value):
            raise ValueError("not a finite number")
        whole = int(value)
        if whole != value:
            raise ValueError("not a whole number")
        return whole
    raise TypeError("an integer is required, not a %s"
                    % type(value).__name__)


def finite_number(value):
    """``value`` as a finite float (numbers and numeral strings)."""
    if type(value) is float:       # the common case, without ABC checks
        number = value
    elif isinstance(value, bool):
        raise TypeError("a boolean is not a number")
    elif not isinstance(value, (numbers.Real, decimal.Decimal, str)):
        raise TypeError("a number is required, not a %s"
                        % type(value).__name__)
    else:
        try:
            number = float(value)
        except OverflowError:
            raise ValueError("too large for a float") from None
    if not math.isfinite(number):
        raise ValueError("not a finite number")
    return number


def text(value):
    """``value`` as a str: a str, or a number or datetime (which ovo's
    String also turns into text); never a boolean."""
    if isinstance(value, str):
        return str(value)
    if isinstance(value, bool):
        raise TypeError("a boolean is not a string")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("not a finite number")
    if isinstance(value, (int, float, datetime.datetime)):
        return str(value)
    raise TypeError("a string is required, not a %s" % type(value).__name__)


def in_range(number, low, high):
    if (low is not None and number < low) or (
            high is not None and number > high):
        raise ValueError("must be from %s to %s" % (
            "-inf" if low is None else low, "inf" if high is None else high))
    return number


def check_text(value, min_length, length, pattern=None):
    """``value`` if it is storable text of ``min_length`` to ``length``
    characters (matching ``pattern``, a compiled regex, if given)."""
    if len(value) > length:
        raise ValueError("longer than %d characters (%d)"
                         % (length, len(value)))
    if len(value) < min_length:
        raise ValueError("shorter than %d characters" % min_length)
    if "\x00" in value:
        raise ValueError("contains a NUL character")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("is not valid Unicode (a lone surrogate)") \
                from None
    if pattern is not None and pattern.fullmatch(value) is None:
        raise ValueError("does not match %s" % pattern.pattern)
    return value


# --- scalar types ------------------------------------------------------------

class Integer(ovo_fields.Integer):
    """A whole number from ``low`` to ``high`` (a 32-bit column's range by
    default)."""

    DEFAULT_LOW = limits.INT32_MIN

    def __init__(self, low=None, high=limits.INT32_MAX):
        self.low = self.DEFAULT_LOW if low is None else low
        self.high = high

    def coerce(self, obj, attr, value):
        return in_range(whole_number(value), self.low, self.high)

    def get_schema(self):
        return {"type": ["integer"], "minimum": self.low,
                "maximum": self.high}


class NonNegativeInteger(Integer):
    DEFAULT_LOW = 0


class Float(ovo_fields.Float):
    """A finite number from ``low`` to ``high`` (a FLOAT column's range by
    default)."""

    DEFAULT_LOW = -limits.FLOAT32_MAX

    def __init__(self, low=None, high=limits.FLOAT32_MAX):
        self.low = self.DEFAULT_LOW if low is None else low
        self.high = high

    def coerce(self, obj, attr, value):
        return in_range(finite_number(value), self.low, self.high)


class NonNegativeFloat(Float):
    DEFAULT_LOW = 0.0


class String(ovo_fields.String):
    """Text of ``min_length`` to ``length`` characters (255 by default,
    an ``sa.String(255)`` column), matching ``pattern`` when given."""

    def __init__(self, length=limits.NAME_LENGTH, min_length=0,
                 pattern=None):
        self.length = length
        self.min_length = min_length
        self.pattern = pattern

    def coerce(self, obj, attr, value):
        return check_text(text(value), self.min_length, self.length,
                          self.pattern)


# --- containers --------------------------------------------------------------

def _sized(value, items, what):
    """``value`` if it is a finite collection of at most ``items`` entries
    (a generator could be endless; ovo would drain it)."""
    if not isinstance(value, collections.abc.Collection) or isinstance(
            value, (str, bytes, collections.abc.Mapping)):
        raise ValueError("%s is required, not a %s"
                         % (what, type(value).__name__))
    if items is not None and len(value) > items:
        raise ValueError("more than %d entries (%d)" % (items, len(value)))
    return value


class List(ovo_fields.List):
    def __init__(self, element_type, items=None, **field_args):
        super().__init__(element_type, **field_args)
        self.items = items

    def coerce(self, obj, attr, value):
        return super().coerce(obj, attr, _sized(value, self.items, "a list"))


class Set(ovo_fields.Set):
    def __init__(self, element_type, items=None, **field_args):
        super().__init__(element_type, **field_args)
        self.items = items

    def coerce(self, obj, attr, value):
        return super().coerce(obj, attr, _sized(value, self.items, "a set"))


class KeyCheckedDict(ovo_fields.CoercedDict):
    """ovo's CoercedDict that also checks keys, when the dict is built and
    when it is changed in place; ``value_types`` may give some keys a
    value type of their own."""

    key_type = None
    value_types = None

    def _coerce_item(self, key, item):
        if not isinstance(key, str):
            raise ValueError("a key is a string, not a %s"
                             % type(key).__name__)
        if self.key_type is not None:
            self.key_type.coerce(self._obj, self._field, key)
        special = (self.value_types or {}).get(key)
        if special is not None:
            return special.coerce(self._obj, "%s[%s]" % (self._field, key),
                                  item)
        return super()._coerce_item(key, item)


def _check_total(value, total):
    """At most ``total`` entries in all the lists that are ``value``'s
    values (other values count one each)."""
    count = sum(len(v) if isinstance(v, (list, tuple)) else 1
                for v in value.values())
    if count > total:
        raise ValueError("more than %d values in all (%d)" % (total, count))


class Dict(ovo_fields.Dict):
    """A dict of string keys (checked by ``key``, a String) to values of
    ``element_type``, of at most ``items`` entries; ``value_types`` maps
    some keys to an element type of their own (``query`` hints are long
    JSON, other hints are names)."""

    def __init__(self, element_type, key=None, items=None, value_types=None,
                 total=None, **field_args):
        super().__init__(element_type, **field_args)
        self.key = String() if key is None else key
        self.items = items
        self.total = total
        self.value_types = {name: ovo_fields.Field(kind) for name, kind in
                            (value_types or {}).items()}

    def coerce(self, obj, attr, value):
        if not isinstance(value, dict):
            raise ValueError("a dict is required, not a %s"
                             % type(value).__name__)
        if self.items is not None and len(value) > self.items:
            raise ValueError("more than %d entries (%d)"
                             % (self.items, len(value)))
        if self.total is not None:
            _check_total(value, self.total)
        coerced = KeyCheckedDict()
        coerced.key_type = self.key
        coerced.value_types = self.value_types
        coerced.enable_coercing(self._element_type, obj, attr)
        coerced.update(value)
        return coerced


# --- hoststate's own types (named as before; the fingerprints hash names) ---

class PositiveInteger(Integer):
    """A count that cannot be zero: a whole number from 1."""

    DEFAULT_LOW = 1


class CPUPinning(ovo_fields.FieldType):
    """A map of guest CPU id to host CPU id.

    Ids are ints in Python; a JSON object's keys must be strings, so the
    primitive carries the guest ids as strings and loading turns them back.
    """

    def __init__(self, high=limits.INT32_MAX):
        self._id = NonNegativeInteger(high=high)

    def coerce(self, obj, attr, value):
        if not isinstance(value, dict):
            raise ValueError("a dict is required, not a %s"
                             % type(value).__name__)
        return {self._id.coerce(obj, attr, k): self._id.coerce(obj, attr, v)
                for k, v in value.items()}

    def to_primitive(self, obj, attr, value):
        return {str(k): v for k, v in sorted(value.items())}

    def from_primitive(self, obj, attr, value):
        return {int(k): int(v) for k, v in value.items()}


class SortedSet(Set):
    """A set whose primitive is sorted, so equal sets serialise alike.

    ovo's primitive follows the set's iteration order, which depends on
    insertion history; stored JSON would then change with no change of
    value, and "save only if something changed" would be fooled.
    """

    def to_primitive(self, obj, attr, value):
        return tuple(sorted(super().to_primitive(obj, attr, value)))


# --- fields ------------------------------------------------------------------
# Each takes its bounds and ovo's nullable, default and read_only.

def _field(field_type, kwargs):
    return ovo_fields.Field(field_type, **kwargs)


def IntegerField(low=limits.INT32_MIN, high=limits.INT32_MAX, **kwargs):
    return _field(Integer(low, high), kwargs)


def NonNegativeIntegerField(low=0, high=limits.INT32_MAX, **kwargs):
    """A count or size; ``low`` may raise the floor (a flavor's memory is
    at least 1 MiB) without changing the type's name."""
    return _field(NonNegativeInteger(low, high), kwargs)


def PositiveIntegerField(high=limits.INT32_MAX, **kwargs):
    return _field(PositiveInteger(high=high), kwargs)


def NonNegativeFloatField(high=limits.FLOAT32_MAX, **kwargs):
    return _field(NonNegativeFloat(high=high), kwargs)


def StringField(length=limits.NAME_LENGTH, min_length=0, pattern=None,
                **kwargs):
    return _field(String(length, min_length, pattern), kwargs)


def ListOfStringsField(length=limits.NAME_LENGTH, min_length=0, items=None,
                       **kwargs):
    return _field(List(String(length, min_length), items=items), kwargs)


def ListOfListsOfStringsField(length=limits.NAME_LENGTH, items=None,
                              **kwargs):
    return _field(List(List(String(length), items=items), items=items),
                  kwargs)


def DictOfStringsField(key=None, length=limits.NAME_LENGTH, items=None,
                       **kwargs):
    """Strings by string key; ``key`` is a String checking the keys
    (any text of up to 255 characters by default)."""
    return _field(Dict(String(length), key=key, items=items), kwargs)


def DictOfNullableStringsField(key=None, length=limits.NAME_LENGTH,
                               items=None, **kwargs):
    return _field(Dict(String(length), key=key, items=items, nullable=True),
                  kwargs)


def DictOfListOfStringsField(key=None, length=limits.NAME_LENGTH, items=None,
                             value_types=None, total=None, **kwargs):
    """Lists of strings by key: at most ``items`` keys and ``items``
    strings a list, ``total`` strings in all."""
    return _field(Dict(List(String(length), items=items), key=key,
                       items=items, value_types=value_types, total=total),
                  kwargs)


def ListOfDictOfStringsField(length=limits.NAME_LENGTH, items=None,
                             **kwargs):
    return _field(List(Dict(String(length), items=items), items=items),
                  kwargs)


def SetOfNonNegativeIntegersField(high=limits.INT32_MAX, **kwargs):
    """A set of ids below ``high``: the bound also bounds its size."""
    return _field(SortedSet(NonNegativeInteger(high=high)), kwargs)


def ListOfSetsOfNonNegativeIntegersField(high=limits.INT32_MAX, items=None,
                                         **kwargs):
    return _field(List(SortedSet(NonNegativeInteger(high=high)),
                       items=items), kwargs)


def ListOfNonNegativeIntegersField(high=limits.INT32_MAX, items=None,
                                   **kwargs):
    return _field(List(NonNegativeInteger(high=high), items=items), kwargs)


def CPUPinningField(high=limits.INT32_MAX, **kwargs):
    return _field(CPUPinning(high), kwargs)
