"""The image an instance boots from, as the scheduler sees it.

Glance images carry arbitrary properties; hoststate types the ones its
filters and fitting code read (``ImageMetaProps``) and ignores the rest.
:meth:`ImageMeta.from_dict` therefore never fails on a property it does
not know (a deployment's own ``company_cost_centre`` is not an error), but
a property it *does* know with a value it cannot hold raises
ObjectFieldInvalid naming it: ``hw_numa_nodes=two`` silently ignored would
place a guest with a different topology from the one its owner asked for.
"""
from hoststate.conf import limits
from hoststate.objects import base
from hoststate.objects import fields
from hoststate.objects import traits as traits_mod

# Pre-``hw_``/``img_`` names some images still carry; the new name wins
# when an image has both.
LEGACY_PROPERTY_NAMES = {
    "architecture": "hw_architecture",
    "hypervisor_type": "img_hv_type",
    "vm_mode": "hw_vm_mode",
    "hypervisor_version_requires": "img_hv_requested_version",
}

# Required traits come as properties ``trait:<NAME>=required`` (Glance
# keeps them as plain properties; Nova gathers them into traits_required).
TRAIT_PROPERTY_PREFIX = "trait:"
TRAIT_REQUIRED = "required"

# Per-cell properties come as numbered keys: hw_numa_cpus.0, .1, ...
_PER_CELL = ("hw_numa_cpus", "hw_numa_mem")
_MAX_CELLS = limits.MAX_NUMA_NODES


#: CPU ids a spec may name when the caller gives no tighter limit: no
#: guest or host has 65,536 CPUs, and the expanded set stays small
#: (a spec is text; "0-2147483647" must not become two billion ints).
MAX_CPU_IDS = limits.MAX_CPU_IDS


def parse_cpu_spec(spec, limit=MAX_CPU_IDS):
    """The CPU ids of a spec such as ``"0-3,^2,6"`` (here {0, 1, 3, 6}).

    Comma-separated ids and inclusive ranges; a ``^`` before an id or range
    excludes it. Every id must be below ``limit`` (checked before a range
    is expanded, so the work is bounded by ``limit``, never by the text).
    ValueError on anything else.
    """
    included, excluded = set(), set()
    for part in str(spec).split(","):
        part = part.strip()
        if not part:
            continue
        target = excluded if part.startswith("^") else included
        part = part.lstrip("^").strip()
        low, sep, high = part.partition("-")
        first, last = int(low), int(high) if sep else int(low)
        if first < 0 or last < first:
            raise ValueError("bad CPU range %r in %r" % (part, spec))
        if last >= limit:
            raise ValueError("CPU %d in %r is beyond the last one, %d"
                             % (last, spec, limit - 1))
        target.update(range(first, last + 1))
    return included - excluded


