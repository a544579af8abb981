"""Field types of hoststate's versioned objects.

Three kinds of things live here:

* enums for the words that images, flavors and hypervisors use (CPU
  policies, architectures, hypervisor types...). The ones that name
  hardware or hypervisors *canonicalize* on assignment (``AMD64`` becomes
  ``x86_64``, ``xapi`` becomes ``xen``), because hosts and images spell them
  differently and filters must compare like with like;
* the field classes every object uses, re-exported: ovo's where a value
  needs no bound, and the bounded ones of ``bounded.py`` (numbers and
  strings that fit their database columns) everywhere else;
* two small mixins the non-persistent objects share: defaults filled at
  construction, and backports that honour ``obj_relationships``.

Object modules import their fields from here only, so none can use an
unbounded ovo field by accident.
"""
import copy

from oslo_serialization import jsonutils
from oslo_versionedobjects import base as ovo_base
from oslo_versionedobjects import exception as ovo_exception
from oslo_versionedobjects import fields as ovo_fields

from hoststate import exception
from hoststate.objects import attrs
from hoststate.objects import bounded
from hoststate.objects import changes

# --- re-exports --------------------------------------------------------------

# ovo's fields whose values need no bound of their own
BooleanField = ovo_fields.BooleanField  # base.py refuses non-booleans
DateTimeField = ovo_fields.DateTimeField
EnumField = ovo_fields.EnumField
IPAddressField = ovo_fields.IPAddressField
ListOfObjectsField = ovo_fields.ListOfObjectsField
ObjectField = ovo_fields.ObjectField
UUIDField = ovo_fields.UUIDField  # base.py refuses what is not a UUID
VersionPredicateField = ovo_fields.VersionPredicateField

# bounded fields (see bounded.py): numbers fit their columns, strings too
CPUPinningField = bounded.CPUPinningField
DictOfListOfStringsField = bounded.DictOfListOfStringsField
DictOfNullableStringsField = bounded.DictOfNullableStringsField
DictOfStringsField = bounded.DictOfStringsField
IntegerField = bounded.IntegerField
ListOfDictOfStringsField = bounded.ListOfDictOfStringsField
ListOfListsOfStringsField = bounded.ListOfListsOfStringsField
ListOfNonNegativeIntegersField = bounded.ListOfNonNegativeIntegersField
ListOfSetsOfNonNegativeIntegersField = \
    bounded.ListOfSetsOfNonNegativeIntegersField
ListOfStringsField = bounded.ListOfStringsField
NonNegativeFloatField = bounded.NonNegativeFloatField
NonNegativeIntegerField = bounded.NonNegativeIntegerField
PositiveIntegerField = bounded.PositiveIntegerField
SetOfNonNegativeIntegersField = bounded.SetOfNonNegativeIntegersField
StringField = bounded.StringField


# --- enums -------------------------------------------------------------------

class _Enum(ovo_fields.Enum):
    """An enum whose members are listed in ``ALL`` on the class.

    ``canonicalize`` maps the spellings found in the wild onto a member:
    case is ignored and ``_ALIASES`` (lowercase) names other spellings.
    ``coerce`` canonicalizes first, so an object only ever holds members.
    """

    ALL = ()
    _ALIASES = {}

    def __init__(self):
        super().__init__(valid_values=self.ALL)

    @classmethod
    def canonicalize(cls, value):
        """``value`` as a member; ValueError if it names none."""
        if value is None:
            return None
        name = str(value).strip().lower()
        name = cls._ALIASES.get(name, name)
        for member in cls.ALL:
            if member.lower() == name:
                return member
        raise ValueError("%r is not one of %s" % (value, ", ".join(cls.ALL)))

    def coerce(self, obj, attr, value):
        return super().coerce(obj, attr, self.canonicalize(value))


def _enum_field(enum_cls):
    """The field class for ``enum_cls`` (one field class per enum)."""
    return type(enum_cls.__name__ + "Field", (ovo_fields.BaseEnumField,),
                {"AUTO_TYPE": enum_cls()})


class CPUAllocationPolicy(_Enum):
    """How guest CPUs use host CPUs: floating, pinned, or some of each."""

    DEDICATED = "dedicated"
    SHARED = "shared"
    MIXED = "mixed"
    ALL = (DEDICATED, SHARED, MIXED)


class CPUThreadAllocationPolicy(_Enum):
    """How pinned guest CPUs treat host SMT siblings."""

    PREFER = "prefer"     # siblings if possible
    ISOLATE = "isolate"   # a whole core per guest CPU, siblings left idle
    REQUIRE = "require"   # only hosts with SMT, guest CPUs on siblings
    ALL = (PREFER, ISOLATE, REQUIRE)


class CPUEmulatorThreadsPolicy(_Enum):
    """Where a pinned guest's emulator threads run."""

    SHARE = "share"
    ISOLATE = "isolate"
    ALL = (SHARE, ISOLATE)


