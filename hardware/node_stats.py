"""A node's instance statistics, as ComputeNode.stats stores them.

Nova's per-node counts (instances by state, os type and project, the
``io_workload`` IoOpsFilter reads). The tracker's recount builds them from
scratch and claims (the tracker's and the scheduler's) add or remove one
instance, with the same keys, so both end with the same dict.
"""
import collections

from hoststate.objects import states

#: Task states whose instances count as I/O work on the node (Nova's
#: ``io_workload`` stat, which IoOpsFilter reads).
IO_TASK_STATES = frozenset((
    states.RESIZE_MIGRATING, states.REBUILDING, states.RESIZE_PREP,
    "image_snapshot", "image_backup", "rescuing", "unshelving",
    "shelving", "shelving_offloading", states.SPAWNING))


def instance_stats(instances, node=None):
    """Nova's per-node stats: counts by state, os type and project."""
    return stats_of_states(collections.Counter(map(state_of, instances)),
                           node)


def state_of(instance):
    """(vm_state, task_state, os_type, project_id): all the stats read of
    an instance, so instances alike are counted once per kind."""
    return (instance.vm_state, instance.obj_get("task_state"),
            instance.obj_get("os_type"), instance.obj_get("project_id"))


def stats_of_states(counted_states, node=None):
    """``instance_stats`` of instances given as {``state_of`` tuple:
    number of instances}: a node's fifty instances are a few kinds, and
    the keys are made once per kind (in the order of first occurrence, as
    one instance at a time would add them)."""
    counts = {"num_instances": sum(counted_states.values()),
              "io_workload": 0}
    for state, number in counted_states.items():
        for key in _keys_of_state(*state):
            counts[key] = counts.get(key, 0) + number
    stats = {key: str(value) for key, value in counts.items()}
    failed = (node.obj_get("stats") or {}).get("failed_builds") if node else None
    stats["failed_builds"] = failed or "0"
    return stats


def _stat_keys(instance):
    return _keys_of_state(*state_of(instance))


def _keys_of_state(vm_state, task_state, os_type, project_id):
    keys = [f"num_vm_{vm_state}", f"num_task_{task_state}",
            f"num_os_type_{os_type}", f"num_proj_{project_id}"]
    if task_state in IO_TASK_STATES:
        keys.append("io_workload")
    return keys


def stats_with(stats, instance, sign):
    """``stats`` with one instance counted in (sign 1) or out (sign -1).

    Values are strings, as ComputeNode.stats stores them; a count that
    drops to zero is removed, so a recount and a sequence of claims and
    aborts end with the same dict.
    """
    stats = dict(stats or {})
    for key in ["num_instances"] + _stat_keys(instance):
        value = int(stats.get(key, 0)) + sign
        if value > 0 or key in ("num_instances", "io_workload"):
            stats[key] = str(max(value, 0))
        else:
            stats.pop(key, None)
    stats.setdefault("io_workload", "0")
    stats.setdefault("failed_builds", "0")
    return stats


def apply_stats(node, instance, sign):
    """Count ``instance`` in or out of the node's stats and counters."""
    node.stats = stats_with(node.obj_get("stats"), instance, sign)
    node.running_vms = int(node.stats["num_instances"])
    node.current_workload = int(node.stats["io_workload"])
