"""[DEFAULT] compute_driver and instances_path: the hypervisor a compute
agent (``hoststate compute``) and the host operations talk to."""

from oslo_config import cfg

from hoststate.conf import limits

virt_opts = [
    cfg.StrOpt(
        'compute_driver',
        default='linux',
        max_length=limits.NAME_LENGTH,
        help="""
The virt driver of this compute host, by the name of an entry point
of group ``hoststate.compute.drivers``:

* ``linux`` (the default): the machine hoststate runs on, read from
  /proc and /sys (Nova's ``libvirt.LibvirtDriver`` is read as this);
* ``fake``: in-memory nodes, for tests and simulations (Nova's
  ``fake.FakeDriver`` is read as this).

Checked when the file is loaded: an unknown name is an error that lists
the installed drivers.
"""),
    cfg.StrOpt(
        'instances_path',
        default='$state_path/instances',
        max_length=limits.PATH_LENGTH,
        help="""
Where instances' disks live on a compute host; the ``linux`` driver
reports the size of the file system holding it as the node's local
disk.
"""),
]


def register_opts(conf):
    conf.register_opts(virt_opts)


def list_opts():
    return {'DEFAULT': virt_opts}
