"""Tests of hoststate.conf: Nova's option names, groups and defaults, eager
validation at load time and the database URL helper."""

import os
import pathlib
import socket
import sys
import textwrap

import pytest
from oslo_config import cfg
from oslo_utils import netutils

from hoststate import conf as hconf
from hoststate.conf import rpc as hconf_rpc
from hoststate import exception

DATA = pathlib.Path(__file__).parent / 'data'
NOVA_CONF = DATA / 'nova.conf'


@pytest.fixture(autouse=True)
def _no_config_env(monkeypatch):
    """oslo.config reads OS_<GROUP>__<OPTION> variables; keep them out."""
    for name in list(os.environ):
        if name.startswith('OS_'):
            monkeypatch.delenv(name)


@pytest.fixture
def write_conf(tmp_path):
    def write(text, name='nova.conf'):
        path = tmp_path / name
        path.write_text(textwrap.dedent(text))
        return str(path)
    return write


def load_text(write_conf, text, **kwargs):
    return hconf.load(config_files=[write_conf(text)],
                      conf=cfg.ConfigOpts(), **kwargs)


def read(conf, group, name):
    return conf[name] if group == 'DEFAULT' else conf[group][name]


def all_option_keys():
    """hoststate's own options (oslo.messaging's and oslo.log's are theirs
    to test; the table below reads a few of them back all the same)."""
    from hoststate.conf import logging as hconf_logging
    libraries = (hconf_rpc._messaging_opts(), hconf_logging.list_opts())
    library = {(group, opt.dest) for grouped in libraries
               for group, opts in grouped.items() for opt in opts}
    return {(group, opt.dest) for group, opts in hconf.list_opts()
            for opt in opts} - library


# --- 1. a real nova.conf, every value read back ------------------------------

# (group, option, value expected from tests/unit/data/nova.conf)
NOVA_CONF_VALUES = [
    ('DEFAULT', 'host', 'compute-07.example.org'),
    ('DEFAULT', 'my_ip', '10.20.30.40'),
    ('DEFAULT', 'state_path', '/var/lib/hoststate-test'),
    ('DEFAULT', 'servicegroup_driver', 'zk'),  # written "zk", quotes dropped
    ('DEFAULT', 'memcached_servers', None),  # written <None>
    ('DEFAULT', 'report_interval', 7),
    ('DEFAULT', 'service_down_time', 45),
    ('DEFAULT', 'reserved_host_memory_mb', 2048),
    ('DEFAULT', 'reserved_host_disk_mb', 10240),
    ('DEFAULT', 'reserved_host_cpus', 2),
    ('DEFAULT', 'cpu_allocation_ratio', 16.0),
    ('DEFAULT', 'ram_allocation_ratio', 1.5),
    ('DEFAULT', 'disk_allocation_ratio', 2.0),
    ('DEFAULT', 'initial_cpu_allocation_ratio', 8.0),
    ('DEFAULT', 'initial_ram_allocation_ratio', 1.25),
    ('DEFAULT', 'initial_disk_allocation_ratio', 1.1),
    ('DEFAULT', 'update_resources_interval', -1),
    ('DEFAULT', 'compute_driver', 'libvirt.LibvirtDriver'),
    ('DEFAULT', 'instances_path', '/var/lib/hoststate-test/instances'),
    ('DEFAULT', 'default_availability_zone', 'az-east'),
    ('DEFAULT', 'default_schedule_zone', 'az-west'),
    ('zookeeper', 'address',
     '192.168.2.1:2181,192.168.2.2:2181,192.168.2.3:2181'),
    ('zookeeper', 'recv_timeout', 8000),
    ('zookeeper', 'sg_prefix', '/hoststate/servicegroups'),
    ('zookeeper', 'sg_retry_interval', 2),
    ('filter_scheduler', 'enabled_filters',
     ['ComputeFilter', 'AggregateInstanceExtraSpecsFilter',
      'NUMATopologyFilter']),
    ('filter_scheduler', 'weight_classes', ['RAMWeigher', 'CPUWeigher']),
    ('filter_scheduler', 'host_subset_size', 3),
    ('filter_scheduler', 'max_io_ops_per_host', 4),
    ('filter_scheduler', 'max_instances_per_host', 100),
    ('filter_scheduler', 'shuffle_best_same_weighed_hosts', True),
    ('filter_scheduler', 'track_instance_changes', False),
    ('filter_scheduler', 'ram_weight_multiplier', 2.0),
    ('filter_scheduler', 'cpu_weight_multiplier', 0.5),
    ('filter_scheduler', 'disk_weight_multiplier', -1.5),
    ('filter_scheduler', 'io_ops_weight_multiplier', -3.0),
    ('filter_scheduler', 'num_instances_weight_multiplier', -0.5),
    ('filter_scheduler', 'hypervisor_version_weight_multiplier', -2.0),
    ('filter_scheduler', 'pci_weight_multiplier', 3.0),
    ('filter_scheduler', 'soft_affinity_weight_multiplier', 4.0),
    ('filter_scheduler', 'soft_anti_affinity_weight_multiplier', 5.0),
    ('filter_scheduler', 'build_failure_weight_multiplier', 100.0),
    ('filter_scheduler', 'cross_cell_move_weight_multiplier', -1000.0),
    ('filter_scheduler', 'image_properties_default_architecture', 'x86_64'),
    ('filter_scheduler', 'isolated_images',
     ['11111111-2222-3333-4444-555555555555',
      '66666666-7777-8888-9999-000000000000']),
    ('filter_scheduler', 'isolated_hosts', ['iso-1', 'iso-2']),
    ('filter_scheduler', 'restrict_isolated_hosts_to_isolated_images', False),
    ('filter_scheduler', 'aggregate_image_properties_isolation_namespace',
     'hoststate'),
    ('filter_scheduler', 'aggregate_image_properties_isolation_separator',
     '_'),
    ('metrics', 'weight_multiplier', -1.0),
    ('metrics', 'weight_setting', ['cpu.frequency=1.0', 'cpu.percent=-0.5']),
    ('metrics', 'required', False),
    ('metrics', 'weight_of_unavailable', -1.0),
    ('scheduler', 'max_attempts', 5),
    ('scheduler', 'workers', 4),
    ('scheduler', 'discover_hosts_in_cells_interval', 300),
    ('scheduler', 'limit_tenants_to_placement_aggregate', True),
    ('scheduler', 'placement_aggregate_required_for_tenants', True),
    ('scheduler', 'query_placement_for_image_type_support', True),
    ('scheduler', 'enable_isolated_aggregate_filtering', True),
    ('database', 'connection',
     'mysql+pymysql://nova:secret@db.example.org/nova'),
    ('api_database', 'connection',
     'mysql+pymysql://nova:secret@db.example.org/nova_api'),
    ('cells', 'enable', True),
    ('cells', 'name', 'cell1'),
    ('cells', 'capabilities', ['hypervisor=kvm', 'os=linux']),
    ('cells', 'call_timeout', 30),
    ('cells', 'reserve_percent', 20.0),
    ('cells', 'capacity_flavors', ['small:1:2048:20', 'big:8:16384:160']),
    ('cells', 'broadcast_interval', 5),
    ('cells', 'down_after_broadcasts', 4.5),
    ('cells', 'instance_sync_interval', 2),
    ('cells', 'instance_update_sync_database_limit', 50),
    ('cells', 'max_hop_count', 4),
    ('cells', 'scheduler_filters', ['DownCellFilter', 'CapacityFilter']),
    ('cells', 'scheduler_weighers', ['WeightOffsetWeigher']),
    ('cells', 'ram_weight_multiplier', 2.5),
    ('cells', 'offset_weight_multiplier', -1.0),
    ('DEFAULT', 'long_rpc_timeout', 600),
    ('upgrade_levels', 'compute', '1.0'),
    ('upgrade_levels', 'conductor', 'auto'),
    ('upgrade_levels', 'scheduler', '1.0'),
    ('upgrade_levels', 'cells', '1.0'),
    ('conductor', 'workers', 3),
]

