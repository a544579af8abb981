"""Instance vm and task states, and what they mean for resource usage.

The words are Nova's, so instances moved between Nova and hoststate (or
logged by either) read the same.
"""

ACTIVE = "active"
BUILDING = "building"
PAUSED = "paused"
SUSPENDED = "suspended"
STOPPED = "stopped"
RESCUED = "rescued"
RESIZED = "resized"
SOFT_DELETED = "soft-delete"
DELETED = "deleted"
ERROR = "error"
SHELVED = "shelved"
SHELVED_OFFLOADED = "shelved_offloaded"

# task states
#: a build handed back to a conductor, which finds it another node
SCHEDULING = "scheduling"
#: a build its agent has taken
SPAWNING = "spawning"
MIGRATING = "migrating"
RESIZE_PREP = "resize_prep"
RESIZE_MIGRATING = "resize_migrating"
RESIZE_MIGRATED = "resize_migrated"
RESIZE_FINISH = "resize_finish"
RESIZE_REVERTING = "resize_reverting"
RESIZE_CONFIRMING = "resize_confirming"
REBUILDING = "rebuilding"
REBUILD_BLOCK_DEVICE_MAPPING = "rebuild_block_device_mapping"
REBUILD_SPAWNING = "rebuild_spawning"

RESIZE_TASK_STATES = frozenset((
    RESIZE_PREP, RESIZE_MIGRATING, RESIZE_MIGRATED, RESIZE_FINISH))
REBUILD_TASK_STATES = frozenset((
    REBUILDING, REBUILD_BLOCK_DEVICE_MAPPING, REBUILD_SPAWNING))


def allows_resource_removal(vm_state, task_state):
    """True when an instance in this state holds no resources on its node.

    Deleted instances hold none; a shelved-offloaded one holds none unless
    it is being unshelved (spawning) right now.
    """
    return vm_state == DELETED or (
        vm_state == SHELVED_OFFLOADED and task_state != SPAWNING)


def is_resizing(vm_state, task_state):
    """True while a resize (or cold migration) holds resources at both ends."""
    if vm_state == RESIZED:
        return True
    return vm_state in (ACTIVE, STOPPED) and task_state in (
        RESIZE_TASK_STATES | REBUILD_TASK_STATES)


def is_live_migrating(vm_state, task_state):
    return task_state == MIGRATING and vm_state in (ACTIVE, PAUSED)
