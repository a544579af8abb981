"""[DEFAULT] service liveness timings."""

from oslo_config import cfg

service_opts = [
    cfg.IntOpt(
        'report_interval',
        default=10,
        min=1,
        help="""
Seconds between two heartbeats a service sends to the service group
backend (a database update, a ZooKeeper session check or a memcached
key refresh). It should stay well below service_down_time, otherwise
a healthy service is reported down between two heartbeats.
"""),
    cfg.IntOpt(
        'service_down_time',
        default=60,
        min=1,
        help="""
Seconds after its last heartbeat at which a service is considered
down; the scheduler skips hosts whose compute service is down. If
this is not larger than report_interval, the service group API
raises it to 2.5 times report_interval at start-up and logs a
warning; that is not a configuration error.
"""),
]


def register_opts(conf):
    conf.register_opts(service_opts)


def list_opts():
    return {'DEFAULT': service_opts}