# oslo.messaging's own options, as a nova.conf sets them
MESSAGING_VALUES = [
    ('DEFAULT', 'transport_url',
     'rabbit://nova:guest@rabbit.example.org:5672/'),
    ('DEFAULT', 'rpc_response_timeout', 30),
    ('oslo_messaging_rabbit', 'heartbeat_timeout_threshold', 20),
]


@pytest.fixture(scope='module')
def nova_conf():
    # Module-scoped fixtures run before the autouse env cleaner: no env.
    return hconf.load(config_files=[str(NOVA_CONF)], conf=cfg.ConfigOpts(),
                      use_env=False)


@pytest.mark.parametrize('group,name,expected', NOVA_CONF_VALUES,
                         ids=[f'{g}.{n}' for g, n, _ in NOVA_CONF_VALUES])
def test_nova_conf_value(nova_conf, group, name, expected):
    value = read(nova_conf, group, name)
    assert value == expected
    assert type(value) is type(expected)


@pytest.mark.parametrize('group,name,expected', MESSAGING_VALUES,
                         ids=[f'{g}.{n}' for g, n, _ in MESSAGING_VALUES])
def test_nova_conf_messaging_value(nova_conf, group, name, expected):
    assert read(nova_conf, group, name) == expected


def test_nova_conf_table_covers_every_option():
    assert {(g, n) for g, n, _ in NOVA_CONF_VALUES} == all_option_keys()


def test_nova_conf_sets_every_option_to_a_non_default():
    defaults = hconf.load(conf=cfg.ConfigOpts())
    same = [(g, n) for g, n, v in NOVA_CONF_VALUES
            if read(defaults, g, n) == v]
    # <None> is what the brief's guide excerpt writes, and it is the default.
    assert same == [('DEFAULT', 'memcached_servers')]


def test_quotes_are_stripped_single_and_double(write_conf):
    conf = load_text(write_conf, """
        [DEFAULT]
        servicegroup_driver='mc'
        default_availability_zone = "az 1"
        """)
    assert conf.servicegroup_driver == 'mc'
    assert conf.default_availability_zone == 'az 1'


def test_memcached_servers_list(write_conf):
    conf = load_text(write_conf, """
        [DEFAULT]
        servicegroup_driver = mc
        memcached_servers = 10.0.0.1:11211, 10.0.0.2:11211
        """)
    assert conf.memcached_servers == ['10.0.0.1:11211', '10.0.0.2:11211']


@pytest.mark.parametrize('group,name', [
    ('DEFAULT', 'memcached_servers'),
    ('DEFAULT', 'cpu_allocation_ratio'),
    ('DEFAULT', 'default_schedule_zone'),
    ('zookeeper', 'address'),
    ('scheduler', 'workers'),
    ('filter_scheduler', 'image_properties_default_architecture'),
    ('database', 'connection'),
])
def test_none_placeholder_means_unset(write_conf, group, name):
    conf = load_text(write_conf, f"[{group}]\n{name} = <None>\n")
    assert read(conf, group, name) is None


def test_none_placeholder_is_invalid_where_default_is_not_none(write_conf):
    with pytest.raises(exception.ConfigInvalid) as info:
        load_text(write_conf, "[DEFAULT]\nreport_interval = <None>\n")
    assert (info.value.group, info.value.option, info.value.value) == (
        'DEFAULT', 'report_interval', '<None>')


# --- 2. defaults -------------------------------------------------------------

