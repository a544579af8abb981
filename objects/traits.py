"""Traits: what a trait name is, and how a node's traits are stored.

A trait is a capability a node has (a CPU flag such as
``HW_CPU_X86_AVX2``, a driver capability such as
``COMPUTE_IMAGE_TYPE_QCOW2``) or one an operator gives it. As in
Placement, a name is either one of the standard traits of the
``os-traits`` library (Nova's list) or ``CUSTOM_`` followed by upper-case
letters, digits and underscores, at most 255 characters in all. Every
writer and reader of trait names (the node object, the virt drivers, the
``host-update`` command, the scheduler's trait specs) checks names here,
so one rule decides what a trait is.

A node's traits are stored in two ``compute_nodes`` columns, one per
writer: ``driver_traits`` (what the virt driver reports, written by the
resource tracker with the rest of the inventory) and ``operator_traits``
(written by ``hoststate host-update --trait``). Neither writer can then
overwrite the other's traits, and a driver that stops reporting a trait
cannot take away one an operator set. The node has the union of the two.
Each column holds the JSON text of a sorted list of names (NULL for none):
nodes of one model share one text, which the scheduler interns and parses
once, and a change of traits is a change of the node row, so a
scheduler's refresh (which reads the rows that changed) sees it with no
table or query of its own.
"""
import functools
import json
import re

from oslo_versionedobjects import fields as ovo_fields

from hoststate import exception
from hoststate.conf import limits
from hoststate.objects import bounded

#: Prefix of a trait a deployment defines itself.
CUSTOM_PREFIX = "CUSTOM_"
_CUSTOM = re.compile(r"CUSTOM_[A-Z0-9_]+")
#: The longest trait name (Placement's column).
MAX_LENGTH = limits.NAME_LENGTH
#: The most traits one writer may give one node (os-traits has about 400
#: standard traits; a node has a few dozen).
MAX_TRAITS = 1000
#: What a disk format becomes as a trait (Nova 34's require_image_type_support).
IMAGE_TYPE_PREFIX = "COMPUTE_IMAGE_TYPE_"
#: The ``compute_nodes`` columns (and ComputeNode fields) of a node's
#: traits, one per writer: the virt driver's, then the operators'.
COLUMNS = ("driver_traits", "operator_traits")


class InvalidTrait(exception.HoststateError, ValueError):
    """A trait name that is neither standard nor custom, where ``field``
    (an object field, a command-line option, an extra spec) gave it."""

    msg_fmt = "%(field)s cannot be %(value)r: %(reason)s"


@functools.cache
def standard_traits():
    """Every standard trait name (os-traits, imported on first use: most
    commands never read a trait)."""
    import os_traits
    return frozenset(os_traits.get_traits())


def problem(name):
    """Why ``name`` is not a trait name, or None when it is one."""
    if not isinstance(name, str):
        return f"a trait name is text, not a {type(name).__name__}"
    if len(name) > MAX_LENGTH:
        return f"longer than {MAX_LENGTH} characters ({len(name)})"
    if name.startswith(CUSTOM_PREFIX):
        if _CUSTOM.fullmatch(name) is None:
            return (f"a custom trait is {CUSTOM_PREFIX} followed by "
                    f"upper-case letters, digits and _ only")
        return None
    if name not in standard_traits():
        return (f"not a standard trait (os-traits) nor a custom one "
                f"({CUSTOM_PREFIX}...)")
    return None


def check(names, field):
    """``names`` (an iterable of trait names) as a sorted list without
    repeats; InvalidTrait naming ``field`` and the first bad name."""
    names = list(names)
    for name in names:
        reason = problem(name)
        if reason is not None:
            raise InvalidTrait(field=field, value=name, reason=reason)
    if len(set(names)) > MAX_TRAITS:
        raise InvalidTrait(field=field, value=f"{len(set(names))} traits",
                           reason=f"at most {MAX_TRAITS}")
    return sorted(set(names))


def image_type_trait(disk_format):
    """The trait of nodes that take images of ``disk_format`` (``qcow2``
    -> COMPUTE_IMAGE_TYPE_QCOW2), or None when os-traits has no such
    trait (Nova 34 then requires nothing)."""
    if not isinstance(disk_format, str) or not disk_format:
        return None
    name = IMAGE_TYPE_PREFIX + disk_format.upper()
    return name if name in standard_traits() else None


# --- the stored text ---------------------------------------------------------

def to_text(names):
    """The column text of trait ``names``: a sorted JSON list, None for
    none (so a node without traits reads as it did before they existed)."""
    names = sorted(set(names or ()))
    return json.dumps(names) if names else None


def from_text(text):
    """The sorted list of names a column holds (NULL or "" is none)."""
    return sorted(json.loads(text)) if text else []


# --- the object field ------------------------------------------------------------

class TraitName(bounded.String):
    """A trait name (see ``problem``)."""

    def coerce(self, obj, attr, value):
        value = super().coerce(obj, attr, value)
        reason = problem(value)
        if reason is not None:
            raise ValueError(reason)
        return value


class SortedTraits(bounded.List):
    """Trait names as a sorted list without repeats, so equal sets store
    and compare alike whatever order a driver reported them in."""

    def coerce(self, obj, attr, value):
        return sorted(set(super().coerce(obj, attr, value)))


def TraitsField(**kwargs):
    return ovo_fields.Field(SortedTraits(TraitName(), items=MAX_TRAITS),
                            **kwargs)
