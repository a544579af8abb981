"""[DEFAULT] compute-side capacity options: reservations, allocation ratios
and the resource update period."""

from oslo_config import cfg

from hoststate.conf import limits
from hoststate.conf import utils

reserved_opts = [
    cfg.IntOpt(
        'reserved_host_memory_mb',
        default=512,
        min=0,
        max=limits.INT32_MAX,
        help="""
Memory in MiB kept back for the host itself (hypervisor, agents,
page cache); it is counted as used and never offered to instances.
"""),
    cfg.IntOpt(
        'reserved_host_disk_mb',
        default=0,
        min=0,
        max=limits.INT32_MAX,
        help="""
Local disk in MiB kept back for the host itself and never offered to
instances.
"""),
    cfg.IntOpt(
        'reserved_host_cpus',
        default=0,
        min=0,
        max=limits.INT32_MAX,
        help="""
Number of host CPUs kept back for the host itself and never offered
to instances.
"""),
]

_RATIO_HELP = """
Overcommit factor for %(what)s: a node offers (total - reserved) *
ratio to instances. Unset means the ratio already stored for the
compute node is kept, and a new node starts with
initial_%(name)s_allocation_ratio. At most 1,000,000 (see
hoststate.conf.limits.MAX_ALLOCATION_RATIO).
"""

_INITIAL_RATIO_HELP = """
Allocation ratio for %(what)s given to a compute node when it is
first recorded, if %(name)s_allocation_ratio is unset. Later changes
of this value do not touch existing nodes. At most 1,000,000.
"""


def _ratio_opt(name, default, help_text):
    """An allocation ratio: a finite number from 0 to MAX_ALLOCATION_RATIO."""
    return utils.float_opt(name, default=default, min=0.0,
                           max=limits.MAX_ALLOCATION_RATIO, help=help_text)


allocation_ratio_opts = [
    _ratio_opt(
        'cpu_allocation_ratio', default=None,
        help_text=_RATIO_HELP % {'what': 'virtual CPUs', 'name': 'cpu'}),
    _ratio_opt(
        'ram_allocation_ratio', default=None,
        help_text=_RATIO_HELP % {'what': 'memory', 'name': 'ram'}),
    _ratio_opt(
        'disk_allocation_ratio', default=None,
        help_text=_RATIO_HELP % {'what': 'local disk', 'name': 'disk'}),
    _ratio_opt(
        'initial_cpu_allocation_ratio', default=4.0,
        help_text=_INITIAL_RATIO_HELP % {'what': 'virtual CPUs',
                                         'name': 'cpu'}),
    _ratio_opt(
        'initial_ram_allocation_ratio', default=1.0,
        help_text=_INITIAL_RATIO_HELP % {'what': 'memory', 'name': 'ram'}),
    _ratio_opt(
        'initial_disk_allocation_ratio', default=1.0,
        help_text=_INITIAL_RATIO_HELP % {'what': 'local disk',
                                         'name': 'disk'}),
]

#: Period used when update_resources_interval is 0.
DEFAULT_UPDATE_RESOURCES_INTERVAL = 60

resource_tracker_opts = [
    cfg.IntOpt(
        'update_resources_interval',
        default=0,
        min=limits.INT32_MIN,
        max=limits.MAX_INTERVAL,
        help="""
Seconds between two runs of the periodic task that re-reads the
hypervisor inventory and writes the compute node record:

* 0 (the default): use the default periodic interval, 60 seconds;
* a positive number: run that often (at most 86400, one day);
* a negative number: never run the periodic task (usage is then only
  updated by claims and instance changes).
"""),
]

compute_opts = reserved_opts + allocation_ratio_opts + resource_tracker_opts


def register_opts(conf):
    conf.register_opts(compute_opts)


def list_opts():
    return {'DEFAULT': compute_opts}
