"""Find the virt driver ``compute_driver`` names.

Drivers are entry points of group ``hoststate.compute.drivers`` (a third
party ships its own the same way); Nova's spellings of the two drivers
hoststate has are accepted, so an existing nova.conf works unchanged.
"""
import os
from importlib import metadata

from hoststate import exception

ENTRY_POINT_GROUP = "hoststate.compute.drivers"

#: Nova's compute_driver values and the hoststate driver that plays the part.
NOVA_ALIASES = {
    "fake.FakeDriver": "fake",
    "libvirt.LibvirtDriver": "linux",
}


def known_drivers():
    """{name: entry point} of every installed virt driver."""
    return {ep.name: ep for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)}


def driver_name(conf):
    """The entry-point name ``compute_driver`` means (aliases resolved)."""
    name = conf.compute_driver
    return NOVA_ALIASES.get(name, name)


def load_driver(conf, **options):
    """A driver instance for ``conf``'s compute_driver.

    ``options`` go to the driver's constructor; the linux driver gets
    ``instances_path`` from the configuration unless given. An unknown name
    raises ConfigInvalid naming the option, the value and the drivers
    installed.
    """
    name = driver_name(conf)
    drivers = known_drivers()
    if name not in drivers:
        raise exception.ConfigInvalid(
            group="DEFAULT", option="compute_driver", value=conf.compute_driver,
            reason="no such driver; installed: " + (
                ", ".join(sorted(drivers)) or "none"))
    driver_class = drivers[name].load()
    if name == "linux":
        options.setdefault("instances_path", os.path.expanduser(
            conf.instances_path))
    return driver_class(**options)