# Version 1.0: initial
# Version 1.1: traits_required
@base.HoststateObjectRegistry.register
class ImageMetaProps(base.HoststateObject):
    """The typed image properties hoststate reads.

    An unset property means "the image does not say"; read with
    ``obj_get(name, default)``. Enum values are canonicalized on the way in
    (``AMD64`` is stored as ``x86_64``). ``hw_mem_page_size`` is kept as
    written (``small``, ``large``, ``any``, or a size such as ``2MB``);
    the NUMA fitting code interprets it. ``traits_required`` are the
    names of the image's ``trait:<NAME>=required`` properties (sorted).
    """

    VERSION = "1.1"
    FIELDS_ADDED = {"traits_required": "1.1"}

    fields = {
        "hw_architecture": fields.ArchitectureField(nullable=True),
        "img_hv_type": fields.HVTypeField(nullable=True),
        "hw_vm_mode": fields.VMModeField(nullable=True),
        "img_hv_requested_version": fields.VersionPredicateField(
            nullable=True),
        "os_type": fields.OSTypeField(nullable=True),
        # an address is at most 64 bits wide on every architecture
        "hw_maxphysaddr_bits": fields.PositiveIntegerField(high=64,
                                                           nullable=True),
        "hw_maxphysaddr_mode": fields.MaxPhysAddrModeField(nullable=True),
        "hw_cpu_policy": fields.CPUAllocationPolicyField(nullable=True),
        "hw_cpu_thread_policy": fields.CPUThreadAllocationPolicyField(
            nullable=True),
        "hw_emulator_threads_policy": fields.CPUEmulatorThreadsPolicyField(
            nullable=True),
        "hw_numa_nodes": fields.PositiveIntegerField(high=_MAX_CELLS,
                                                     nullable=True),
        "hw_numa_cpus": fields.ListOfSetsOfNonNegativeIntegersField(
            high=MAX_CPU_IDS - 1, items=_MAX_CELLS, nullable=True),
        "hw_numa_mem": fields.ListOfNonNegativeIntegersField(
            items=_MAX_CELLS, nullable=True),
        "hw_mem_page_size": fields.StringField(nullable=True),
        "hw_pci_numa_affinity_policy": fields.PCINUMAAffinityPolicyField(
            nullable=True),
        "traits_required": traits_mod.TraitsField(nullable=True),
    }

    @classmethod
    def from_dict(cls, properties):
        """Typed properties from Glance's (string-valued) property dict.

        Unknown keys are ignored; legacy names are mapped; numbered
        ``hw_numa_cpus.N`` / ``hw_numa_mem.N`` keys are gathered into lists
        (from cell 0 up to the first missing cell). A known property whose
        value does not fit raises ObjectFieldInvalid.
        """
        if not isinstance(properties, dict):
            raise base.field_invalid(ImageMeta.obj_name(), "properties",
                                     properties, "properties are a dict")
        values = {}
        for legacy, name in LEGACY_PROPERTY_NAMES.items():
            if legacy in properties:
                values[name] = properties[legacy]
        values.update((key, value) for key, value in properties.items()
                      if key in cls.fields)
        for name in _PER_CELL:
            per_cell = cls._gather_cells(properties, name)
            if per_cell is not None:
                values[name] = per_cell
        if isinstance(values.get("hw_numa_cpus"), list):
            values["hw_numa_cpus"] = [
                cls._cpus(spec) for spec in values["hw_numa_cpus"]]
        required = cls._required_traits(properties)
        if required:
            values["traits_required"] = required
        props = cls()
        props.update(values)
        return props

    @staticmethod
    def _gather_cells(properties, name):
        cells = []
        while len(cells) < _MAX_CELLS:
            key = "%s.%d" % (name, len(cells))
            if key not in properties:
                break
            cells.append(properties[key])
        return cells or None

    @classmethod
    def _required_traits(cls, properties):
        """The names of the ``trait:<NAME>=required`` properties. As in
        Nova, only the value ``required`` counts (an image cannot forbid a
        trait) and other values are left alone; a name that is no trait
        raises ObjectFieldInvalid naming the property."""
        names = []
        for key, value in properties.items():
            if not (isinstance(key, str) and
                    key.startswith(TRAIT_PROPERTY_PREFIX) and
                    value == TRAIT_REQUIRED):
                continue
            name = key[len(TRAIT_PROPERTY_PREFIX):]
            reason = traits_mod.problem(name)
            if reason is not None:
                raise base.field_invalid(cls.obj_name(), key, value, reason)
            names.append(name)
        return names

    @classmethod
    def _cpus(cls, spec):
        if isinstance(spec, set):
            return spec
        try:
            return parse_cpu_spec(spec)
        except ValueError as exc:
            raise base.field_invalid(cls.obj_name(), "hw_numa_cpus", spec,
                                     str(exc)) from None


# Version 1.0: initial
# Version 1.1: properties hold ImageMetaProps 1.1 (traits_required)
@base.HoststateObjectRegistry.register
class ImageMeta(fields.RelationshipBackport, fields.DefaultsOnInit,
                base.HoststateObject):
    """An image's size limits and formats, and its typed properties.

    ``min_ram`` is MiB, ``min_disk`` GiB, ``size`` bytes. ``id`` is None
    for instances that boot from a volume and have no image.
    """

    VERSION = "1.1"
    obj_relationships = {"properties": [("1.0", "1.0"), ("1.1", "1.1")]}

    fields = {
        "id": fields.UUIDField(nullable=True, default=None),
        "name": fields.StringField(nullable=True, default=None),
        "min_ram": fields.NonNegativeIntegerField(default=0),
        "min_disk": fields.NonNegativeIntegerField(default=0),
        # bytes: images are larger than 2 GiB
        "size": fields.NonNegativeIntegerField(high=limits.INT64_MAX,
                                               nullable=True, default=None),
        "disk_format": fields.StringField(nullable=True, default=None),
        "container_format": fields.StringField(nullable=True, default=None),
        "properties": fields.ObjectField("ImageMetaProps",
                                         default=ImageMetaProps()),
    }

    @classmethod
    def from_dict(cls, image):
        """An ImageMeta from a Glance image dict.

        Properties may be nested under ``properties`` (Glance v1, Nova's
        image cache) or sit beside the image's own keys (Glance v2); both
        are read, nested ones winning. Keys that are neither image fields
        nor known properties (``status``, ``checksum``, ``owner``...) are
        ignored. Glance may return null for ``min_ram``/``min_disk``; that
        reads as 0 (no minimum).
        """
        if not isinstance(image, dict):
            raise base.field_invalid(cls.obj_name(), "properties", image,
                                     "an image is a dict")
        nested = image.get("properties")
        if nested is None:
            nested = {}
        elif not isinstance(nested, dict):
            raise base.field_invalid(cls.obj_name(), "properties", nested,
                                     "properties are a dict")
        properties = {key: value for key, value in image.items()
                      if key not in cls.fields}
        properties.update(nested)
        values = {key: image[key] for key in cls.fields
                  if key in image and key != "properties"}
        for key in ("min_ram", "min_disk"):
            if key in values and values[key] is None:
                values[key] = 0
        meta = cls()
        meta.update(values)
        meta.properties = ImageMetaProps.from_dict(properties)
        return meta
