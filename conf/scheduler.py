"""[scheduler] and [filter_scheduler] options.

Options that lived in [DEFAULT] before Nova grew the [filter_scheduler] group
keep their old names as deprecated aliases, so an older nova.conf still
configures the same behaviour.
"""

from oslo_config import cfg

from hoststate.conf import limits
from hoststate.conf import utils

#: CPU architectures a host or image may declare (Nova's list).
ARCHITECTURES = (
    'alpha', 'armv6', 'armv7l', 'armv7b', 'aarch64', 'cris', 'i686', 'ia64',
    'lm32', 'm68k', 'microblaze', 'microblazeel', 'mips', 'mipsel', 'mips64',
    'mips64el', 'openrisc', 'parisc', 'parisc64', 'ppc', 'ppcle', 'ppc64',
    'ppc64le', 'ppcemb', 's390', 's390x', 'sh4', 'sh4eb', 'sparc', 'sparc64',
    'unicore32', 'x86_64', 'xtensa', 'xtensaeb',
)

#: The value of [filter_scheduler] weight_classes that selects every weigher.
ALL_WEIGHERS = 'all'

scheduler_group = cfg.OptGroup(
    'scheduler', title='Scheduler options',
    help='General behaviour of the scheduler service.')

filter_scheduler_group = cfg.OptGroup(
    'filter_scheduler', title='Filter scheduler options',
    help='Which filters and weighers choose a host, and how.')

scheduler_opts = [
    cfg.IntOpt(
        'max_attempts', default=3, min=1, max=limits.INT32_MAX,
        deprecated_name='scheduler_max_attempts', deprecated_group='DEFAULT',
        help="""
Number of hosts tried for one instance: the selected host plus
alternates to fall back on when a build or a claim fails there.
"""),
    cfg.IntOpt(
        'workers', default=None, min=0, max=limits.INT32_MAX,
        help="""
Number of scheduler worker processes. Unset means one per CPU of the
host.
"""),
    cfg.BoolOpt(
        'limit_tenants_to_placement_aggregate', default=False,
        help="""
Keep a project on the hosts of the aggregates set aside for it: an
aggregate whose metadata has a key starting with ``filter_tenant_id``
and the project's id as one of its values. A project that has no such
aggregate may go anywhere, unless
``placement_aggregate_required_for_tenants`` is set.
"""),
    cfg.BoolOpt(
        'placement_aggregate_required_for_tenants', default=False,
        help="""
With ``limit_tenants_to_placement_aggregate``: a project that has no
aggregate set aside for it gets no host at all.
"""),
    cfg.BoolOpt(
        'query_placement_for_image_type_support', default=False,
        help="""
Place an instance booted from an image only on nodes that can take the
image's ``disk_format``: nodes whose traits include
``COMPUTE_IMAGE_TYPE_<FORMAT>`` (``COMPUTE_IMAGE_TYPE_QCOW2`` for a qcow2
image). A boot from a volume is not concerned.
"""),
    cfg.BoolOpt(
        'enable_isolated_aggregate_filtering', default=False,
        help="""
Set aside the hosts of aggregates that require traits: an aggregate with
metadata ``trait:<NAME>=required`` takes only instances whose flavor
extra specs or image properties also say ``trait:<NAME>=required``, for
each such NAME it has; other instances go to hosts outside it.
"""),
    cfg.IntOpt(
        'discover_hosts_in_cells_interval', default=-1, min=-1,
        max=limits.MAX_INTERVAL,
        help="""
Seconds between two scans of the cell databases for compute hosts
that are not yet mapped to a cell. -1 disables the periodic scan; at
most 86400 (one day).
"""),
]


def _multiplier(name, default, help_text, min=-limits.MAX_WEIGHT,
                deprecated_group=None):
    """A weigher multiplier: a finite number of at most MAX_WEIGHT (1e9)
    either way, so the sum of every weigher stays finite and precise."""
    return utils.float_opt(name, default=default, min=min,
                           max=limits.MAX_WEIGHT, help=help_text,
                           deprecated_group=deprecated_group)


_SIGN = ("Positive values favour hosts with more %s, negative values hosts "
         "with less, 0 disables the weigher.")

weigher_opts = [
    _multiplier('ram_weight_multiplier', 1.0, deprecated_group='DEFAULT',
                help_text=_SIGN % 'free memory'),
    _multiplier('cpu_weight_multiplier', 1.0,
                help_text=_SIGN % 'free virtual CPUs'),
    _multiplier('disk_weight_multiplier', 1.0, deprecated_group='DEFAULT',
                help_text=_SIGN % 'free local disk'),
    _multiplier('io_ops_weight_multiplier', -1.0, deprecated_group='DEFAULT',
                help_text=_SIGN % 'concurrent I/O-heavy operations (the '
                'negative default spreads such operations)'),
    _multiplier('num_instances_weight_multiplier', 0.0,
                help_text=_SIGN % 'instances (0 by default: instance count '
                'is ignored)'),
    _multiplier('hypervisor_version_weight_multiplier', 1.0,
                help_text=_SIGN % 'recent hypervisor versions'),
    _multiplier('pci_weight_multiplier', 1.0, min=0.0,
                help_text="Weight of the PCI weigher, which keeps hosts with "
                "PCI devices for requests that need them. Must be >= 0."),
    _multiplier('soft_affinity_weight_multiplier', 1.0, min=0.0,
                deprecated_group='DEFAULT',
                help_text="Weight pulling an instance towards hosts running "
                "members of its soft-affinity server group. Must be >= 0."),
    _multiplier('soft_anti_affinity_weight_multiplier', 1.0, min=0.0,
                deprecated_group='DEFAULT',
                help_text="Weight pushing an instance away from hosts "
                "running members of its soft-anti-affinity server group. "
                "Must be >= 0."),
    _multiplier('build_failure_weight_multiplier', 1000000.0,
                help_text="Penalty per recent build failure on a host; the "
                "large default makes a failing host the last resort. 0 "
                "disables it."),
    _multiplier('cross_cell_move_weight_multiplier', 1000000.0,
                help_text="During a move, positive values prefer hosts in "
                "the instance's current cell, negative values hosts in "
                "other cells."),
]

