"""Fixtures for tracker tests: a compute agent on a FakeDriver, real DBs."""
import uuid

import pytest

from hoststate import conf as hs_conf
from hoststate.objects import flavor as flavor_obj
from hoststate.objects import instance as instance_obj
from hoststate.objects import states
from hoststate.resource_tracker import agent as agent_mod
from hoststate.resource_tracker import fake_driver

HOST = "fake-host"
NODE = "fake-node"


@pytest.fixture
def overrides():
    """Set config options for one test: ``overrides(name=value, ...)``."""
    names = []

    def set_options(**values):
        for name, value in values.items():
            hs_conf.CONF.set_override(name, value)
            names.append(name)

    yield set_options
    for name in names:
        hs_conf.CONF.clear_override(name)


@pytest.fixture
def no_reserve(overrides):
    overrides(reserved_host_memory_mb=0, reserved_host_disk_mb=0,
              reserved_host_cpus=0)


def make_driver(vcpus=4, memory_mb=512, local_gb=6, nodes=(NODE,), **extra):
    return fake_driver.FakeDriver({name: fake_driver.NodeInventory(
        vcpus=vcpus, memory_mb=memory_mb, local_gb=local_gb, **extra)
        for name in nodes})


def make_agent(ctx, driver):
    agent = agent_mod.ComputeAgent(ctx, driver, host=HOST)
    assert agent.start() == {}
    return agent


def flavor(vcpus=1, memory_mb=128, root_gb=1, ephemeral_gb=0, swap=0,
           flavor_id=1, extra_specs=None):
    return flavor_obj.Flavor(
        id=flavor_id, flavorid=f"f{flavor_id}", name=f"flavor{flavor_id}",
        vcpus=vcpus, memory_mb=memory_mb, root_gb=root_gb,
        ephemeral_gb=ephemeral_gb, swap=swap, extra_specs=extra_specs or {})


def make_instance(ctx, the_flavor=None, create=True, **fields):
    the_flavor = the_flavor or flavor()
    values = dict(uuid=str(uuid.uuid4()), project_id="p1", user_id="u1",
                  vm_state=states.BUILDING, task_state=states.SPAWNING,
                  image_ref="image-1", flavor=the_flavor,
                  instance_type_id=the_flavor.id,
                  vcpus=the_flavor.vcpus, memory_mb=the_flavor.memory_mb,
                  root_gb=the_flavor.root_gb,
                  ephemeral_gb=the_flavor.ephemeral_gb)
    values.update(fields)
    instance = instance_obj.Instance(ctx, **values)
    if create:
        instance.create()
    return instance
