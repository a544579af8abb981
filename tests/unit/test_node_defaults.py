"""Allocation-ratio and reserved-resource defaults, resolved in one place
(hoststate.conf.node_defaults) from the configuration the caller passes:
the scheduler's own, the tracker's, or (only where none can be passed)
the process's CONF."""
import pytest
from oslo_config import cfg

from hoststate import conf as hs_conf
from hoststate.conf import node_defaults
from hoststate.objects import compute_node as cn_obj
from hoststate.resource_tracker import periodic
from hoststate.scheduler import host_manager

#: A ComputeNode's ratios as stored: cpu unset (None), ram unset (0.0),
#: disk set per node.
STORED = dict(cpu_allocation_ratio=None, ram_allocation_ratio=0.0,
              disk_allocation_ratio=3.0)


def own_conf(**options):
    """A configuration of its own, unlike the process's CONF."""
    conf = hs_conf.load(conf=cfg.ConfigOpts(), use_env=False)
    for name, value in options.items():
        conf.set_override(name, value)
    return conf


@pytest.fixture
def global_ratios():
    """The process's CONF with ratios no test's own configuration has."""
    conf = hs_conf.CONF
    values = dict(initial_cpu_allocation_ratio=7.0,
                  initial_ram_allocation_ratio=7.0,
                  initial_disk_allocation_ratio=7.0)
    for name, value in values.items():
        conf.set_override(name, value)
    yield
    for name in values:
        conf.clear_override(name)


@pytest.mark.parametrize("options, stored, configured_wins, expected", [
    # nothing stored, nothing configured: the initial ratios (4, 1, 1)
    ({}, None, False, (4.0, 1.0, 1.0)),
    # a configured ratio is the default of an unset one
    (dict(cpu_allocation_ratio=2.0), None, False, (2.0, 1.0, 1.0)),
    # a stored ratio is kept; None and 0.0 are unset
    ({}, STORED, False, (4.0, 1.0, 3.0)),
    (dict(disk_allocation_ratio=5.0, ram_allocation_ratio=1.5), STORED,
     False, (4.0, 1.5, 3.0)),
    # the compute side: a configured ratio replaces the stored one
    (dict(disk_allocation_ratio=5.0), STORED, True, (4.0, 1.0, 5.0)),
    ({}, STORED, True, (4.0, 1.0, 3.0)),
    # initial ratios of the configuration, not of anybody else's
    (dict(initial_cpu_allocation_ratio=3.0), STORED, False, (3.0, 1.0, 3.0)),
])
def test_ratios(options, stored, configured_wins, expected):
    resolved = node_defaults.resolve(own_conf(**options), stored,
                                     configured_wins)
    assert tuple(resolved.ratios().values()) == expected
    assert list(resolved.ratios()) == list(node_defaults.RATIOS)


@pytest.mark.parametrize("disk_mb, disk_gb", [
    (0, 0), (1, 1), (1024, 1), (1025, 2), (1536, 2), (2048, 2)])
def test_reserved_amounts_with_disk_in_whole_gib_rounded_up(disk_mb, disk_gb):
    resolved = node_defaults.resolve(own_conf(
        reserved_host_cpus=2, reserved_host_memory_mb=768,
        reserved_host_disk_mb=disk_mb))
    assert (resolved.reserved_vcpus, resolved.reserved_memory_mb,
            resolved.reserved_disk_gb) == (2, 768, disk_gb)


def test_stored_ratios_are_read_from_objects_rows_and_none():
    node = cn_obj.ComputeNode(**STORED)
    row = dict(STORED)
    conf = own_conf()
    assert node_defaults.resolve(conf, node) == \
        node_defaults.resolve(conf, row)
    assert node_defaults.resolve(conf, cn_obj.ComputeNode()) == \
        node_defaults.resolve(conf)


def test_the_host_manager_resolves_with_its_own_conf(global_ratios):
    manager = host_manager.HostManager(conf=own_conf(ram_allocation_ratio=1.5))
    assert manager.ratio_defaults() == {
        "cpu_allocation_ratio": 4.0, "ram_allocation_ratio": 1.5,
        "disk_allocation_ratio": 1.0}


def test_a_node_object_resolves_with_the_conf_given_else_the_global(
        global_ratios):
    given = cn_obj.ComputeNode(**STORED)
    given._fill_unset_allocation_ratios(own_conf())
    assert (given.cpu_allocation_ratio, given.ram_allocation_ratio,
            given.disk_allocation_ratio) == (4.0, 1.0, 3.0)
    # without a configuration (a remotable read): the process's CONF
    fallback = cn_obj.ComputeNode(**STORED)
    fallback._fill_unset_allocation_ratios()
    assert (fallback.cpu_allocation_ratio, fallback.ram_allocation_ratio,
            fallback.disk_allocation_ratio) == (7.0, 7.0, 3.0)


def test_the_recount_baseline_takes_ratios_and_reserved_from_its_conf(
        global_ratios):
    conf = own_conf(disk_allocation_ratio=2.0, reserved_host_cpus=1,
                    reserved_host_memory_mb=256, reserved_host_disk_mb=1536)
    node = cn_obj.ComputeNode(**STORED)
    target = periodic.baseline(conf, dict(vcpus=8, memory_mb=4096,
                                          local_gb=40), node)
    # cpu and ram unset on the node: initial (4.0, 1.0); disk configured
    assert (target.cpu_allocation_ratio, target.ram_allocation_ratio,
            target.disk_allocation_ratio) == (4.0, 1.0, 2.0)
    # 1536 MiB reserved disk: 2 GiB; free follows from used
    assert (target.vcpus_used, target.memory_mb_used, target.local_gb_used,
            target.free_ram_mb, target.free_disk_gb) == (1, 256, 2, 3840, 38)
