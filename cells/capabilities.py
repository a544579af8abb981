"""What a cell's broadcasts are made of, as configured: ``[cells]
capabilities`` (parsed and merged) and ``[cells] capacity_flavors``
(the flavors whose free units ``capacity.report`` counts).

An entry is ``key=value1;value2`` (Nova's cells v1 syntax): a cell with
``hypervisor=xenserver;kvm`` offers both hypervisors. The parent of a
cell reports upward its own capabilities merged with its children's, a
union of values per key, so a cell path is chosen for what some cell
beneath it offers.

Where Nova's cells v1 split an entry without checking it (an entry with
no ``=`` stopped the cells service), every malformed entry here is an
``InvalidCellCapability`` naming it. ``conf/cells.py`` calls ``parse``
as the option's type, so a bad value is refused when the configuration
is read, not when the first broadcast goes up.

A flavor entry is ``NAME:VCPUS:MEMORY_MB:DISK_GB``; a malformed one is
an ``InvalidCapacityFlavor`` naming it, also refused at load.

This module imports no more than hoststate's exceptions and limits, and
no numpy: the option types in ``hoststate.conf`` call it on every load,
which must not pull the scheduler in (a command's start-up time).
"""
import dataclasses
import re

from hoststate import exception
from hoststate.conf import limits

#: between a key and its values
KEY_SEPARATOR = "="
#: between the values of one key
VALUE_SEPARATOR = ";"
#: between the fields of a ``capacity_flavors`` entry
FLAVOR_SEPARATOR = ":"
#: The most flavors ``capacity_flavors`` lists: each is one entry of every
#: capacity broadcast and one count over the cell's table per broadcast.
MAX_CAPACITY_FLAVORS = 100
#: (field name as an entry's syntax names it, smallest value)
_FLAVOR_FIELDS = (("VCPUS", 1), ("MEMORY_MB", 1), ("DISK_GB", 0))
#: a whole number as an entry writes it (no ``1_000``, no other digits)
_WHOLE = re.compile(r"-?[0-9]+")


def parse_entry(entry):
    """(key, frozenset of values) of one ``key=value1;value2`` entry;
    spaces around the key and each value are dropped."""
    key, separator, values = entry.partition(KEY_SEPARATOR)
    if not separator:
        raise _invalid(entry, "no '=' between a key and its values")
    key = key.strip()
    if not key:
        raise _invalid(entry, "the key before '=' is empty")
    if not values.strip():
        raise _invalid(entry, "no value after '='")
    parts = [value.strip() for value in values.split(VALUE_SEPARATOR)]
    if not all(parts):
        raise _invalid(entry, "an empty value between ';'")
    return key, frozenset(parts)


def parse(entries):
    """{key: frozenset(values)} of ``entries`` (the option's list); a key
    given twice is refused rather than silently merged or overwritten
    (which one did the operator mean?)."""
    found = {}
    for entry in entries:
        key, values = parse_entry(entry)
        if key in found:
            raise _invalid(entry, f"key {key!r} is given twice")
        found[key] = values
    return found


def merge(*capabilities):
    """One {key: frozenset(values)} of several (a cell's own and each of
    its children's): the union of the values of each key."""
    merged = {}
    for each in capabilities:
        for key, values in each.items():
            merged[key] = merged.get(key, frozenset()) | frozenset(values)
    return merged


def to_primitive(capabilities):
    """{key: sorted list of values}: the JSON form a broadcast carries
    (sorted, so equal capabilities are equal messages)."""
    return {key: sorted(values) for key, values in sorted(
        capabilities.items())}


def from_primitive(primitive):
    """``to_primitive``'s inverse."""
    return {key: frozenset(values) for key, values in primitive.items()}


def _invalid(entry, reason):
    return exception.InvalidCellCapability(entry=entry, reason=reason)


# --- the flavor list ------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Flavor:
    """A flavor whose units a cell reports: its name and what one
    instance takes (the three sizes of a ``hardware.capacity.Wanted``,
    which any object with them may stand for)."""

    name: str
    vcpus: int
    memory_mb: int
    disk_gb: int


def parse_flavor(entry):
    """The ``Flavor`` of one ``NAME:VCPUS:MEMORY_MB:DISK_GB`` entry."""
    parts = [part.strip() for part in entry.split(FLAVOR_SEPARATOR)]
    if len(parts) != 4:
        raise _invalid_flavor(entry, "not NAME:VCPUS:MEMORY_MB:DISK_GB "
                                     f"({len(parts)} field(s))")
    name, numbers = parts[0], parts[1:]
    if not name:
        raise _invalid_flavor(entry, "the name is empty")
    values = [_size(entry, field, text, least)
              for (field, least), text in zip(_FLAVOR_FIELDS, numbers)]
    return Flavor(name, *values)


def parse_flavors(entries, most=MAX_CAPACITY_FLAVORS):
    """The ``Flavor``s of ``entries``, in order: at most ``most`` of
    them, no name twice."""
    entries = list(entries)
    if len(entries) > most:
        raise _invalid_flavor(entries[most],
                              f"more than {most} flavors are listed")
    flavors, names = [], set()
    for entry in entries:
        flavor = parse_flavor(entry)
        if flavor.name in names:
            raise _invalid_flavor(
                entry, f"name {flavor.name!r} is given twice")
        names.add(flavor.name)
        flavors.append(flavor)
    return flavors


def _size(entry, field, text, least):
    """One size of an entry: a whole number in [least, INT32_MAX] (what
    a flavor's column holds)."""
    if not _WHOLE.fullmatch(text):
        raise _invalid_flavor(entry,
                              f"{field} {text!r} is not a whole number")
    value = int(text)
    if not least <= value <= limits.INT32_MAX:
        raise _invalid_flavor(entry, f"{field} {value} is not in "
                                     f"{least}..{limits.INT32_MAX}")
    return value


def _invalid_flavor(entry, reason):
    return exception.InvalidCapacityFlavor(entry=entry, reason=reason)
