"""What an instance uses of a node's vcpus, memory and local disk.

Units: ``vcpus`` a count, ``memory_mb`` MiB, ``disk_gb`` GiB. ``disk_gb``
is root + ephemeral disk plus swap, and a flavor's swap is MiB, so (as Nova's
``ResourceTracker._update_usage`` does) swap counts as ``swap / 1024``, a
float. The float is exact: a whole number of MiB over 1024 is a binary
fraction, and sums of them stay exact below 2**43 GiB.

Rounding into ``compute_nodes.local_gb_used`` (an integer column).
Nova adds ``root_gb``, ``ephemeral_gb`` and ``swap / 1024`` to the
ComputeNode's integer field in separate steps, and each assignment coerces
with ``int()`` (truncation toward zero). So Nova does not store ``int()`` of
the float sum: from its periodic recompute (every counted instance added
with sign +1 onto ``reserved_host_disk_mb / 1024``) it stores::

    int(reserved_host_disk_mb / 1024) + sum(int(u.disk_gb) for u in usages)

that is, each instance's partial GiB of swap is dropped on its own (two
instances with 512 MiB of swap add 0, not 1). :func:`local_gb_used` computes
exactly that; the tracker should store it and not ``int()`` of a summed
:class:`Usage`. (Between two periodic runs Nova's removal of an instance
truncates ``x - d`` and so subtracts ``ceil(d)``, one GiB more than was
added for a fractional swap; the next periodic run repairs the drift. A
tracker that recomputes usage from its instances does not reproduce that
drift, on purpose.)

Boot from volume: the root disk lives on a volume, not on the node, so it
counts 0 GiB. :func:`is_boot_from_volume` uses Nova's first test, an empty
``image_ref`` (Nova then also looks at the block device mappings, which
hoststate does not model). Nova caches the answer per instance uuid in the
tracker (``is_bfv``); caching is the tracker's business, these functions
are pure.
"""
import dataclasses


@dataclasses.dataclass(frozen=True)
class Usage:
    """vcpus, MiB of memory and GiB of local disk (a float: see above)."""

    vcpus: int = 0
    memory_mb: int = 0
    disk_gb: float = 0.0

    def __add__(self, other):
        if not isinstance(other, Usage):
            return NotImplemented
        return Usage(self.vcpus + other.vcpus,
                     self.memory_mb + other.memory_mb,
                     self.disk_gb + other.disk_gb)

    def __sub__(self, other):
        if not isinstance(other, Usage):
            return NotImplemented
        return self + other.scaled(-1)

    def __neg__(self):
        return self.scaled(-1)

    def scaled(self, sign):
        """This usage times ``sign`` (+1 to add it to a node, -1 to remove
        it, as Nova's ``_update_usage(usage, nodename, sign)``)."""
        return Usage(sign * self.vcpus, sign * self.memory_mb,
                     sign * self.disk_gb)


ZERO = Usage()


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
    root (0 when booted from volume) + ephemeral GiB + swap MiB / 1024."""
    root_gb = 0 if is_bfv else _get(flavor, "root_gb", 0)
    return Usage(_get(flavor, "vcpus", 0), _get(flavor, "memory_mb", 0),
                 root_gb + _get(flavor, "ephemeral_gb", 0)
                 + _get(flavor, "swap", 0) / 1024)


def is_boot_from_volume(instance):
    """Whether ``instance`` boots from a volume: Nova's heuristic, an
    instance without an ``image_ref`` (None or empty) has its root disk
    on a volume."""
    return not _get(instance, "image_ref")


def usage_from_instance(instance, is_bfv=None):
    """The usage of ``instance``, from its flavor; when the flavor is unset,
    from the instance's own vcpus/memory_mb/root_gb/ephemeral_gb columns
    (which carry no swap). ``is_bfv`` None means :func:`is_boot_from_volume`.
    Unset sizes count 0."""
    if is_bfv is None:
        is_bfv = is_boot_from_volume(instance)
    flavor = _get(instance, "flavor")
    return usage_from_flavor(instance if flavor is None else flavor, is_bfv)


def local_gb_used(usages, reserved_host_disk_mb=0):
    """The integer ``local_gb_used`` Nova stores for a node whose counted
    instances use ``usages``: each instance's disk truncated on its own,
    on top of the truncated reserved disk (see the module docstring)."""
    return int(reserved_host_disk_mb / 1024) + sum(
        int(usage.disk_gb) for usage in usages)
