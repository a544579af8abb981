"""[DEFAULT] host and my_ip: how this process names and addresses itself."""

import socket

from oslo_config import cfg
from oslo_utils import netutils

netconf_opts = [
    cfg.HostDomainOpt(
        'host',
        default=socket.gethostname(),
        sample_default='<current_hostname>',
        help="""
Name under which this process registers its service and, for a
compute agent, the value written to ``services.host`` and
``compute_nodes.host``. It must be unique among the services of the
deployment. A hostname, a fully qualified domain name or an IP
address is accepted; the default is the machine's hostname.
"""),
    cfg.HostAddressOpt(
        'my_ip',
        default=netutils.get_my_ipv4(),
        sample_default='<host_ipv4>',
        help="""
IP address of this host on the management network, recorded as the
host_ip of the compute nodes it reports. Defaults to the IPv4
address of the interface that carries the default route.
"""),
]


def register_opts(conf):
    conf.register_opts(netconf_opts)


def list_opts():
    return {'DEFAULT': netconf_opts}
