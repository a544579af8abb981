"""Configuration values a select keeps (``scheduler.conf_values``) follow
every change oslo.config knows of: an override set or cleared after the
Scheduler exists, a default changed, a new parse, a config file reloaded;
and a configuration without oslo.config's cache is read every time.
"""
import uuid as uuid_lib

from oslo_config import cfg

from hoststate import conf as hs_conf
from hoststate.scheduler import conf_values
from hoststate.scheduler import host_manager
from hoststate.scheduler import manager as manager_mod
from hoststate.scheduler import weights as weights_mod
from support import host_tables
from support import specs


def _conf(config_files=()):
    options = cfg.ConfigOpts()
    hs_conf.load(args=[], config_files=list(config_files), conf=options)
    return options


class _Counting:
    """A compute that counts its calls."""

    def __init__(self, group, name):
        self.group, self.name, self.calls = group, name, 0

    def __call__(self, conf):
        self.calls += 1
        return getattr(getattr(conf, self.group), self.name)


def test_a_kept_value_is_computed_once_while_nothing_changes():
    conf = _conf()
    compute = _Counting("filter_scheduler", "host_subset_size")
    assert [conf_values.kept(conf, "size", compute) for _ in range(3)] == \
        [1, 1, 1]
    assert compute.calls == 1


def test_a_kept_value_follows_overrides_defaults_and_parses():
    conf = _conf()
    compute = _Counting("filter_scheduler", "host_subset_size")
    read = lambda: conf_values.kept(conf, "size", compute)  # noqa: E731
    assert read() == 1
    conf.set_override("host_subset_size", 3, group="filter_scheduler")
    assert read() == 3
    conf.set_default("host_subset_size", 5, group="filter_scheduler")
    assert read() == 3
    conf.clear_override("host_subset_size", group="filter_scheduler")
    assert read() == 5
    conf.clear_default("host_subset_size", group="filter_scheduler")
    assert read() == 1
    conf.set_override("host_subset_size", 2, group="filter_scheduler")
    assert read() == 2
    conf(args=[], default_config_files=[])     # a new parse: clear()
    conf.clear_override("host_subset_size", group="filter_scheduler")
    assert read() == 1
    assert compute.calls == 7       # once after each change


def test_a_kept_value_follows_a_reloaded_config_file(tmp_path):
    path = tmp_path / "hoststate.conf"
    path.write_text("[filter_scheduler]\nhost_subset_size = 4\n")
    conf = _conf([str(path)])
    assert conf_values.option(conf, "filter_scheduler",
                              "host_subset_size") == 4
    path.write_text("[filter_scheduler]\nhost_subset_size = 7\n")
    assert conf.reload_config_files()
    assert conf_values.option(conf, "filter_scheduler",
                              "host_subset_size") == 7


def test_a_configuration_without_oslo_cache_is_read_every_time():
    class Plain:
        class filter_scheduler:
            host_subset_size = 2

    compute = _Counting("filter_scheduler", "host_subset_size")
    assert conf_values.kept(Plain(), "size", compute) == 2
    assert conf_values.kept(Plain(), "size", compute) == 2
    assert compute.calls == 2


def test_oslo_config_still_keeps_a_cache_conf_values_can_use():
    # if oslo.config renamed its cache, conf_values would silently read
    # every time: correct, but the select would lose what it gains here
    conf = _conf()
    conf_values.option(conf, "scheduler", "max_attempts")
    assert isinstance(getattr(conf, conf_values._OSLO_CACHE), dict)
    assert conf_values._KEY in getattr(conf, conf_values._OSLO_CACHE)


def _table():
    """Four nodes, n3 with the most memory, n0 with the least."""
    return host_tables.make_table([
        dict(host=f"h{i}", nodename=f"n{i}", vcpus=64,
             memory_mb=65536 * (i + 1), local_gb=1000) for i in range(4)])


def test_a_scheduler_sees_overrides_set_after_it_was_made():
    conf = _conf()
    manager = host_manager.HostManager(None, conf=conf)
    scheduler = manager_mod.Scheduler(manager, conf=conf, seed=1,
                                      claim_in_database=False,
                                      refresh=False)
    ram = next(w for w in scheduler.weighers if w.name == "RAMWeigher")

    def chosen():
        manager.table = _table()        # the same cloud every time
        [[first, *alternates]] = scheduler.select_destinations(
            specs.plain_spec(), [str(uuid_lib.uuid4())])
        return first.nodename, len(alternates)

    # spreading: the node with the most free memory, 2 alternates
    assert chosen() == ("n3", 2)
    assert ram.config_multiplier() == 1.0
    conf.set_override("ram_weight_multiplier", -1.0,
                      group="filter_scheduler")
    conf.set_override("max_attempts", 2, group="scheduler")
    assert ram.config_multiplier() == -1.0
    # stacking now: the node with the least free memory, 1 alternate
    assert chosen() == ("n0", 1)
    conf.clear_override("ram_weight_multiplier", group="filter_scheduler")
    conf.clear_override("max_attempts", group="scheduler")
    assert chosen() == ("n3", 2)
    assert weights_mod.BaseHostWeigher.config_multiplier(ram) == 1.0
