"""Weighers on per-node counters: I/O operations, instances, failed builds
and the hypervisor version.

The counters are table columns (filled from the node's stats when it is
written, and bumped by claims), so each weigher is a single gather.
"""
from hoststate.scheduler.weights import resources


class IoOpsWeigher(resources.ColumnWeigher):
    """Concurrent I/O-heavy operations (builds, resizes, snapshots...).

    The default multiplier is negative, so the busiest host loses; ``minval
    = 0`` measures busyness from idle rather than from the least busy
    candidate.
    """

    minval = 0
    column = "num_io_ops"
    multiplier_option = "io_ops_weight_multiplier"


class NumInstancesWeigher(resources.ColumnWeigher):
    """Instances on the node; off by default (multiplier 0), negative to
    spread by instance count, positive to pack. No ``minval``, as in Nova
    34: the counts are compared with each other, not with an empty
    host."""

    column = "num_instances"
    multiplier_option = "num_instances_weight_multiplier"


class BuildFailureWeigher(resources.ColumnWeigher):
    """Recent failed builds, so a broken host stops attracting builds.

    The configured multiplier is a penalty size (positive, and large so it
    outweighs every other weigher); it is negated here, after the aggregate
    override, so more failures always mean a lower weight.
    """

    column = "failed_builds"
    multiplier_option = "build_failure_weight_multiplier"
    multiplier_sign = -1.0


class HypervisorVersionWeigher(resources.ColumnWeigher):
    """The hypervisor version (an unreported one counts as 0): prefers newer
    hosts by default, older ones with a negative multiplier."""

    column = "hypervisor_version"
    multiplier_option = "hypervisor_version_weight_multiplier"
