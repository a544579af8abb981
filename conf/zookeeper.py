"""[zookeeper] settings of the ZooKeeper service group driver."""

from oslo_config import cfg

from hoststate.conf import limits
from hoststate.conf import utils

zookeeper_group = cfg.OptGroup(
    'zookeeper',
    title='ZooKeeper service group options',
    help='Used when [DEFAULT] servicegroup_driver is "zk".')

zookeeper_opts = [
    cfg.StrOpt(
        'address',
        default=None,
        max_length=limits.TEXT_LENGTH,
        help="""
The ZooKeeper ensemble, as comma-separated ``host:port`` pairs, for
example ``192.168.2.1:2181,192.168.2.2:2181,192.168.2.3:2181``.
"""),
    cfg.IntOpt(
        'recv_timeout',
        default=4000,
        min=1,
        max=limits.MAX_INTERVAL * 1000,
        help="""
ZooKeeper session timeout in milliseconds. When the ensemble hears
nothing from a service for this long, its session expires, its
ephemeral znode goes away and the service counts as down. At most
86400000 (one day); ZooKeeper servers cap it much lower anyway
(maxSessionTimeout, 40 s by default).
"""),
    cfg.StrOpt(
        'sg_prefix',
        default='/servicegroups',
        max_length=limits.NAME_LENGTH,
        help="""
Path of the znode under which each service group keeps one child
znode per live member.
"""),
    cfg.IntOpt(
        'sg_retry_interval',
        default=5,
        min=1,
        max=limits.MAX_INTERVAL,
        help="""
Seconds to wait before trying again to join a service group after
the ZooKeeper connection failed. At most 86400 (one day).
"""),
]


def register_opts(conf):
    utils.register_group_opts(conf, zookeeper_group, zookeeper_opts)


def list_opts():
    return {zookeeper_group.name: zookeeper_opts}
