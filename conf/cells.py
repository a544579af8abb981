"""[cells] options: Nova's cells v1 group, kept so old nova.conf files read."""

from oslo_config import cfg

from hoststate.conf import limits
from hoststate.conf import utils

cells_group = cfg.OptGroup(
    'cells',
    title='Cells options',
    help='Identity and behaviour of this cell in a multi-cell deployment.')

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
    cfg.ListOpt(
        'capabilities',
        default=['hypervisor=xenserver;kvm', 'os=linux;windows'],
        item_type=utils.name_list(limits.NAME_LENGTH),
        help="""
Capabilities this cell advertises to the cell selection step, as
``key=value1;value2`` entries.
"""),
    cfg.IntOpt(
        'call_timeout',
        default=60,
        min=1,
        max=limits.MAX_INTERVAL,
        help='Seconds to wait for a reply to a call made to another cell '
             '(at most 86400, one day).'),
]


def register_opts(conf):
    utils.register_group_opts(conf, cells_group, cells_opts)


def list_opts():
    return {cells_group.name: cells_opts}