DEFAULTS = [
    ('DEFAULT', 'host', socket.gethostname()),
    ('DEFAULT', 'my_ip', netutils.get_my_ipv4()),
    ('DEFAULT', 'state_path', os.path.expanduser('~/.local/share/hoststate')),
    ('DEFAULT', 'servicegroup_driver', 'db'),
    ('DEFAULT', 'memcached_servers', None),
    ('DEFAULT', 'report_interval', 10),
    ('DEFAULT', 'service_down_time', 60),
    ('DEFAULT', 'reserved_host_memory_mb', 512),
    ('DEFAULT', 'reserved_host_disk_mb', 0),
    ('DEFAULT', 'reserved_host_cpus', 0),
    ('DEFAULT', 'cpu_allocation_ratio', None),
    ('DEFAULT', 'ram_allocation_ratio', None),
    ('DEFAULT', 'disk_allocation_ratio', None),
    ('DEFAULT', 'initial_cpu_allocation_ratio', 4.0),
    ('DEFAULT', 'initial_ram_allocation_ratio', 1.0),
    ('DEFAULT', 'initial_disk_allocation_ratio', 1.0),
    ('DEFAULT', 'update_resources_interval', 0),
    ('DEFAULT', 'compute_driver', 'linux'),
    ('DEFAULT', 'instances_path',
     os.path.expanduser('~/.local/share/hoststate') + '/instances'),
    ('DEFAULT', 'default_availability_zone', 'nova'),
    ('DEFAULT', 'default_schedule_zone', None),
    ('zookeeper', 'address', None),
    ('zookeeper', 'recv_timeout', 4000),
    ('zookeeper', 'sg_prefix', '/servicegroups'),
    ('zookeeper', 'sg_retry_interval', 5),
    ('filter_scheduler', 'enabled_filters',
     ['ComputeFilter', 'ComputeCapabilitiesFilter', 'ImagePropertiesFilter',
      'ServerGroupAntiAffinityFilter', 'ServerGroupAffinityFilter']),
    ('filter_scheduler', 'weight_classes', ['all']),
    ('filter_scheduler', 'host_subset_size', 1),
    ('filter_scheduler', 'max_io_ops_per_host', 8),
    ('filter_scheduler', 'max_instances_per_host', 50),
    ('filter_scheduler', 'shuffle_best_same_weighed_hosts', False),
    ('filter_scheduler', 'track_instance_changes', True),
    ('filter_scheduler', 'ram_weight_multiplier', 1.0),
    ('filter_scheduler', 'cpu_weight_multiplier', 1.0),
    ('filter_scheduler', 'disk_weight_multiplier', 1.0),
    ('filter_scheduler', 'io_ops_weight_multiplier', -1.0),
    ('filter_scheduler', 'num_instances_weight_multiplier', 0.0),
    ('filter_scheduler', 'hypervisor_version_weight_multiplier', 1.0),
    ('filter_scheduler', 'pci_weight_multiplier', 1.0),
    ('filter_scheduler', 'soft_affinity_weight_multiplier', 1.0),
    ('filter_scheduler', 'soft_anti_affinity_weight_multiplier', 1.0),
    ('filter_scheduler', 'build_failure_weight_multiplier', 1000000.0),
    ('filter_scheduler', 'cross_cell_move_weight_multiplier', 1000000.0),
    ('filter_scheduler', 'image_properties_default_architecture', None),
    ('filter_scheduler', 'isolated_images', []),
    ('filter_scheduler', 'isolated_hosts', []),
    ('filter_scheduler', 'restrict_isolated_hosts_to_isolated_images', True),
    ('filter_scheduler', 'aggregate_image_properties_isolation_namespace',
     None),
    ('filter_scheduler', 'aggregate_image_properties_isolation_separator',
     '.'),
    ('metrics', 'weight_multiplier', 1.0),
    ('metrics', 'weight_setting', []),
    ('metrics', 'required', True),
    ('metrics', 'weight_of_unavailable', -10000.0),
    ('scheduler', 'max_attempts', 3),
    ('scheduler', 'workers', None),
    ('scheduler', 'discover_hosts_in_cells_interval', -1),
    ('scheduler', 'limit_tenants_to_placement_aggregate', False),
    ('scheduler', 'placement_aggregate_required_for_tenants', False),
    ('scheduler', 'query_placement_for_image_type_support', False),
    ('scheduler', 'enable_isolated_aggregate_filtering', False),
    ('database', 'connection', None),
    ('api_database', 'connection', None),
    ('cells', 'enable', False),
    ('cells', 'name', 'nova'),
    ('cells', 'capabilities',
     ['hypervisor=xenserver;kvm', 'os=linux;windows']),
    ('cells', 'call_timeout', 60),
    ('cells', 'reserve_percent', 10.0),
    ('cells', 'capacity_flavors',
     ['m1.tiny:1:512:1', 'm1.small:1:2048:20', 'm1.medium:2:4096:40',
      'm1.large:4:8192:80', 'm1.xlarge:8:16384:160']),
    ('cells', 'broadcast_interval', 10),
    ('cells', 'down_after_broadcasts', 3.0),
    ('cells', 'instance_sync_interval', 1),
    ('cells', 'instance_update_sync_database_limit', 100),
    ('cells', 'max_hop_count', 10),
    ('cells', 'scheduler_filters', ['TargetCellFilter', 'DownCellFilter',
                                    'CapabilitiesFilter', 'CapacityFilter']),
    ('cells', 'scheduler_weighers', ['RamByFreeUnitsWeigher',
                                     'WeightOffsetWeigher']),
    ('cells', 'ram_weight_multiplier', 10.0),
    ('cells', 'offset_weight_multiplier', 1.0),
    ('DEFAULT', 'long_rpc_timeout', 1800),
    ('upgrade_levels', 'compute', None),
    ('upgrade_levels', 'conductor', None),
    ('upgrade_levels', 'scheduler', None),
    ('upgrade_levels', 'cells', None),
    ('conductor', 'workers', None),
]


@pytest.fixture(scope='module')
def default_conf():
    return hconf.load(conf=cfg.ConfigOpts(), use_env=False)


@pytest.mark.parametrize('group,name,expected', DEFAULTS,
                         ids=[f'{g}.{n}' for g, n, _ in DEFAULTS])
def test_default(default_conf, group, name, expected):
    value = read(default_conf, group, name)
    assert value == expected
    assert type(value) is type(expected)


def test_defaults_table_covers_every_option():
    assert {(g, n) for g, n, _ in DEFAULTS} == all_option_keys()


def test_global_conf_has_the_same_defaults():
    assert [read(hconf.CONF, g, n) for g, n, _ in DEFAULTS] == [
        v for _, _, v in DEFAULTS]


def test_sample_defaults_hide_machine_specific_values():
    opts = {o.dest: o for o in dict(hconf.list_opts())['DEFAULT']}
    assert opts['host'].sample_default == '<current_hostname>'
    assert opts['my_ip'].sample_default == '<host_ipv4>'
    assert opts['state_path'].sample_default == '~/.local/share/hoststate'


def test_connections_are_secret():
    groups = dict(hconf.list_opts())
    assert [o.secret for o in groups['database']] == [True]
    assert [o.secret for o in groups['api_database']] == [True]


