"""[DEFAULT] service liveness timings."""

from oslo_config import cfg

from hoststate.conf import limits

service_opts = [
    cfg.IntOpt(
        'report_interval',
        default=10,
        min=1,
        max=limits.MAX_INTERVAL,
        help="""
Seconds between two heartbeats a service sends to the service group
backend (a database update, a ZooKeeper session check or a memcached
key refresh). It should stay well below service_down_time, otherwise
a healthy service is reported down between two heartbeats. At most
86400 (one day): a rarer heartbeat tells nothing about liveness.
"""),
    cfg.IntOpt(
        'service_down_time',
        default=60,
        min=1,
        max=limits.MAX_SERVICE_DOWN_TIME,
        help="""
Seconds after its last heartbeat at which a service is considered
down; the scheduler skips hosts whose compute service is down. If
this is not larger than report_interval, the service group API
raises it to 2.5 times report_interval at start-up and logs a
warning; that is not a configuration error. At most 2592000 (30
days), the longest expiry memcached takes as a duration (the ``mc``
driver's keys live this long).
"""),
]


def register_opts(conf):
    conf.register_opts(service_opts)


def list_opts():
    return {'DEFAULT': service_opts}
