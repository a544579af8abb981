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
]


def register_opts(conf):
    utils.register_group_opts(conf, cells_group, cells_opts)


def list_opts():
    return {cells_group.name: cells_opts}