def test_servicegroup_driver_choices():
    opt = {o.dest: o for o in dict(hconf.list_opts())['DEFAULT']}[
        'servicegroup_driver']
    assert list(opt.type.choices) == ['db', 'zk', 'mc']


# --- 3. invalid values fail at load ------------------------------------------

# (file text, group, option, raw value, words the message must contain)
INVALID = [
    ('[DEFAULT]\nservicegroup_driver = redis\n', 'DEFAULT',
     'servicegroup_driver', 'redis', ['db, zk, mc']),
    ('[DEFAULT]\nreport_interval = -5\n', 'DEFAULT', 'report_interval', '-5',
     ['greater than or equal to 1']),
    ('[DEFAULT]\nreport_interval = ten\n', 'DEFAULT', 'report_interval',
     'ten', ['invalid literal']),
    ('[DEFAULT]\nservice_down_time = -60\n', 'DEFAULT', 'service_down_time',
     '-60', ['greater than or equal to 1']),
    ('[zookeeper]\nrecv_timeout = -4000\n', 'zookeeper', 'recv_timeout',
     '-4000', ['greater than or equal to 1']),
    ('[zookeeper]\nsg_retry_interval = -5\n', 'zookeeper',
     'sg_retry_interval', '-5', ['greater than or equal to 1']),
    ('[DEFAULT]\ncpu_allocation_ratio = -16.0\n', 'DEFAULT',
     'cpu_allocation_ratio', '-16.0', ['greater than or equal to 0']),
    ('[DEFAULT]\ninitial_ram_allocation_ratio = -1\n', 'DEFAULT',
     'initial_ram_allocation_ratio', '-1', ['greater than or equal to 0']),
    ('[DEFAULT]\nreserved_host_memory_mb = -512\n', 'DEFAULT',
     'reserved_host_memory_mb', '-512', ['greater than or equal to 0']),
    ('[filter_scheduler]\nmax_instances_per_host = 0\n', 'filter_scheduler',
     'max_instances_per_host', '0', ['greater than or equal to 1']),
    ('[filter_scheduler]\nimage_properties_default_architecture = amd64\n',
     'filter_scheduler', 'image_properties_default_architecture', 'amd64',
     ['x86_64', 'aarch64']),
    ('[scheduler]\ndiscover_hosts_in_cells_interval = -2\n', 'scheduler',
     'discover_hosts_in_cells_interval', '-2',
     ['greater than or equal to -1']),
    ('[metrics]\nrequired = maybe\n', 'metrics', 'required', 'maybe',
     ['boolean']),
    ('[cells]\ncall_timeout = 0\n', 'cells', 'call_timeout', '0',
     ['greater than or equal to 1']),
    ('[cells]\nreserve_percent = 100.5\n', 'cells', 'reserve_percent',
     '100.5', ['less than or equal to 100']),
    ('[cells]\ncapabilities = os=linux, =kvm\n', 'cells', 'capabilities',
     'os=linux, =kvm',
     ["invalid cell capability '=kvm': the key before '=' is empty"]),
    ('[cells]\ncapacity_flavors = tiny:1:512\n', 'cells',
     'capacity_flavors', 'tiny:1:512',
     ["invalid capacity flavor 'tiny:1:512': not "
      "NAME:VCPUS:MEMORY_MB:DISK_GB (3 field(s))"]),
]


@pytest.mark.parametrize('text,group,option,value,words', INVALID,
                         ids=[f'{g}.{o}={v}' for _, g, o, v, _ in INVALID])
def test_invalid_value_fails_at_load(write_conf, text, group, option, value,
                                     words):
    path = write_conf(text)
    with pytest.raises(exception.ConfigInvalid) as info:
        hconf.load(config_files=[path], conf=cfg.ConfigOpts())
    err = info.value
    assert (err.group, err.option, err.value) == (group, option, value)
    message = str(err)
    assert message.startswith(
        f'Invalid value {value!r} for option [{group}] {option}: ')
    for word in words:
        assert word in message
    assert message.endswith(f'(set in {path})')


def test_invalid_choice_reason_is_oslo_reason_without_location(write_conf):
    path = write_conf('[DEFAULT]\nservicegroup_driver = redis\n')
    with pytest.raises(exception.ConfigInvalid) as info:
        hconf.load(config_files=[path], conf=cfg.ConfigOpts())
    assert info.value.reason == (
        f"Valid values are [db, zk, mc], but found 'redis' (set in {path})")


def test_invalid_value_from_config_file_argument(write_conf):
    path = write_conf('[DEFAULT]\nreport_interval = -5\n')
    with pytest.raises(exception.ConfigInvalid) as info:
        hconf.load(['--config-file', path], conf=cfg.ConfigOpts())
    assert (info.value.option, info.value.value) == ('report_interval', '-5')


def test_invalid_value_from_environment(monkeypatch):
    monkeypatch.setenv('OS_ZOOKEEPER__RECV_TIMEOUT', '-1')
    with pytest.raises(exception.ConfigInvalid) as info:
        hconf.load(conf=cfg.ConfigOpts())
    err = info.value
    assert (err.group, err.option, err.value) == (
        'zookeeper', 'recv_timeout', '-1')
    assert err.reason.endswith('(set in OS_ZOOKEEPER__RECV_TIMEOUT)')


def test_environment_ignored_when_use_env_false(monkeypatch):
    monkeypatch.setenv('OS_DEFAULT__REPORT_INTERVAL', '-5')
    conf = hconf.load(conf=cfg.ConfigOpts(), use_env=False)
    assert conf.report_interval == 10


def test_valid_environment_value_is_used(monkeypatch):
    monkeypatch.setenv('OS_DEFAULT__REPORT_INTERVAL', '3')
    assert hconf.load(conf=cfg.ConfigOpts()).report_interval == 3


def test_validation_covers_options_registered_by_others(write_conf):
    conf = cfg.ConfigOpts()
    conf.register_opts([cfg.IntOpt('depth', min=0)], group='extra')
    path = write_conf('[extra]\ndepth = -1\n')
    with pytest.raises(exception.ConfigInvalid) as info:
        hconf.load(config_files=[path], conf=conf)
    assert (info.value.group, info.value.option, info.value.value) == (
        'extra', 'depth', '-1')


