"""Configuration, requests and a runner for the basic filter tests."""
import uuid as uuid_lib

from oslo_config import cfg

from hoststate import conf as hs_conf
from hoststate.objects import flavor as flavor_obj
from hoststate.objects import instance_group as group_obj
from hoststate.objects import request_spec
from hoststate.scheduler import plugins
from hoststate.scheduler.request import RequestVector
from support.host_tables import all_rows, hosts_at

INSTANCE = "11111111-1111-1111-1111-111111111111"


def uuid_of(number):
    """A readable, deterministic UUID."""
    return str(uuid_lib.UUID(int=number))


def load_conf(**groups):
    """A fresh ConfigOpts with defaults, then ``groups`` overrides:
    ``load_conf(filter_scheduler={"max_io_ops_per_host": 4},
    DEFAULT={"default_availability_zone": "zoneX"})``."""
    conf = hs_conf.load(conf=cfg.ConfigOpts(), use_env=False)
    override(conf, **groups)
    return conf


def override(conf, **groups):
    for group, options in groups.items():
        for name, value in options.items():
            conf.set_override(name, value,
                              group=None if group == "DEFAULT" else group)
    return conf


def make_request(conf=None, vcpus=1, memory_mb=512, root_gb=0,
                 ephemeral_gb=0, swap=0, flavor_name="m1.small", hints=None,
                 group_policy=None, group_rules=None, group_members=(),
                 group_hosts=(), availability_zone=None, project_id=None,
                 image_id=None, instance_uuid=INSTANCE, instance_hosts=None):
    """A RequestVector for a boot of one instance of the given flavor."""
    flavor = flavor_obj.Flavor(
        flavorid=flavor_name, name=flavor_name, vcpus=vcpus,
        memory_mb=memory_mb, root_gb=root_gb, ephemeral_gb=ephemeral_gb,
        swap=swap)
    group = None
    if group_policy is not None:
        group = group_obj.InstanceGroup(
            policy=group_policy, rules=dict(group_rules or {}),
            members=list(group_members), hosts=list(group_hosts))
    image = None if image_id is None else {"id": image_id, "properties": {}}
    spec = request_spec.RequestSpec.from_components(
        instance_uuid, flavor, image=image, scheduler_hints=hints,
        instance_group=group, availability_zone=availability_zone,
        project_id=project_id)
    request = RequestVector(spec, conf)
    request.instance_hosts.update(instance_hosts or {})
    return request


def make_filter(name, conf):
    """The filter registered as ``name`` (through its entry point)."""
    return plugins.filters.get(name)(conf)


def mask_of(host_filter, table, request, rows=None):
    """The filter's mask over ``rows`` (default: every candidate), checked
    for shape and type."""
    rows = all_rows(table) if rows is None else rows
    mask = host_filter.filter_mask(table, rows, request)
    assert mask.dtype == bool and mask.shape == rows.shape
    return mask


def passing(host_filter, table, request):
    """Host names the filter keeps, in row order."""
    rows = all_rows(table)
    return hosts_at(table, rows[mask_of(host_filter, table, request, rows)])
