"""[cells] options: Nova's cells v1 group, kept so old nova.conf files read."""

from oslo_config import cfg
from oslo_config import types

from hoststate.cells import capabilities as cell_capabilities
from hoststate.conf import limits
from hoststate.conf import utils

#: Nova's classic flavors (m1.*), as NAME:VCPUS:MEMORY_MB:DISK_GB.
DEFAULT_CAPACITY_FLAVORS = [
    'm1.tiny:1:512:1', 'm1.small:1:2048:20', 'm1.medium:2:4096:40',
    'm1.large:4:8192:80', 'm1.xlarge:8:16384:160']


class CapabilityList(types.List):
    """``capabilities`` read and checked whole by
    ``hoststate.cells.capabilities.parse`` (a key given twice is an error
    only a look at every entry finds); the value stays the list of
    entries, as oslo.config and Nova give it."""

    def __call__(self, value):
        entries = super().__call__(value)
        cell_capabilities.parse(entries)
        return entries


class CapacityFlavorList(types.List):
    """``capacity_flavors`` checked whole by
    ``hoststate.cells.capabilities.parse_flavors`` (a name given twice,
    more than 100 entries)."""

    def __call__(self, value):
        entries = super().__call__(value)
        cell_capabilities.parse_flavors(entries)
        return entries


cells_group = cfg.OptGroup(
    'cells',
    title='Cells options',
    help='Identity and behaviour of this cell in a multi-cell deployment.')

def _checked_list(list_type, name, **kwargs):
    """A ListOpt of entries of at most 255 characters whose value
    ``list_type`` checks as a whole when it is read (still a
    ``cfg.ListOpt`` for the sample generator and ``config show``)."""
    opt = cfg.ListOpt(name, **kwargs)
    opt.type = list_type(item_type=utils.name_list(limits.NAME_LENGTH))
    return opt


cells_opts = [
    cfg.BoolOpt(
        'enable',
        default=False,
        help='Whether this process takes part in cell scheduling.'),
    cfg.StrOpt(
        'name',
        default='nova',
        max_length=limits.NAME_LENGTH,
        help='Name of this cell; it must be unique in the deployment.'),
    _checked_list(
        CapabilityList,
        'capabilities',
        default=['hypervisor=xenserver;kvm', 'os=linux;windows'],
        help="""
Capabilities this cell advertises to the cell selection step, as
``key=value1;value2`` entries: a key once, a non-empty key and at least
one value, each entry at most 255 characters.
"""),
    cfg.IntOpt(
        'call_timeout',
        default=60,
        min=1,
        max=limits.MAX_INTERVAL,
        help='Seconds to wait for a reply to a call made to another cell '
             '(at most 86400, one day).'),
    utils.float_opt(
        'reserve_percent',
        default=10.0,
        min=0.0,
        max=100.0,
        help="""
Percentage of each node's memory and disk (total times allocation
ratio) held back when this cell counts, for its parent, how many more
instances of each capacity flavor it holds. The free totals it reports
are not reduced.
"""),
    _checked_list(
        CapacityFlavorList,
        'capacity_flavors',
        default=DEFAULT_CAPACITY_FLAVORS,
        help="""
Flavors whose free units this cell reports to its parent, as
``NAME:VCPUS:MEMORY_MB:DISK_GB`` entries (at most 100, names unique,
VCPUS and MEMORY_MB at least 1, DISK_GB at least 0). The count of each
is per node: instances that fit on some node, not a sum of free amounts.
"""),
    cfg.IntOpt(
        'broadcast_interval',
        default=10,
        min=1,
        max=limits.MAX_INTERVAL,
        help="""
Seconds between two broadcasts of this cell's capabilities and capacity
to its parent (the cells service sends one at start too).
"""),
    utils.float_opt(
        'down_after_broadcasts',
        default=3.0,
        min=1.0,
        max=1000.0,
        help="""
A child cell silent for longer than this many broadcast intervals
(``broadcast_interval``) is down at its parent: no build goes to it, and
views show it as down. Nova's cells v1 had an absolute
``mute_child_interval`` instead.
"""),
    cfg.IntOpt(
        'instance_sync_interval',
        default=1,
        min=1,
        max=limits.MAX_INTERVAL,
        help="""
Seconds between two looks of this cell's cells service for instances
created, changed or deleted since its last sync to its parent.
"""),
    cfg.IntOpt(
        'instance_update_sync_database_limit',
        default=100,
        min=1,
        max=10000,
        help='Most instances one sync message to the parent carries '
             '(Nova\'s name); a sync with more sends several.'),
    cfg.IntOpt(
        'max_hop_count',
        default=10,
        min=1,
        max=100,
        help='Most cells a build or a call may pass through down the tree '
             '(Nova\'s name): a tree deeper than this, or a loop, is '
             'refused rather than followed.'),
    cfg.ListOpt(
        'scheduler_filters',
        item_type=utils.name_list(limits.NAME_LENGTH),
        default=['TargetCellFilter', 'DownCellFilter', 'CapabilitiesFilter',
                 'CapacityFilter'],
        help='The cell filters a parent applies to its children before '
             'it weighs them, by class name, in order.'),
    cfg.ListOpt(
        'scheduler_weighers',
        item_type=utils.name_list(limits.NAME_LENGTH),
        default=['RamByFreeUnitsWeigher', 'WeightOffsetWeigher'],
        help='The cell weighers a parent sums to rank its children, by '
             'class name.'),
    utils.float_opt(
        'ram_weight_multiplier',
        default=10.0,
        min=-limits.MAX_WEIGHT,
        max=limits.MAX_WEIGHT,
        help='Multiplier of the RAM-by-free-units weigher (Nova\'s name '
             'and default; at most 1e9 either way): positive spreads '
             'builds over cells with the most room for the requested '
             'flavor.'),
    utils.float_opt(
        'offset_weight_multiplier',
        default=1.0,
        min=-limits.MAX_WEIGHT,
        max=limits.MAX_WEIGHT,
        help="Multiplier of each cell's weight offset (``cell-add "
             "--weight-offset``; Nova's name and default)."),
]


def register_opts(conf):
    utils.register_group_opts(conf, cells_group, cells_opts)


def list_opts():
    return {cells_group.name: cells_opts}