def test_config_invalid_is_a_value_error():
    assert issubclass(exception.ConfigInvalid, ValueError)


def test_down_time_not_above_report_interval_is_not_an_error(write_conf):
    conf = load_text(write_conf, """
        [DEFAULT]
        report_interval = 60
        service_down_time = 30
        """)
    assert (conf.report_interval, conf.service_down_time) == (60, 30)


# --- 3b. files that cannot be read: one typed error naming the file --------

def _file_error(path, args=()):
    with pytest.raises(exception.ConfigFileInvalid) as info:
        hconf.load(list(args), config_files=[path], conf=cfg.ConfigOpts())
    err = info.value
    assert str(err) == f'configuration file {err.path} {err.reason}'
    assert '\n' not in str(err)
    return err


def test_missing_config_file_is_reported(tmp_path):
    missing = str(tmp_path / 'absent.conf')
    err = _file_error(missing)
    assert (err.path, err.reason) == (missing, 'does not exist')
    assert isinstance(err.__cause__, cfg.ConfigFilesNotFoundError)


def test_missing_file_given_as_argument_is_reported(tmp_path):
    missing = str(tmp_path / 'absent.conf')
    with pytest.raises(exception.ConfigFileInvalid) as info:
        hconf.load(['--config-file', missing], conf=cfg.ConfigOpts())
    assert (info.value.path, info.value.reason) == (missing, 'does not exist')


def test_missing_config_dir_is_reported(tmp_path):
    missing = str(tmp_path / 'absent.d')
    with pytest.raises(exception.ConfigFileInvalid) as info:
        hconf.load(['--config-dir', missing], conf=cfg.ConfigOpts())
    assert info.value.path == missing
    assert info.value.reason == 'does not exist (it was given as --config-dir)'


@pytest.mark.parametrize('content,offset,byte', [
    (b'\x7fELF\x02\x01\x01\x00\xd7\x00', 8, 0xd7),
    (b'[DEFAULT]\nreport_interval = \xff\xfe\n', 28, 0xff),
], ids=['elf', 'latin1-in-value'])
def test_binary_config_file_is_reported(write_conf, tmp_path, content,
                                        offset, byte):
    good = write_conf('[DEFAULT]\nreport_interval = 5\n', name='good.conf')
    binary = tmp_path / 'binary.conf'
    binary.write_bytes(content)
    # the second of two files: the error must name the one that is bad
    with pytest.raises(exception.ConfigFileInvalid) as info:
        hconf.load(config_files=[good, str(binary)], conf=cfg.ConfigOpts())
    assert info.value.path == str(binary)
    assert info.value.reason == (
        f'is not UTF-8 text (a binary file?): byte 0x{byte:02x} at offset '
        f'{offset}')


def test_binary_file_given_with_equals_sign_is_named(write_conf, tmp_path):
    binary = tmp_path / 'binary.conf'
    binary.write_bytes(b'\xff' * 10)
    good = write_conf('[DEFAULT]\n', name='good.conf')
    with pytest.raises(exception.ConfigFileInvalid) as info:
        hconf.load([f'--config-file={good}', f'--config-file={binary}'],
                   conf=cfg.ConfigOpts())
    assert info.value.path == str(binary)


@pytest.mark.parametrize('text,line,what', [
    ('garbage line\n', 1,
     "No ':' or '=' found in assignment: 'garbage line'"),
    ('[DEFAULT]\nreport_interval = 5\nreport_interval\n', 3,
     "No ':' or '=' found in assignment: 'report_interval'"),
    ('[DEFAULT]\n  indented = 1\n', 2, 'Unexpected continuation line'),
    ('[DEFAULT\nx = 1\n', 1, "Invalid section (must end with ]): '[DEFAULT'"),
    ('[DEFAULT]\n\x00\n', 2, "No ':' or '=' found in assignment: '\\x00'"),
], ids=['no-section', 'no-value', 'continuation', 'unclosed-section', 'nul'])
def test_invalid_ini_is_reported_with_its_line(write_conf, text, line, what):
    path = write_conf(text)
    err = _file_error(path)
    assert err.path == path
    assert err.reason.startswith(f'is not valid INI: line {line}: {what}')


def test_a_long_bad_line_is_quoted_short(write_conf):
    err = _file_error(write_conf('x' * 100000 + '\n'))
    assert err.reason.startswith("is not valid INI: line 1: No ':' or '=' ")
    assert err.reason.endswith('characters)')
    assert len(str(err)) < 400


def test_directory_given_as_config_file_is_reported(tmp_path):
    err = _file_error(str(tmp_path))
    assert (err.path, err.reason) == (str(tmp_path),
                                      'is a directory, not a file')


def test_unreadable_config_file_is_reported(tmp_path):
    """A file the process may not read. root reads every file, so as root
    the load runs in a forked child that has become ``nobody``."""
    directory = tmp_path / 'open'
    directory.mkdir()
    path = directory / 'secret.conf'
    path.write_text('[DEFAULT]\nreport_interval = 5\n')
    path.chmod(0)
    for step in (tmp_path, directory):
        step.chmod(0o755)
    if os.geteuid() != 0:
        err = _file_error(str(path))
        assert err.reason == 'cannot be read: permission denied'
        return
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through the pipe
        try:
            os.setgid(65534)
            os.setuid(65534)
            try:
                hconf.load(config_files=[str(path)], conf=cfg.ConfigOpts())
                result = 'loaded'
            except exception.ConfigFileInvalid as exc:
                result = f'{exc.path}|{exc.reason}'
            except BaseException as exc:
                result = f'{type(exc).__name__}: {exc}'
            os.write(write_end, result.encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, 'rb') as pipe:
        result = pipe.read().decode()
    os.waitpid(pid, 0)
    assert result == f'{path}|cannot be read: permission denied'


# --- 4. database_url ---------------------------------------------------------

def test_database_url_override_wins(write_conf):
    conf = load_text(write_conf, """
        [database]
        connection = postgresql+psycopg://nova@db/nova
        """)
    assert hconf.database_url(conf, override='sqlite:///tmp/x.db') == (
        'sqlite:///tmp/x.db')


