"""[DEFAULT] compute-side capacity options: reservations, allocation ratios
and the resource update period."""

from oslo_config import cfg

reserved_opts = [
    cfg.IntOpt(
        'reserved_host_memory_mb',
        default=512,
        min=0,
        help="""
Memory in MiB kept back for the host itself (hypervisor, agents,
page cache); it is counted as used and never offered to instances.
"""),
    cfg.IntOpt(
        'reserved_host_disk_mb',
        default=0,
        min=0,
        help="""
Local disk in MiB kept back for the host itself and never offered to
instances.
"""),
    cfg.IntOpt(
        'reserved_host_cpus',
        default=0,
        min=0,
        help="""
Number of host CPUs kept back for the host itself and never offered
to instances.
"""),
]

_RATIO_HELP = """
Overcommit factor for %(what)s: a node offers (total - reserved) *
ratio to instances. Unset means the ratio already stored for the
compute node is kept, and a new node starts with
initial_%(name)s_allocation_ratio.
"""

_INITIAL_RATIO_HELP = """
Allocation ratio for %(what)s given to a compute node when it is
first recorded, if %(name)s_allocation_ratio is unset. Later changes
of this value do not touch existing nodes.
"""

allocation_ratio_opts = [
    cfg.FloatOpt(
        'cpu_allocation_ratio', default=None, min=0.0,
        help=_RATIO_HELP % {'what': 'virtual CPUs', 'name': 'cpu'}),
    cfg.FloatOpt(
        'ram_allocation_ratio', default=None, min=0.0,
        help=_RATIO_HELP % {'what': 'memory', 'name': 'ram'}),
    cfg.FloatOpt(
        'disk_allocation_ratio', default=None, min=0.0,
        help=_RATIO_HELP % {'what': 'local disk', 'name': 'disk'}),
    cfg.FloatOpt(
        'initial_cpu_allocation_ratio', default=4.0, min=0.0,
        help=_INITIAL_RATIO_HELP % {'what': 'virtual CPUs', 'name': 'cpu'}),
    cfg.FloatOpt(
        'initial_ram_allocation_ratio', default=1.0, min=0.0,
        help=_INITIAL_RATIO_HELP % {'what': 'memory', 'name': 'ram'}),
    cfg.FloatOpt(
        'initial_disk_allocation_ratio', default=1.0, min=0.0,
        help=_INITIAL_RATIO_HELP % {'what': 'local disk', 'name': 'disk'}),
]

#: Period used when update_resources_interval is 0.
DEFAULT_UPDATE_RESOURCES_INTERVAL = 60

resource_tracker_opts = [
    cfg.IntOpt(
        'update_resources_interval',
        default=0,
        help="""
Seconds between two runs of the periodic task that re-reads the
hypervisor inventory and writes the compute node record:

* 0 (the default): use the default periodic interval, 60 seconds;
* a positive number: run that often;
* a negative number: never run the periodic task (usage is then only
  updated by claims and instance changes).
"""),
]

compute_opts = reserved_opts + allocation_ratio_opts + resource_tracker_opts


def register_opts(conf):
    conf.register_opts(compute_opts)


def list_opts():
    return {'DEFAULT': compute_opts}