filter_scheduler_opts = [
    cfg.ListOpt(
        'enabled_filters',
        item_type=utils.name_list(limits.NAME_LENGTH),
        default=['ComputeFilter', 'ComputeCapabilitiesFilter',
                 'ImagePropertiesFilter', 'ServerGroupAntiAffinityFilter',
                 'ServerGroupAffinityFilter'],
        deprecated_name='scheduler_default_filters',
        deprecated_group='DEFAULT',
        help="Filters a host must pass, by class name, applied in order."),
    cfg.ListOpt(
        'weight_classes', default=[ALL_WEIGHERS],
        item_type=utils.name_list(limits.NAME_LENGTH),
        deprecated_name='scheduler_weight_classes',
        deprecated_group='DEFAULT',
        help="""
Weighers that rank the hosts left after filtering, by class name.
The single entry ``all`` selects every registered weigher.
"""),
    cfg.IntOpt(
        'host_subset_size', default=1, min=1, max=limits.INT32_MAX,
        deprecated_name='scheduler_host_subset_size',
        deprecated_group='DEFAULT',
        help="""
The host is picked at random among this many best-weighed hosts.
Values above 1 lower the chance that concurrent schedulers pick the
same host.
"""),
    cfg.IntOpt(
        'max_io_ops_per_host', default=8, min=0, max=limits.INT32_MAX,
        deprecated_group='DEFAULT',
        help="""
Hosts already running this many I/O-heavy operations (builds,
resizes, snapshots, migrations) are rejected by the IoOpsFilter.
"""),
    cfg.IntOpt(
        'max_instances_per_host', default=50, min=1, max=limits.INT32_MAX,
        deprecated_group='DEFAULT',
        help="Hosts with this many instances are rejected by the "
             "NumInstancesFilter."),
    cfg.BoolOpt(
        'shuffle_best_same_weighed_hosts', default=False,
        help="""
Shuffle the hosts that share the best weight before picking, so that
equal hosts (typically bare-metal nodes) are used evenly.
"""),
    cfg.BoolOpt(
        'track_instance_changes', default=True,
        deprecated_name='scheduler_tracks_instance_changes',
        deprecated_group='DEFAULT',
        help="""
Keep the per-host instance lists up to date from what compute
services send, instead of reading them from the database on every
request. Affinity filters rely on these lists.
"""),
] + weigher_opts + [
    cfg.StrOpt(
        'image_properties_default_architecture', default=None,
        choices=ARCHITECTURES,
        help="""
Architecture assumed by the ImagePropertiesFilter for an image that
declares none. Unset means such an image matches hosts of any
architecture.
"""),
    cfg.ListOpt(
        'isolated_images', default=[], deprecated_group='DEFAULT',
        item_type=utils.name_list(limits.NAME_LENGTH),
        help="Image UUIDs that may only run on isolated_hosts."),
    cfg.ListOpt(
        'isolated_hosts', default=[], deprecated_group='DEFAULT',
        item_type=utils.name_list(limits.NAME_LENGTH),
        help="Host names reserved for isolated_images."),
    cfg.BoolOpt(
        'restrict_isolated_hosts_to_isolated_images', default=True,
        deprecated_group='DEFAULT',
        help="""
If true, isolated_hosts accept only isolated_images; if false they
also accept any image not in isolated_images.
"""),
    cfg.StrOpt(
        'aggregate_image_properties_isolation_namespace', default=None,
        max_length=limits.NAME_LENGTH,
        deprecated_group='DEFAULT',
        help="""
Only aggregate metadata keys starting with this namespace are
compared with image properties by the
AggregateImagePropertiesIsolation filter. Unset means every key is
compared.
"""),
    cfg.StrOpt(
        'aggregate_image_properties_isolation_separator', default='.',
        max_length=limits.NAME_LENGTH,
        deprecated_group='DEFAULT',
        help="Separator between the namespace and the key name in the "
             "aggregate metadata keys described above."),
]


def register_opts(conf):
    utils.register_group_opts(conf, scheduler_group, scheduler_opts)
    utils.register_group_opts(conf, filter_scheduler_group, filter_scheduler_opts)


def list_opts():
    return {scheduler_group.name: scheduler_opts,
            filter_scheduler_group.name: filter_scheduler_opts}
