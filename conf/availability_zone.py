"""[DEFAULT] availability zone defaults."""

from oslo_config import cfg

from hoststate.conf import limits

availability_zone_opts = [
    cfg.StrOpt(
        'default_availability_zone',
        default='nova',
        max_length=limits.NAME_LENGTH,
        help="""
Availability zone reported for a compute host that belongs to no
aggregate carrying an availability_zone key.
"""),
    cfg.StrOpt(
        'default_schedule_zone',
        default=None,
        max_length=limits.NAME_LENGTH,
        help="""
Availability zone given to a request that names none. Unset means
such a request may land on a host of any zone.
"""),
]


def register_opts(conf):
    conf.register_opts(availability_zone_opts)


def list_opts():
    return {'DEFAULT': availability_zone_opts}
