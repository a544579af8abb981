"""What an instance uses of a node's vcpus, memory and local disk.

Units: ``vcpus`` a count, ``memory_mb`` MiB, ``disk_gb`` GiB. ``disk_gb``
is root + ephemeral disk plus swap, and a flavor's swap is MiB, so (as Nova's
``ResourceTracker._update_usage`` does) swap counts as ``swap / 1024``, a
float. The float is exact: a whole number of MiB over 1024 is a binary
fraction, and sums of them stay exact below 2**43 GiB.

Rounding: ``compute_nodes.local_gb_used`` is an integer column, and a
claim counts an instance's disk in whole GiB rounded up
(``consumption.Consumption.of``, with ``conf.node_defaults.whole_gib``),
so that claims (one instance at a time) and the periodic recount (every
instance together) store exactly the same number and never under-count.
Nova instead truncates each instance's partial GiB of swap on its own;
hoststate does not reproduce that, on purpose.

Boot from volume: the root disk lives on a volume, not on the node, so it
counts 0 GiB. :func:`is_boot_from_volume` uses Nova's first test, an empty
``image_ref`` (Nova then also looks at the block device mappings, which
hoststate does not model). Nova caches the answer per instance uuid in the
tracker (``is_bfv``); caching is the tracker's business, these functions
are pure.
"""
import dataclasses

from hoststate.hardware import placement_specs


@dataclasses.dataclass(frozen=True)
class Usage:
    """vcpus, MiB of memory and GiB of local disk (a float: see above)."""

    vcpus: int = 0
    memory_mb: int = 0
    disk_gb: float = 0.0


def _get(obj, name, default=None):
    """``obj.name`` for a dict or an object, ``default`` when unset/None."""
    if isinstance(obj, dict):
        value = obj.get(name)
    elif hasattr(obj, "obj_fields"):
        value = getattr(obj, name) if name in obj.obj_fields and \
            obj.obj_attr_is_set(name) else None
    else:
        value = getattr(obj, name, None)
    return default if value is None else value


def usage_from_flavor(flavor, is_bfv=False):
    """The usage of an instance of ``flavor``: its vcpus and memory, and
    root (0 when booted from volume) + ephemeral GiB + swap MiB / 1024;
    each replaced by the flavor's ``resources:VCPU``, ``resources:MEMORY_MB``
    or ``resources:DISK_GB`` extra spec when it has one (Nova's Placement
    request, see ``placement_specs``)."""
    root_gb = 0 if is_bfv else _get(flavor, "root_gb", 0)
    usage = {"vcpus": _get(flavor, "vcpus", 0),
             "memory_mb": _get(flavor, "memory_mb", 0),
             "disk_gb": root_gb + _get(flavor, "ephemeral_gb", 0)
             + _get(flavor, "swap", 0) / 1024}
    extra_specs = _get(flavor, "extra_specs")
    if extra_specs:
        placement_specs.overridden(usage, extra_specs)
    return Usage(**usage)


def is_boot_from_volume(instance):
    """Whether ``instance`` boots from a volume: Nova's heuristic, an
    instance without an ``image_ref`` (None or empty) has its root disk
    on a volume."""
    return not _get(instance, "image_ref")
