"""Flavor: the sizes and extra specs an instance was booted with.

hoststate has no flavors table: a flavor travels embedded in the instance
and the request spec that carry it, so this is pure data.

Its values are bounded as Nova's API bounds a flavor when it is created
(a flavor that API would refuse is refused here, on assignment): vcpus and
memory_mb from 1, disks and swap from 0, all at most 2**31 - 1 (an Integer
column); names and ids of 1 to 255 characters; extra spec keys of 1 to
255 characters of ``[a-zA-Z0-9-_:. ]`` and values of at most 255
characters (the flavor_extra_specs columns); rxtx_factor finite and at
most MySQL's FLOAT; a description of at most 65,535 characters.
"""
import functools
import re

from hoststate.conf import limits
from hoststate.objects import base
from hoststate.objects import bounded
from hoststate.objects import fields

#: Characters of an extra spec key, as Nova's API allows them.
EXTRA_SPEC_KEY = re.compile(r"[a-zA-Z0-9-_:. ]+")


# Version 1.0: id, flavorid, name, memory_mb, vcpus, root_gb, ephemeral_gb,
#              swap, rxtx_factor, vcpu_weight, disabled, is_public,
#              extra_specs
# Version 1.1: added description
@base.HoststateObjectRegistry.register
class Flavor(fields.DefaultsOnInit, base.HoststateObject):
    """An instance size.

    ``memory_mb`` and ``swap`` are MiB, ``root_gb`` and ``ephemeral_gb``
    GiB. ``id`` is the id in the API database that defined the flavor (None
    for flavors made up in tests and simulations); ``flavorid`` is the
    name-like id users see. ``extra_specs`` hold the ``hw:...`` and other
    keys the NUMA, PCI and aggregate filters read.
    """

    VERSION = "1.1"
    FIELDS_ADDED = {"description": "1.1"}

    fields = {
        "id": fields.NonNegativeIntegerField(nullable=True, default=None),
        "flavorid": fields.StringField(min_length=1),
        "name": fields.StringField(min_length=1),
        "memory_mb": fields.NonNegativeIntegerField(low=1),
        "vcpus": fields.NonNegativeIntegerField(low=1),
        "root_gb": fields.NonNegativeIntegerField(default=0),
        "ephemeral_gb": fields.NonNegativeIntegerField(default=0),
        "swap": fields.NonNegativeIntegerField(default=0),
        "rxtx_factor": fields.NonNegativeFloatField(default=1.0),
        "vcpu_weight": fields.NonNegativeIntegerField(nullable=True,
                                                      default=None),
        "disabled": fields.BooleanField(default=False),
        "is_public": fields.BooleanField(default=True),
        "extra_specs": fields.DictOfStringsField(
            key=bounded.String(min_length=1, pattern=EXTRA_SPEC_KEY),
            default={}),
        "description": fields.StringField(length=limits.TEXT_LENGTH,
                                          nullable=True, default=None),
    }

    @property
    def disk_mb(self):
        """Local disk the flavor asks for, in MiB: root and ephemeral disks
        (GiB) plus swap (already MiB), which is what disk filters compare
        with a host's free disk."""
        return (self.root_gb + self.ephemeral_gb) * 1024 + self.swap

    def stored_text(self):
        """The flavor as the JSON text an instance row stores
        (``fields.dump_json``), made once per distinct flavor: a cloud
        has a few dozen flavors, and every claim stores one (building the
        text costs more than the claim's other Python together)."""
        return _stored_text(self, _content(self))


_UNSET = object()


def _content(flavor):
    """What the stored text is made of: every field's value (extra specs
    as sorted pairs), unset fields marked as such."""
    values = []
    for name in Flavor.fields:
        value = flavor.obj_get(name, _UNSET)
        if name == "extra_specs" and value is not _UNSET:
            value = tuple(sorted(value.items()))
        values.append(value)
    return tuple(values)


class _ByContent:
    """A flavor hashed and compared by its content only, so that the cache
    below keys on the content while it builds from the flavor."""

    __slots__ = ("flavor", "content")

    def __init__(self, flavor, content):
        self.flavor, self.content = flavor, content

    def __hash__(self):
        return hash(self.content)

    def __eq__(self, other):
        return self.content == other.content


@functools.lru_cache(maxsize=256)
def _cached_text(by_content):
    return fields.dump_json(by_content.flavor)


def _stored_text(flavor, content):
    return _cached_text(_ByContent(flavor, content))