class PCINUMAAffinityPolicy(_Enum):
    """How strictly a PCI device must share the guest's NUMA node."""

    REQUIRED = "required"
    LEGACY = "legacy"
    PREFERRED = "preferred"
    SOCKET = "socket"
    ALL = (REQUIRED, LEGACY, PREFERRED, SOCKET)


class PciDeviceType(_Enum):
    """The ``dev_type`` tag of a PCI pool (see objects/pci.py)."""

    STANDARD = "type-PCI"
    SRIOV_PF = "type-PF"
    SRIOV_VF = "type-VF"
    VDPA = "vdpa"
    ALL = (STANDARD, SRIOV_PF, SRIOV_VF, VDPA)


class Architecture(_Enum):
    """CPU architectures, as libvirt and QEMU name them."""

    ALPHA, ARMV6, ARMV7, ARMV7B = "alpha", "armv6", "armv7l", "armv7b"
    AARCH64, CRIS, I686, IA64 = "aarch64", "cris", "i686", "ia64"
    LM32, M68K, MICROBLAZE = "lm32", "m68k", "microblaze"
    MICROBLAZEEL, MIPS, MIPSEL = "microblazeel", "mips", "mipsel"
    MIPS64, MIPS64EL, OPENRISC = "mips64", "mips64el", "openrisc"
    PARISC, PARISC64, PPC, PPCLE = "parisc", "parisc64", "ppc", "ppcle"
    PPC64, PPC64LE, PPCEMB = "ppc64", "ppc64le", "ppcemb"
    S390, S390X, SH4, SH4EB = "s390", "s390x", "sh4", "sh4eb"
    SPARC, SPARC64, UNICORE32 = "sparc", "sparc64", "unicore32"
    X86_64, XTENSA, XTENSAEB = "x86_64", "xtensa", "xtensaeb"
    ALL = (ALPHA, ARMV6, ARMV7, ARMV7B, AARCH64, CRIS, I686, IA64, LM32,
           M68K, MICROBLAZE, MICROBLAZEEL, MIPS, MIPSEL, MIPS64, MIPS64EL,
           OPENRISC, PARISC, PARISC64, PPC, PPCLE, PPC64, PPC64LE, PPCEMB,
           S390, S390X, SH4, SH4EB, SPARC, SPARC64, UNICORE32, X86_64,
           XTENSA, XTENSAEB)
    # Names other tools print for the same thing (uname, Debian, old Xen).
    _ALIASES = {"i386": I686, "i486": I686, "i586": I686, "x86_32": I686,
                "x86_32p": I686, "amd64": X86_64}


class HVType(_Enum):
    """Hypervisor types a compute node may report."""

    BAREMETAL, BHYVE, DOCKER, FAKE = "baremetal", "bhyve", "docker", "fake"
    HYPERV, IRONIC, KQEMU, KVM = "hyperv", "ironic", "kqemu", "kvm"
    LXC, LXD, OPENVZ, PARALLELS = "lxc", "lxd", "openvz", "parallels"
    VIRTUOZZO, PHYP, QEMU, TEST = "vz", "phyp", "qemu", "test"
    UML, VBOX, VMWARE, XEN, ZVM, PRSM = ("uml", "vbox", "vmware", "xen",
                                        "zvm", "prsm")
    ALL = (BAREMETAL, BHYVE, DOCKER, FAKE, HYPERV, IRONIC, KQEMU, KVM, LXC,
           LXD, OPENVZ, PARALLELS, VIRTUOZZO, PHYP, QEMU, TEST, UML, VBOX,
           VMWARE, XEN, ZVM, PRSM)
    _ALIASES = {"xapi": XEN}  # XenServer's toolstack name


class VMMode(_Enum):
    """The guest ABI: full virtualisation, Xen paravirt, UML or containers."""

    HVM, XEN, UML, EXE = "hvm", "xen", "uml", "exe"
    ALL = (HVM, XEN, UML, EXE)
    # Spellings of images made before the names were settled.
    _ALIASES = {"pv": XEN, "hv": HVM, "baremetal": HVM}


class OSType(_Enum):
    """Guest operating system families some hypervisors treat differently."""

    LINUX, WINDOWS = "linux", "windows"
    ALL = (LINUX, WINDOWS)


class MaxPhysAddrMode(_Enum):
    """How a guest's physical address bits are chosen."""

    PASSTHROUGH, EMULATE = "passthrough", "emulate"
    ALL = (PASSTHROUGH, EMULATE)


CPUAllocationPolicyField = _enum_field(CPUAllocationPolicy)
CPUThreadAllocationPolicyField = _enum_field(CPUThreadAllocationPolicy)
CPUEmulatorThreadsPolicyField = _enum_field(CPUEmulatorThreadsPolicy)
PCINUMAAffinityPolicyField = _enum_field(PCINUMAAffinityPolicy)
PciDeviceTypeField = _enum_field(PciDeviceType)
ArchitectureField = _enum_field(Architecture)
HVTypeField = _enum_field(HVType)
VMModeField = _enum_field(VMMode)
OSTypeField = _enum_field(OSType)
MaxPhysAddrModeField = _enum_field(MaxPhysAddrMode)


