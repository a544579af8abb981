"""HVSpec: one (architecture, hypervisor, guest mode) a host can run.

A compute node reports the list of them; it is stored as a JSON list of
``[arch, hv_type, vm_mode]`` triples in ``compute_nodes.supported_instances``
(plain lists, not object primitives, so the column reads the same as
Nova's), and the image properties filter matches an image against it.
"""
from oslo_serialization import jsonutils
from oslo_utils import versionutils

from hoststate import exception
from hoststate.objects import base
from hoststate.objects import fields


# Version 1.0: arch, hv_type, vm_mode
# Version 1.1: hv_type may be "vz" (Virtuozzo). 1.0 readers know it as
#              "parallels", so the backport renames it.
@base.HoststateObjectRegistry.register
class HVSpec(base.HoststateObject):
    """A guest a host can run. Values are canonicalized on assignment."""

    VERSION = "1.1"

    fields = {
        "arch": fields.ArchitectureField(),
        "hv_type": fields.HVTypeField(),
        "vm_mode": fields.VMModeField(),
    }

    def obj_make_compatible(self, primitive, target_version):
        super().obj_make_compatible(primitive, target_version)
        target = versionutils.convert_version_to_tuple(target_version)
        if target < (1, 1) and primitive.get("hv_type") == \
                fields.HVType.VIRTUOZZO:
            primitive["hv_type"] = fields.HVType.PARALLELS

    @classmethod
    def from_list(cls, triple):
        """An HVSpec from ``[arch, hv_type, vm_mode]``."""
        if not isinstance(triple, (list, tuple)) or len(triple) != 3:
            raise exception.ObjectFieldInvalid(
                objname=cls.obj_name(), field="arch, hv_type, vm_mode",
                value=triple, reason="expected [arch, hv_type, vm_mode]")
        arch, hv_type, vm_mode = triple
        spec = cls()
        spec.update({"arch": arch, "hv_type": hv_type, "vm_mode": vm_mode})
        return spec

    def to_list(self):
        return [self.arch, self.hv_type, self.vm_mode]


def to_json(specs):
    """The supported_instances column text for a list of HVSpecs."""
    return jsonutils.dumps([spec.to_list() for spec in specs])


def from_json(text):
    """HVSpecs from supported_instances column text (None or "" is none)."""
    if not text:
        return []
    triples = jsonutils.loads(text)
    if not isinstance(triples, list):
        raise exception.ObjectFieldInvalid(
            objname=HVSpec.obj_name(), field="arch, hv_type, vm_mode",
            value=triples, reason="supported_instances is a list of triples")
    return [HVSpec.from_list(triple) for triple in triples]