def test_database_url_connection_beats_state_path(write_conf):
    conf = load_text(write_conf, """
        [DEFAULT]
        state_path = /srv/hoststate
        [database]
        connection = postgresql+psycopg://nova@db/nova
        """)
    assert hconf.database_url(conf) == 'postgresql+psycopg://nova@db/nova'


def test_database_url_falls_back_to_sqlite_in_state_path(write_conf):
    conf = load_text(write_conf, "[DEFAULT]\nstate_path = /srv/hoststate\n")
    assert hconf.database_url(conf) == (
        'sqlite:////srv/hoststate/hoststate.sqlite')


def test_database_url_empty_strings_count_as_unset(write_conf):
    conf = load_text(write_conf, """
        [DEFAULT]
        state_path = /srv/hoststate
        [database]
        connection =
        """)
    assert conf.database.connection == ''
    assert hconf.database_url(conf, override='') == (
        'sqlite:////srv/hoststate/hoststate.sqlite')


def test_database_url_ignores_api_database(write_conf):
    conf = load_text(write_conf, """
        [DEFAULT]
        state_path = /srv/hoststate
        [api_database]
        connection = mysql+pymysql://nova@db/nova_api
        """)
    assert hconf.database_url(conf) == (
        'sqlite:////srv/hoststate/hoststate.sqlite')


def test_database_url_expands_home_and_relative_state_path(
        write_conf, monkeypatch, tmp_path):
    monkeypatch.setenv('HOME', str(tmp_path / 'home'))
    conf = load_text(write_conf, "[DEFAULT]\nstate_path = ~/hs\n")
    assert hconf.database_url(conf) == (
        f'sqlite:///{tmp_path}/home/hs/hoststate.sqlite')
    monkeypatch.chdir(tmp_path)
    conf = load_text(write_conf, "[DEFAULT]\nstate_path = rel/dir\n")
    assert hconf.database_url(conf) == (
        f'sqlite:///{tmp_path}/rel/dir/hoststate.sqlite')


def test_database_url_default_state_path(default_conf):
    expected = os.path.expanduser('~/.local/share/hoststate/hoststate.sqlite')
    assert hconf.database_url(default_conf) == 'sqlite:///' + expected


# --- 5. options hoststate does not know --------------------------------------

def test_unknown_nova_options_are_ignored(write_conf):
    conf = load_text(write_conf, """
        [DEFAULT]
        vif_plugging_timeout = 300
        firewall_driver = $undefined_variable.Driver
        report_interval = 20
        [libvirt]
        virt_type = kvm
        cpu_mode = not-even-checked
        """)
    assert conf.report_interval == 20
    assert 'vif_plugging_timeout' not in conf
    assert 'libvirt' not in conf
    with pytest.raises(cfg.NoSuchOptError):
        conf.vif_plugging_timeout


def test_fixture_unknown_sections_are_listed_but_not_registered(nova_conf):
    assert {'libvirt', 'keystone_authtoken'} <= set(
        nova_conf.list_all_sections())
    assert 'libvirt' not in nova_conf


# --- old [DEFAULT] names of scheduler options --------------------------------

def test_deprecated_default_group_names_are_read(write_conf):
    conf = load_text(write_conf, """
        [DEFAULT]
        scheduler_default_filters = RamFilter,ComputeFilter
        scheduler_weight_classes = RAMWeigher
        scheduler_host_subset_size = 2
        scheduler_max_attempts = 7
        scheduler_tracks_instance_changes = false
        ram_weight_multiplier = -1.0
        max_io_ops_per_host = 2
        isolated_hosts = iso-1
        """)
    fs = conf.filter_scheduler
    assert fs.enabled_filters == ['RamFilter', 'ComputeFilter']
    assert fs.weight_classes == ['RAMWeigher']
    assert fs.host_subset_size == 2
    assert conf.scheduler.max_attempts == 7
    assert fs.track_instance_changes is False
    assert fs.ram_weight_multiplier == -1.0
    assert fs.max_io_ops_per_host == 2
    assert fs.isolated_hosts == ['iso-1']


def test_new_name_beats_deprecated_name_in_the_same_file(write_conf):
    conf = load_text(write_conf, """
        [DEFAULT]
        scheduler_max_attempts = 7
        [scheduler]
        max_attempts = 4
        """)
    assert conf.scheduler.max_attempts == 4


def test_invalid_value_under_deprecated_name(write_conf):
    with pytest.raises(exception.ConfigInvalid) as info:
        load_text(write_conf, "[DEFAULT]\nscheduler_max_attempts = 0\n")
    assert (info.value.group, info.value.option, info.value.value) == (
        'scheduler', 'max_attempts', '0')


# --- load(): arguments, implicit files, the global CONF ---------------------

def test_no_implicit_config_files_or_dirs(monkeypatch, tmp_path):
    home = tmp_path / 'home'
    (home / '.hoststate' / 'hoststate.conf.d').mkdir(parents=True)
    (home / '.hoststate' / 'hoststate.conf').write_text(
        '[DEFAULT]\nreport_interval = 99\n')
    (home / '.hoststate' / 'hoststate.conf.d' / 'a.conf').write_text(
        '[DEFAULT]\nservice_down_time = 99\n')
    monkeypatch.setenv('HOME', str(home))
    # oslo.config on its own would have picked these up:
    assert str(home / '.hoststate' / 'hoststate.conf') in (
        cfg.find_config_files(project='hoststate', prog='hoststate'))
    assert str(home / '.hoststate' / 'hoststate.conf.d') in (
        cfg.find_config_dirs(project='hoststate', prog='hoststate'))
    conf = hconf.load(conf=cfg.ConfigOpts())
    assert (conf.report_interval, conf.service_down_time) == (10, 60)
    assert conf.config_file == []
    assert conf.config_dir == []


def test_args_none_does_not_read_sys_argv(monkeypatch, tmp_path):
    monkeypatch.setattr(sys, 'argv', [
        'hoststate', '--config-file', str(tmp_path / 'absent.conf')])
    assert hconf.load(conf=cfg.ConfigOpts()).report_interval == 10


