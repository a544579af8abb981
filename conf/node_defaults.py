"""What a compute node's unset numbers read as, resolved in one place.

Two kinds of number come from the configuration rather than the node:

* **allocation ratios**: a ratio stored as None or 0.0 means "the
  configured ``*_allocation_ratio``, else ``initial_*_allocation_ratio``"
  (Nova's rule); the compute side, which writes the ratios a node carries,
  lets a configured ratio win over the stored one (``configured_wins``);
* **reserved resources**: ``reserved_host_cpus``, ``reserved_host_memory_mb``
  and ``reserved_host_disk_mb``, the baseline a node's usage starts from;
  reserved disk counts whole GiB, rounded up like an instance's disk.

Everything here reads the configuration object its caller passes, never
the process-wide ``CONF``: a scheduler built with a configuration of its
own resolves with that one. This module lives under ``conf`` because
objects (``ComputeNode``) need it and objects may not import ``hardware``.
"""
import dataclasses
import math

#: The three ratio fields, in the order of (vcpus, memory_mb, disk_gb).
RATIOS = ("cpu_allocation_ratio", "ram_allocation_ratio",
          "disk_allocation_ratio")


def unset(ratio):
    """Whether a stored ratio means "use the configured one" (None, 0.0)."""
    return ratio is None or ratio == 0.0


def whole_gib(mib):
    """MiB of disk as whole GiB, rounded up: how an instance's disk (swap
    included) and the reserved disk are counted, so that claims (one
    instance at a time) and recounts (all together) add up alike and
    never under-count."""
    return math.ceil(mib / 1024)


@dataclasses.dataclass(frozen=True)
class NodeDefaults:
    """Resolved ratios and reserved amounts (vcpus a count, memory MiB,
    disk GiB)."""

    cpu_allocation_ratio: float
    ram_allocation_ratio: float
    disk_allocation_ratio: float
    reserved_vcpus: int
    reserved_memory_mb: int
    reserved_disk_gb: int

    def ratios(self):
        """{ratio field: value}."""
        return {name: getattr(self, name) for name in RATIOS}


def resolve(conf, node=None, configured_wins=False):
    """The ratios and reserved amounts of ``node`` under ``conf``.

    ``node`` (a ComputeNode, a compute_nodes row mapping, or None for a
    node that stores nothing) keeps a ratio it has set; an unset one reads
    as the configured ratio, else the initial one. With
    ``configured_wins`` (the compute side choosing what to store) a
    configured ratio replaces the stored one.
    """
    ratios = {}
    for name in RATIOS:
        configured = conf[name]
        stored = _stored(node, name)
        if configured_wins and not unset(configured):
            ratios[name] = configured
        elif not unset(stored):
            ratios[name] = stored
        else:
            ratios[name] = configured if not unset(configured) \
                else conf["initial_" + name]
    return NodeDefaults(
        reserved_vcpus=conf.reserved_host_cpus,
        reserved_memory_mb=conf.reserved_host_memory_mb,
        reserved_disk_gb=whole_gib(conf.reserved_host_disk_mb), **ratios)


def _stored(node, name):
    if node is None:
        return None
    if hasattr(node, "obj_get"):
        return node.obj_get(name)
    if hasattr(node, "get"):
        return node.get(name)
    return getattr(node, name, None)
