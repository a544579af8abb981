"""Traits reach a running scheduler: an operator's trait set with
``host-update`` and a trait the driver starts to report are in the
scheduler's table after its next refresh, on SQLite, PostgreSQL and
MariaDB."""
import uuid

import pytest

from hoststate import exception
from hoststate.cli import host_commands
from hoststate.objects import flavor as flavor_obj
from hoststate.objects import request_spec
from hoststate.resource_tracker import agent as agent_mod
from hoststate.resource_tracker import fake_driver
from hoststate.scheduler import host_manager
from hoststate.scheduler import manager as manager_mod
from support import scheduler_worker

FAST = "CUSTOM_FAST"


@pytest.fixture
def conf():
    return scheduler_worker.capacity_conf()


def _spec(extra_specs):
    flavor = flavor_obj.Flavor(id=1, flavorid="f", name="f", vcpus=1,
                               memory_mb=512, root_gb=1,
                               extra_specs=extra_specs)
    return request_spec.RequestSpec.from_components(
        str(uuid.uuid4()), flavor, image={"id": str(uuid.uuid4())},
        project_id="p1", user_id="u1")


def _agent(ctx, host, memory_mb):
    driver = fake_driver.FakeDriver.uniform(
        1, prefix=f"{host}-n", vcpus=4, memory_mb=memory_mb, local_gb=10)
    agent = agent_mod.ComputeAgent(ctx, driver, host=host)
    agent.start()
    return agent


def _chosen_host(scheduler, extra_specs):
    [[selection, *_]] = scheduler.select_destinations(
        _spec(extra_specs), return_alternates=False)
    return selection.service_host


def test_an_operators_trait_is_seen_after_refresh(ctx, conf):
    _agent(ctx, "compute-1", memory_mb=4096)
    _agent(ctx, "compute-2", memory_mb=8192)
    scheduler = manager_mod.Scheduler(host_manager.HostManager(
        ctx, conf=conf, refresh_overlap=0.0).load(), conf=conf, seed=1)
    with pytest.raises(exception.NoValidHost) as refused:
        _chosen_host(scheduler, {f"trait:{FAST}": "required"})
    assert "required trait CUSTOM_FAST missing on 2 host(s)" in \
        str(refused.value)

    host_commands.update_host(ctx, conf, "compute-1", add_traits=[FAST])

    # the request refreshes the table first: compute-1, though compute-2
    # has more free memory
    assert _chosen_host(scheduler, {f"trait:{FAST}": "required"}) == \
        "compute-1"
    assert _chosen_host(scheduler, {f"trait:{FAST}": "forbidden"}) == \
        "compute-2"


def test_a_trait_the_driver_starts_reporting_is_seen_after_refresh(ctx,
                                                                    conf):
    agent = _agent(ctx, "compute-1", memory_mb=4096)
    scheduler = manager_mod.Scheduler(host_manager.HostManager(
        ctx, conf=conf, refresh_overlap=0.0).load(), conf=conf, seed=1)
    wanted = {"trait:HW_CPU_X86_AVX2": "required"}
    with pytest.raises(exception.NoValidHost):
        _chosen_host(scheduler, wanted)

    agent.driver.set_inventory("compute-1-n1", traits=["HW_CPU_X86_AVX2"])
    assert agent.update_available_resource() == {}

    assert _chosen_host(scheduler, wanted) == "compute-1"