def test_config_file_argument_overrides_default_files(write_conf):
    base = write_conf('[DEFAULT]\nreport_interval = 5\n'
                      'service_down_time = 50\n', name='base.conf')
    extra = write_conf('[DEFAULT]\nreport_interval = 6\n', name='extra.conf')
    conf = hconf.load(['--config-file', extra], config_files=[base],
                      conf=cfg.ConfigOpts())
    # --config-file replaces the default file list, as in oslo.config.
    assert (conf.report_interval, conf.service_down_time) == (6, 60)


def test_several_config_files_later_wins(write_conf):
    first = write_conf('[DEFAULT]\nreport_interval = 5\n'
                       'service_down_time = 50\n', name='first.conf')
    second = write_conf('[DEFAULT]\nreport_interval = 6\n',
                        name='second.conf')
    conf = hconf.load(config_files=[first, second], conf=cfg.ConfigOpts())
    assert (conf.report_interval, conf.service_down_time) == (6, 50)


def test_load_defaults_to_global_conf(write_conf):
    path = write_conf('[DEFAULT]\nreport_interval = 13\n')
    try:
        conf = hconf.load(config_files=[path])
        assert conf is hconf.CONF
        assert hconf.CONF.report_interval == 13
    finally:
        hconf.CONF.clear()
    assert hconf.CONF.report_interval == 10


def test_register_opts_is_idempotent():
    conf = cfg.ConfigOpts()
    hconf.register_opts(conf)
    hconf.register_opts(conf)
    conf([], default_config_files=[], default_config_dirs=[])
    assert conf.zookeeper.recv_timeout == 4000


def test_validate_after_override():
    conf = hconf.load(conf=cfg.ConfigOpts())
    conf.set_override('service_down_time', 30)
    hconf.validate(conf)
    assert conf.service_down_time == 30


# --- list_opts ---------------------------------------------------------------

def test_list_opts_groups_and_counts():
    groups = hconf.list_opts()
    assert [(name, len(opts)) for name, opts in groups] == [
        ('DEFAULT', 56), ('api_database', 1), ('cells', 15), ('conductor', 1),
        ('database', 1), ('filter_scheduler', 24), ('metrics', 4),
        ('oslo_messaging_notifications', 4), ('oslo_messaging_rabbit', 37),
        ('scheduler', 7), ('upgrade_levels', 4), ('zookeeper', 4)]


def test_list_opts_names_are_unique_per_group():
    for name, opts in hconf.list_opts():
        dests = [o.dest for o in opts]
        assert len(dests) == len(set(dests)), name


def test_every_listed_option_is_registered_on_conf():
    for group, opts in hconf.list_opts():
        for opt in opts:
            key = None if group == 'DEFAULT' else group
            registered = hconf.CONF._get_opt_info(opt.dest, key)['opt']
            if (group, opt.dest) in all_option_keys():
                assert registered is opt
            else:   # oslo.messaging lists copies of its options
                assert registered == opt


# --- 6. bounds: finite, integral, and no larger than what later code takes --

from hoststate.conf import limits  # noqa: E402


def _opts_of(kind):
    """hoststate's own options of ``kind`` (oslo.messaging bounds its own)."""
    own = all_option_keys()
    return [(group, opt) for group, opts in hconf.list_opts() for opt in opts
            if type(opt) is kind and (group, opt.dest) in own]


FLOAT_OPTS = _opts_of(cfg.FloatOpt)
INT_OPTS = _opts_of(cfg.IntOpt)
_ids = lambda pairs: [f'{g}.{o.dest}' for g, o in pairs]  # noqa: E731


def test_every_float_and_int_option_is_covered():
    assert len(FLOAT_OPTS) == 23 and len(INT_OPTS) == 21


@pytest.mark.parametrize('text', ['nan', 'NaN', 'inf', '-inf', 'infinity',
                                  '1e999', '-1e999'])
@pytest.mark.parametrize('group,opt', FLOAT_OPTS, ids=_ids(FLOAT_OPTS))
def test_float_options_refuse_numbers_that_are_not_finite(
        write_conf, group, opt, text):
    with pytest.raises(exception.ConfigInvalid) as info:
        load_text(write_conf, f'[{group}]\n{opt.dest} = {text}\n')
    err = info.value
    assert (err.group, err.option, err.value) == (group, opt.dest, text)
    assert ('finite' in err.reason or 'Should be less' in err.reason
            or 'Should be greater' in err.reason)


@pytest.mark.parametrize('group,opt', FLOAT_OPTS, ids=_ids(FLOAT_OPTS))
def test_float_options_refuse_nan_from_set_override(group, opt):
    conf = hconf.load(conf=cfg.ConfigOpts(), use_env=False)
    with pytest.raises(ValueError, match='finite'):
        conf.set_override(opt.dest, float('nan'),
                          group=None if group == 'DEFAULT' else group)


@pytest.mark.parametrize('group,opt', FLOAT_OPTS, ids=_ids(FLOAT_OPTS))
def test_float_options_have_finite_bounds(group, opt):
    assert -limits.MAX_WEIGHT <= opt.type.min < opt.type.max
    assert 0 < opt.type.max <= limits.MAX_WEIGHT


@pytest.mark.parametrize('group,opt', INT_OPTS, ids=_ids(INT_OPTS))
def test_int_options_fit_a_32_bit_integer(group, opt):
    assert opt.type.min is not None and opt.type.max is not None
    assert limits.INT32_MIN <= opt.type.min <= opt.type.max <= limits.INT32_MAX


@pytest.mark.parametrize('text', ['2.7', '1e3', '3.0', '0x10', 'true', ''])
@pytest.mark.parametrize('group,opt', INT_OPTS, ids=_ids(INT_OPTS))
def test_int_options_refuse_what_is_not_an_integer(write_conf, group, opt,
                                                   text):
    if text == '' and opt.default is None:
        pytest.skip('empty means unset for an option without a default')
    with pytest.raises(exception.ConfigInvalid) as info:
        load_text(write_conf, f'[{group}]\n{opt.dest} = {text}\n')
    assert (info.value.option, info.value.value) == (opt.dest, text)


