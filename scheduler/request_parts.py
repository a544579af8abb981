"""The parts of a request vector that follow from its flavor and image
alone, computed once per distinct flavor and image.

A cloud boots a few flavors from a few images, thousands of times: what
one instance takes (``usage_from_flavor``), the typed image properties,
the traits required and forbidden, whether a NUMA topology is asked for
and the PCI NUMA policy are the same every time. They are memoized on
the *values* they are computed from (the flavor's sizes and extra specs,
whether there is an image id, the image's set properties), never on an
object's identity: a flavor changed in place, or another object with
other values, is another key. A NUMA topology that is asked for is not
kept (it is an object a fit may read per request, and is rare); neither
is anything that raised.
"""
from hoststate.hardware import capacity
from hoststate.hardware import numa_pci_fit
from hoststate.hardware import placement_specs
from hoststate.hardware import usage as hw_usage
from hoststate.objects import attrs
from hoststate.objects.attrs import set_value
from hoststate.scheduler import traits as traits_mod

#: Distinct (flavor, image) parts kept before the memo starts again.
MAX_KEPT = 512
#: The flavor fields the parts read.
FLAVOR_FIELDS = ("vcpus", "memory_mb", "root_gb", "ephemeral_gb", "swap")

_kept = {}


class Parts:
    """What the request vector takes from one flavor and image. The NUMA
    answer and the PCI NUMA policy are worked out when first asked, in
    the order the request vector asks (each may raise, and a request
    carrying its own NUMA topology never asks the first)."""

    __slots__ = ("wanted", "overrides_resources", "traits", "_no_numa",
                 "_pci_policy")

    def __init__(self, wanted, overrides_resources, traits):
        self.wanted = wanted
        self.overrides_resources = overrides_resources
        self.traits = traits
        self._no_numa = False
        self._pci_policy = _UNKNOWN

    def numa_constraints(self, compute):
        """``compute()`` (the guest's NUMA constraints of the flavor and
        image), unless it was None for these values before."""
        if self._no_numa:
            return None
        found = compute()
        self._no_numa = found is None
        return found

    def pci_numa_policy(self, flavor, image):
        if self._pci_policy is _UNKNOWN:
            self._pci_policy = numa_pci_fit.numa_policy(
                flavor, image.obj_get("properties")
                if image is not None else None)
        return self._pci_policy


_UNKNOWN = object()


def of(flavor, sizes, image_id, extra_specs, props):
    """The Parts of ``flavor`` and its image (``image_id`` its id,
    ``props`` its ``image_properties``; ``sizes`` the flavor's
    ``FLAVOR_FIELDS`` and ``extra_specs`` its extra specs as a dict),
    memoized by value."""
    key = _key(sizes, image_id, extra_specs, props)
    found = _kept.get(key) if key is not None else None
    if found is None:
        found = _compute(flavor, image_id, extra_specs, props)
        if key is not None:
            if len(_kept) >= MAX_KEPT:
                _kept.clear()
            _kept[key] = found
    return found


def _compute(flavor, image_id, extra_specs, props):
    wanted = capacity.Wanted.of_usage(hw_usage.usage_from_flavor(
        flavor, is_bfv=hw_usage.is_boot_from_volume(
            {"image_ref": image_id})))
    overrides = bool(placement_specs.requested(extra_specs))
    return Parts(wanted, overrides,
                 traits_mod.of_request(extra_specs, props))


def image_properties(image):
    """The image's properties that are set, as a plain dict (read where
    oslo.versionedobjects keeps a set field, ``attrs``, in the order of
    the fields)."""
    if image is None:
        return {}
    props = set_value(image, "properties")
    if props is None:
        return {}
    found = vars(props)
    result = {}
    for name in props.fields:
        value = found.get(attrs.PREFIX + name)
        if value is not None:
            result[name] = value
    return result


def _key(sizes, image_id, extra_specs, props):
    """The values the parts are computed from, hashable; None when some
    value is not plain data (text, numbers and containers of them)."""
    try:
        return (_frozen(sizes), _frozen(extra_specs), bool(image_id),
                _frozen(props))
    except TypeError:
        return None


_PLAIN = (str, int, float, bool, type(None))


def _frozen(value):
    """``value`` as a hashable of its type and contents; TypeError for
    anything but plain data (an object could change in place, and its
    hash would not)."""
    if isinstance(value, _PLAIN):
        return (type(value), value)
    if isinstance(value, (list, tuple)):
        return (type(value), tuple(_frozen(v) for v in value))
    if isinstance(value, (set, frozenset)):
        return (type(value), frozenset(_frozen(v) for v in value))
    if isinstance(value, dict):
        return (dict, tuple((_frozen(k), _frozen(v))
                            for k, v in value.items()))
    raise TypeError(type(value).__name__)
