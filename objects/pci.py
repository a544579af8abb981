"""PCI device pools of hosts and PCI requests of instances.

A pool is a count of identical devices on one host: same vendor, product,
NUMA node and tags. Compute nodes report their pools (stored as JSON in
``compute_nodes.pci_stats``); the scheduler matches an instance's requests
against them.

``dev_type`` (``type-PCI``, ``type-PF``, ``type-VF``, ``vdpa``) is kept in
``tags``, not as a field, as Nova does: a pool's identity is "every key of
its flat dict", a request's spec matches against that flat dict, and a
field would make ``dev_type`` the one tag that :meth:`PciDevicePool.to_dict`
and :meth:`PciDevicePool.from_dict` had to treat apart. The ``dev_type``
property reads it.
"""
from oslo_serialization import jsonutils

from hoststate.objects import base
from hoststate.objects import fields


# Version 1.0: vendor_id, product_id, tags, count
# Version 1.1: added numa_node
@base.HoststateObjectRegistry.register
class PciDevicePool(fields.DefaultsOnInit, base.HoststateObject):
    """``count`` identical PCI devices of one host."""

    VERSION = "1.1"
    FIELDS_ADDED = {"numa_node": "1.1"}

    fields = {
        "vendor_id": fields.StringField(),
        "product_id": fields.StringField(),
        "numa_node": fields.NonNegativeIntegerField(nullable=True,
                                                    default=None),
        "tags": fields.DictOfStringsField(default={}),
        "count": fields.NonNegativeIntegerField(),
    }

    #: keys of a flat pool dict that are fields; every other key is a tag
    REQUIRED_KEYS = ("vendor_id", "product_id", "count")
    FIELD_KEYS = REQUIRED_KEYS + ("numa_node",)

    @property
    def dev_type(self):
        """The ``dev_type`` tag, or None if the pool has none."""
        return self.tags.get("dev_type")

    @classmethod
    def from_dict(cls, value):
        """A pool from a flat dict, such as a virt driver reports.

        ``vendor_id``, ``product_id`` and ``count`` are required,
        ``numa_node`` is optional and every other key becomes a tag, its
        value made a string. ``value`` is not changed.
        """
        if not isinstance(value, dict):
            raise base.field_invalid(cls.obj_name(), "tags", value,
                                     "a pool is a dict")
        for key in cls.REQUIRED_KEYS:
            if value.get(key) is None:
                raise base.field_invalid(cls.obj_name(), key, None,
                                         "missing from the pool dict")
        pool = cls()
        pool.update({key: value[key] for key in cls.FIELD_KEYS
                     if key in value})
        pool.tags = {key: tag for key, tag in value.items()
                     if key not in cls.FIELD_KEYS}
        return pool

    def to_dict(self):
        """The flat dict: set fields, then tags (a field wins a clash)."""
        flat = dict(self.tags)
        for key in self.FIELD_KEYS:
            if self.obj_attr_is_set(key):
                flat[key] = getattr(self, key)
        return flat


# Version 1.0: objects (PciDevicePool 1.0)
# Version 1.1: objects hold PciDevicePool 1.1 (numa_node)
@base.HoststateObjectRegistry.register
class PciDevicePoolList(fields.RelationshipBackport,
                        base.HoststateObjectListBase, base.HoststateObject):
    """A host's pools; stored as JSON in compute_nodes.pci_stats."""

    VERSION = "1.1"
    obj_relationships = {"objects": [("1.0", "1.0"), ("1.1", "1.1")]}

    fields = {
        "objects": fields.ListOfObjectsField("PciDevicePool"),
    }

    @classmethod
    def from_dicts(cls, pools):
        return cls(objects=[PciDevicePool.from_dict(pool) for pool in pools])

    def to_dicts(self):
        return [pool.to_dict() for pool in self.objects]

    def to_json(self, target_version=None, version_manifest=None):
        """The JSON text stored in compute_nodes.pci_stats."""
        return fields.dump_json(self, target_version, version_manifest)

    @classmethod
    def from_json(cls, text):
        """Pools from :meth:`to_json` text, or from a JSON list of flat
        pool dicts (the form virt drivers and older writers produce)."""
        loaded = jsonutils.loads(text)
        if isinstance(loaded, list):
            return cls.from_dicts(loaded)
        return fields.load_primitive(cls, loaded)


# Version 1.0: count, spec, alias_name, request_id, numa_policy
@base.HoststateObjectRegistry.register
class InstancePCIRequest(fields.DefaultsOnInit, base.HoststateObject):
    """``count`` devices matching any one dict of ``spec``.

    Each spec dict is matched against a pool's flat dict (so it can name
    ``vendor_id``, ``product_id``, ``dev_type`` or any tag).
    ``alias_name`` is set when the request came from a flavor alias;
    ``request_id`` ties it to a port when it came from a network.
    """

    VERSION = "1.0"

    fields = {
        "count": fields.PositiveIntegerField(),
        "spec": fields.ListOfDictOfStringsField(),
        "alias_name": fields.StringField(nullable=True, default=None),
        "request_id": fields.UUIDField(nullable=True, default=None),
        "numa_policy": fields.PCINUMAAffinityPolicyField(nullable=True,
                                                         default=None),
    }


# Version 1.0: instance_uuid, requests
@base.HoststateObjectRegistry.register
class InstancePCIRequests(fields.DefaultsOnInit, base.HoststateObject):
    """Every PCI request of one instance."""

    VERSION = "1.0"

    fields = {
        "instance_uuid": fields.UUIDField(nullable=True, default=None),
        "requests": fields.ListOfObjectsField("InstancePCIRequest",
                                              default=[]),
    }

    def to_json(self, target_version=None, version_manifest=None):
        """The whole object's primitive as JSON (not a bare list)."""
        return fields.dump_json(self, target_version, version_manifest)

    @classmethod
    def from_json(cls, text):
        return fields.load_json(cls, text)