@pytest.mark.parametrize('group,opt', INT_OPTS, ids=_ids(INT_OPTS))
def test_int_options_take_their_bounds_and_refuse_one_more(write_conf, group,
                                                           opt):
    for bound in (opt.type.min, opt.type.max):
        conf = load_text(write_conf, f'[{group}]\n{opt.dest} = {bound}\n')
        assert read(conf, group, opt.dest) == bound
    for beyond in (opt.type.min - 1, opt.type.max + 1, 10 ** 30):
        with pytest.raises(exception.ConfigInvalid) as info:
            load_text(write_conf, f'[{group}]\n{opt.dest} = {beyond}\n')
        assert info.value.value == str(beyond)


# (group, option, largest value): the maxima chosen in conf/limits.py
MAXIMA = [
    ('DEFAULT', 'report_interval', 86400),
    ('DEFAULT', 'service_down_time', 30 * 86400),
    ('DEFAULT', 'update_resources_interval', 86400),
    ('zookeeper', 'recv_timeout', 86400 * 1000),
    ('zookeeper', 'sg_retry_interval', 86400),
    ('cells', 'call_timeout', 86400),
    ('scheduler', 'discover_hosts_in_cells_interval', 86400),
    ('scheduler', 'max_attempts', 2 ** 31 - 1),
    ('scheduler', 'workers', 2 ** 31 - 1),
    ('filter_scheduler', 'host_subset_size', 2 ** 31 - 1),
    ('filter_scheduler', 'max_io_ops_per_host', 2 ** 31 - 1),
    ('filter_scheduler', 'max_instances_per_host', 2 ** 31 - 1),
    ('DEFAULT', 'reserved_host_memory_mb', 2 ** 31 - 1),
    ('DEFAULT', 'reserved_host_disk_mb', 2 ** 31 - 1),
    ('DEFAULT', 'reserved_host_cpus', 2 ** 31 - 1),
    ('DEFAULT', 'cpu_allocation_ratio', 1e6),
    ('DEFAULT', 'initial_disk_allocation_ratio', 1e6),
    ('filter_scheduler', 'build_failure_weight_multiplier', 1e9),
    ('metrics', 'weight_of_unavailable', 1e9),
]


@pytest.mark.parametrize('group,name,largest', MAXIMA,
                         ids=[f'{g}.{n}' for g, n, _ in MAXIMA])
def test_documented_maximum(group, name, largest):
    opt = {o.dest: o for o in dict(hconf.list_opts())[group]}[name]
    assert opt.type.max == largest


def test_intervals_stay_far_below_what_threads_can_wait():
    import threading
    assert limits.MAX_SERVICE_DOWN_TIME * 2.5 < threading.TIMEOUT_MAX
    assert limits.MAX_INTERVAL < limits.MAX_SERVICE_DOWN_TIME


def test_allocation_ratio_times_any_inventory_counts_exactly_in_float64():
    assert limits.INT32_MAX * limits.MAX_ALLOCATION_RATIO < 2 ** 53


def test_foreign_float_option_with_nan_fails_at_load(write_conf):
    conf = cfg.ConfigOpts()
    conf.register_opts([cfg.FloatOpt('factor')], group='extra')
    path = write_conf('[extra]\nfactor = nan\n')
    with pytest.raises(exception.ConfigInvalid) as info:
        hconf.load(config_files=[path], conf=conf)
    assert (info.value.group, info.value.option, info.value.value) == (
        'extra', 'factor', 'nan')
    assert info.value.reason == (
        f'Should be a finite number, not nan (set in {path})')


def test_weight_setting_refuses_a_ratio_that_is_not_finite(write_conf):
    with pytest.raises(exception.ConfigInvalid) as info:
        load_text(write_conf, '[metrics]\nweight_setting = a=1, b=inf\n')
    assert (info.value.option, info.value.value) == ('weight_setting',
                                                     'a=1, b=inf')


def test_weight_setting_keeps_novas_tolerance_of_typos(write_conf):
    conf = load_text(write_conf, '[metrics]\nweight_setting = a=1, b=x, c\n')
    assert conf.metrics.weight_setting == ['a=1', 'b=x', 'c']


@pytest.mark.parametrize('group,name,length', [
    ('DEFAULT', 'default_availability_zone', 255),
    ('DEFAULT', 'default_schedule_zone', 255),
    ('DEFAULT', 'compute_driver', 255),
    ('DEFAULT', 'instances_path', 4096),
    ('cells', 'name', 255),
    ('zookeeper', 'sg_prefix', 255),
    ('database', 'connection', 65535),
    ('filter_scheduler', 'aggregate_image_properties_isolation_namespace',
     255),
])
def test_string_options_are_bounded_by_where_they_go(write_conf, group, name,
                                                     length):
    conf = load_text(write_conf, f'[{group}]\n{name} = {"a" * length}\n')
    assert len(read(conf, group, name)) == length
    with pytest.raises(exception.ConfigInvalid) as info:
        load_text(write_conf, f'[{group}]\n{name} = {"a" * (length + 1)}\n')
    assert info.value.value == 'a' * (length + 1)


def test_state_path_is_bounded_itself_and_through_instances_path(
        write_conf):
    with pytest.raises(exception.ConfigInvalid) as info:
        load_text(write_conf, f'[DEFAULT]\nstate_path = /{"s" * 4096}\n'
                              f'instances_path = /i\n')
    assert info.value.option == 'state_path'
    # the default instances_path is $state_path/instances
    with pytest.raises(exception.ConfigInvalid) as info:
        load_text(write_conf, f'[DEFAULT]\nstate_path = /{"s" * 4090}\n')
    assert info.value.option == 'instances_path'
    assert info.value.reason.endswith('exceeds maximum length 4096')


def test_list_entries_are_bounded(write_conf):
    with pytest.raises(exception.ConfigInvalid) as info:
        load_text(write_conf,
                  f'[filter_scheduler]\nisolated_hosts = a, {"h" * 256}\n')
    assert info.value.option == 'isolated_hosts'


def test_a_long_invalid_value_is_quoted_short_in_one_line(write_conf):
    value = 'y' * 100000
    with pytest.raises(exception.ConfigInvalid) as info:
        load_text(write_conf, f'[DEFAULT]\nservicegroup_driver = {value}\n')
    err = info.value
    assert err.value == value               # the attribute keeps it all
    assert len(str(err)) < 600 and '\n' not in str(err)
    assert "'" + 'y' * 119 + '... (100002 characters)' in str(err)
