"""[DEFAULT] choice of service group (liveness) driver."""

from oslo_config import cfg

from hoststate.conf import limits
from hoststate.conf import utils

SERVICEGROUP_DRIVERS = ('db', 'zk', 'mc')

servicegroup_opts = [
    cfg.StrOpt(
        'servicegroup_driver',
        default='db',
        choices=[
            ('db', 'Heartbeats are timestamps in the services table; a '
                   'service is up while its last update is recent.'),
            ('zk', 'Each service holds an ephemeral znode in ZooKeeper (see '
                   'the [zookeeper] group); it is up while the znode '
                   'exists.'),
            ('mc', 'Each service refreshes a key with an expiry in memcached '
                   '(see memcached_servers); it is up while the key '
                   'exists.'),
        ],
        help="""
Backend that records which services are alive. Every service and
every scheduler of one deployment must use the same driver.
"""),
    cfg.ListOpt(
        'memcached_servers',
        default=None,
        item_type=utils.name_list(limits.NAME_LENGTH),
        help="""
Comma-separated ``host:port`` addresses of the memcached servers
used by the ``mc`` service group driver. Unset means the driver keeps
its keys in memory, which only serves a single process (tests and
``hoststate simulate``); a deployment names its servers here.
"""),
]


def register_opts(conf):
    conf.register_opts(servicegroup_opts)


def list_opts():
    return {'DEFAULT': servicegroup_opts}
