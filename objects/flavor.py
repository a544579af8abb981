"""Flavor: the sizes and extra specs an instance was booted with.

hoststate has no flavors table: a flavor travels embedded in the instance
and the request spec that carry it, so this is pure data. Every quantity is
non-negative (a flavor of -1 MiB would read as free memory to a filter).
"""
from hoststate.objects import base
from hoststate.objects import fields


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
        "flavorid": fields.StringField(),
        "name": fields.StringField(),
        "memory_mb": fields.NonNegativeIntegerField(),
        "vcpus": fields.NonNegativeIntegerField(),
        "root_gb": fields.NonNegativeIntegerField(default=0),
        "ephemeral_gb": fields.NonNegativeIntegerField(default=0),
        "swap": fields.NonNegativeIntegerField(default=0),
        "rxtx_factor": fields.NonNegativeFloatField(default=1.0),
        "vcpu_weight": fields.NonNegativeIntegerField(nullable=True,
                                                      default=None),
        "disabled": fields.BooleanField(default=False),
        "is_public": fields.BooleanField(default=True),
        "extra_specs": fields.DictOfStringsField(default={}),
        "description": fields.StringField(nullable=True, default=None),
    }

    @property
    def disk_mb(self):
        """Local disk the flavor asks for, in MiB: root and ephemeral disks
        (GiB) plus swap (already MiB), which is what disk filters compare
        with a host's free disk."""
        return (self.root_gb + self.ephemeral_gb) * 1024 + self.swap