# --- object plumbing shared by the non-persistent objects --------------------

class DefaultsOnInit:
    """Fields with a default are set at construction.

    These objects are built by hand and from older primitives; filling
    defaults up front means an old primitive without, say, ``pcpuset``
    loads with the same empty value a new one would carry, and helpers need
    no "is it set?" checks. Mix in before ``HoststateObject``.
    """

    def __init__(self, context=None, **kwargs):
        super().__init__(context, **kwargs)
        self._set_unset_defaults()

    def _set_unset_defaults(self):
        """``obj_set_defaults()`` for every field left unset, quicker: a
        default whose coerced value is immutable (None, a number, a text:
        most of them) is coerced once per class and set directly, as the
        checked setter would set it; the others (lists, dicts) go through
        the setter, which copies and coerces them for this object.
        Building a RequestSpec spent most of its time here."""
        found = self.__dict__
        changed = self._changed_fields
        for name, value in _immutable_defaults(type(self), self).items():
            key = attrs.PREFIX + name
            if key not in found:
                found[key] = value
                changed.add(name)
        for name in _other_defaults(type(self)):
            if attrs.PREFIX + name not in found:
                setattr(self, name, copy.deepcopy(self.fields[name].default))


#: class -> {field: coerced default} of the defaults that are immutable
_IMMUTABLE_DEFAULTS = {}
#: class -> fields whose default is mutable (set per object)
_OTHER_DEFAULTS = {}
_PLAIN = (int, float, str, bool, type(None), bytes)


def _immutable_defaults(cls, obj):
    known = _IMMUTABLE_DEFAULTS.get(cls)
    if known is None:
        known, others = {}, []
        for name, field in cls.fields.items():
            if field.default is ovo_fields.UnspecifiedDefault:
                continue
            value = obj._checked(name, copy.deepcopy(field.default))
            if type(value) in _PLAIN:
                known[name] = value
            else:
                others.append(name)
        _OTHER_DEFAULTS[cls] = tuple(others)
        _IMMUTABLE_DEFAULTS[cls] = known
    return known


def _other_defaults(cls):
    return _OTHER_DEFAULTS[cls]


class RelationshipBackport:
    """Target-only backports also backport children, by obj_relationships.

    ``HoststateObject.obj_to_primitive(target)`` without a manifest sends
    children at this process's versions. For a parent whose version is
    bumped with its child (NUMATopology with NUMACell), the parent version
    alone says which child version a peer understands, so a target-only
    call here follows ``obj_relationships``. A call with a manifest follows
    the manifest, as everywhere else. Mix in before ``HoststateObject``.
    """

    def obj_to_primitive(self, target_version=None, version_manifest=None):
        if version_manifest is None:
            return changes.sorted_in(self, ovo_base.VersionedObject.
                                     obj_to_primitive(self, target_version))
        return super().obj_to_primitive(target_version, version_manifest)


def dump_json(obj, target_version=None, version_manifest=None):
    """``obj`` as the JSON text of its primitive, for a TEXT column.

    The change lists are left out (they mean nothing at rest) and keys are
    sorted, so one value always has one text and a column only changes
    when the value does.
    """
    primitive = obj.obj_to_primitive(target_version=target_version,
                                     version_manifest=version_manifest)
    return jsonutils.dumps(_without_changes(primitive), sort_keys=True)


_NAME_KEY = "hoststate_object.name"
_CHANGES_KEY = "hoststate_object.changes"


def _without_changes(primitive):
    if isinstance(primitive, dict):
        is_object = _NAME_KEY in primitive
        return {key: _without_changes(value)
                for key, value in primitive.items()
                if not (is_object and key == _CHANGES_KEY)}
    if isinstance(primitive, (list, tuple)):
        return [_without_changes(value) for value in primitive]
    return primitive


def load_json(cls, text):
    """The ``cls`` object serialised in ``text`` by :func:`dump_json`.

    Text that is not JSON raises ValueError; JSON that is not a primitive
    of ``cls`` raises ObjectActionError, and one from a newer version than
    this process knows raises IncompatibleObjectVersion.
    """
    return load_primitive(cls, jsonutils.loads(text))


def load_primitive(cls, primitive):
    """The ``cls`` object in ``primitive``, with :func:`load_json`'s errors."""
    try:
        obj = cls.obj_from_primitive(primitive)
    except ovo_exception.IncompatibleObjectVersion as exc:
        raise exception.IncompatibleObjectVersion(
            objname=cls.obj_name(), version=exc.kwargs.get("objver"),
            reason="this process knows only %s" % cls.VERSION) from None
    except (KeyError, TypeError, AttributeError,
            ovo_exception.UnsupportedObjectError) as exc:
        raise exception.ObjectActionError(
            action="%s.from_json" % cls.obj_name(),
            reason="not a serialised %s (%s)" % (cls.obj_name(), exc),
        ) from None
    if not isinstance(obj, cls):
        raise exception.ObjectActionError(
            action="%s.from_json" % cls.obj_name(),
            reason="the text holds a %s" % obj.obj_name())
    return obj
