"""The resource tracker against SQLite, PostgreSQL and MariaDB.

Numbers follow Nova's tracker fixtures: a node of 4 vcpus, 512 MiB and
6 GiB unless a test says otherwise.
"""
import pytest

from hoststate import exception
from hoststate.objects import compute_node as cn_obj
from hoststate.objects import instance as instance_obj
from hoststate.objects import states

from .conftest import HOST, NODE, flavor, make_agent, make_driver, make_instance


def _stored(ctx, nodename=NODE):
    return cn_obj.ComputeNode.get_by_host_and_nodename(ctx, HOST, nodename)


def _usage(node):
    return (node.vcpus_used, node.memory_mb_used, node.local_gb_used,
            node.free_ram_mb, node.free_disk_gb)


# --- the periodic update --------------------------------------------------

def test_new_node_holds_the_reserved_baseline(ctx, overrides):
    # reserved: 1 cpu, 512 MiB, 1024 MiB disk = 1 GiB
    # used = reserved; free_ram = 512 - 512 = 0; free_disk = 6 - 1 = 5
    overrides(reserved_host_memory_mb=512, reserved_host_disk_mb=1024,
              reserved_host_cpus=1)
    make_agent(ctx, make_driver())
    assert _usage(_stored(ctx)) == (1, 512, 1, 0, 5)


def test_usage_may_go_negative_and_is_not_clamped(ctx, no_reserve):
    # two instances of 1 vcpu, 768 MiB, 3 GiB root + 0.5 GiB swap (1 GiB):
    # memory 1536 on 512 -> free -1024; disk 8 on 6 -> free -2... with one
    # instance of 4 GiB root + 3 GiB: 7 on 6 -> free -1
    agent = make_agent(ctx, make_driver())
    big = flavor(memory_mb=768, root_gb=4, ephemeral_gb=3)
    for _ in range(2):
        make_instance(ctx, big, host=HOST, node=NODE, vm_state=states.ACTIVE,
                      task_state=None)
    agent.update_available_resource()
    node = _stored(ctx)
    assert _usage(node) == (2, 1536, 14, -1024, -8)


def test_deleted_and_shelved_offloaded_instances_are_not_counted(ctx, no_reserve):
    agent = make_agent(ctx, make_driver())
    make_instance(ctx, host=HOST, node=NODE, vm_state=states.ACTIVE,
                  task_state=None)
    make_instance(ctx, host=HOST, node=NODE, vm_state=states.DELETED,
                  task_state=None)
    make_instance(ctx, host=HOST, node=NODE, vm_state=states.SHELVED_OFFLOADED,
                  task_state=None)
    unshelving = make_instance(ctx, host=HOST, node=NODE,
                               vm_state=states.SHELVED_OFFLOADED,
                               task_state=states.SPAWNING)
    agent.update_available_resource()
    node = _stored(ctx)
    # counted: the active one and the one being unshelved (spawning)
    assert (node.vcpus_used, node.memory_mb_used, node.running_vms) == (2, 256, 2)
    assert agent.tracker(NODE).tracked_instances() == {
        unshelving.uuid} | {i.uuid for i in instance_obj.InstanceList.
                            get_by_host_and_node(ctx, HOST, NODE)
                            if i.vm_state == states.ACTIVE}


def test_boot_from_volume_counts_no_root_disk_and_swap_counts(ctx, no_reserve):
    agent = make_agent(ctx, make_driver())
    # bfv: root 1 GiB not counted; ephemeral 1 + swap 1024 MiB = 2 GiB
    make_instance(ctx, flavor(root_gb=1, ephemeral_gb=1, swap=1024),
                  image_ref=None, host=HOST, node=NODE,
                  vm_state=states.ACTIVE, task_state=None)
    agent.update_available_resource()
    assert _stored(ctx).local_gb_used == 2


def test_unchanged_node_is_not_written(ctx, no_reserve):
    agent = make_agent(ctx, make_driver())
    before = _stored(ctx)
    assert agent.tracker(NODE).update_available_resource() is False
    after = _stored(ctx)
    assert (after.generation, after.updated_at) == (before.generation,
                                                    before.updated_at)


def test_changed_inventory_is_written_once(ctx, no_reserve):
    driver = make_driver()
    agent = make_agent(ctx, driver)
    generation = _stored(ctx).generation
    driver.set_inventory(NODE, memory_mb=1024)
    assert agent.tracker(NODE).update_available_resource() is True
    assert agent.tracker(NODE).update_available_resource() is False
    node = _stored(ctx)
    assert (node.memory_mb, node.free_ram_mb, node.generation) == \
        (1024, 1024, generation + 1)


def test_failed_save_keeps_the_last_saved_copy_so_the_next_cycle_writes(
        ctx, no_reserve, monkeypatch):
    driver = make_driver()
    agent = make_agent(ctx, driver)
    tracker = agent.tracker(NODE)
    driver.set_inventory(NODE, vcpus=8)

    def broken_save(self):
        raise exception.DBError(reason="database went away")
    with monkeypatch.context() as patch:
        patch.setattr(cn_obj.ComputeNode, "save", broken_save)
        with pytest.raises(exception.DBError):
            tracker.update_available_resource()
    assert tracker.node.vcpus == 4            # still the copy last saved
    assert tracker.update_available_resource() is True
    assert _stored(ctx).vcpus == 8


@pytest.mark.parametrize("configured, initial, expected", [
    (None, 4.0, 4.0),       # nothing configured: the initial ratio
    (0.0, 4.0, 4.0),        # 0.0 means "not configured" as well
    (2.5, 4.0, 2.5),        # a configured ratio wins
])
def test_allocation_ratio_comes_from_config_when_set(
        ctx, overrides, configured, initial, expected):
    overrides(cpu_allocation_ratio=configured,
              initial_cpu_allocation_ratio=initial)
    make_agent(ctx, make_driver())
    assert _stored(ctx).cpu_allocation_ratio == expected


def test_configured_ratio_replaces_a_stored_one(ctx, overrides):
    agent = make_agent(ctx, make_driver())
    assert _stored(ctx).ram_allocation_ratio == 1.0
    overrides(ram_allocation_ratio=1.5)
    agent.update_available_resource()
    assert _stored(ctx).ram_allocation_ratio == 1.5


# --- claims ------------------------------------------------------------------

def test_instance_claim_counts_at_once_and_places_the_instance(ctx, no_reserve):
    agent = make_agent(ctx, make_driver())
    instance = make_instance(ctx)
    with agent.tracker(NODE).instance_claim(instance):
        pass
    node = _stored(ctx)
    assert _usage(node) == (1, 128, 1, 384, 5)
    stored = instance_obj.Instance.get_by_uuid(ctx, instance.uuid)
    assert (stored.host, stored.node, stored.compute_id) == (HOST, NODE, node.id)
    # the next recount agrees with the claim
    assert agent.tracker(NODE).update_available_resource() is False


def test_claim_that_does_not_fit_lists_every_reason_and_changes_nothing(
        ctx, no_reserve):
    agent = make_agent(ctx, make_driver())
    instance = make_instance(ctx, flavor(vcpus=5, memory_mb=1024, root_gb=7))
    before = _stored(ctx)
    with pytest.raises(exception.ComputeResourcesUnavailable) as err:
        with agent.tracker(NODE).instance_claim(instance):
            pass
    # cpu ratio 4.0 (initial): 16 vcpus free, but 5 is more than the
    # node's 4 (an instance never over-commits against itself: the whole
    # capacity rule, as the scheduler's claim); memory and disk are larger
    # than the node too (ratio 1.0)
    assert err.value.reasons == [
        "vcpus: requested 5, more than the node's 4 in all",
        "memory_mb: requested 1024 MiB, more than the node's 512 MiB in all",
        "disk_gb: requested 7 GiB, more than the node's 6 GiB in all"]
    assert [(s.resource, s.requested, s.free, s.capacity, s.total, s.node)
            for s in err.value.shortfalls] == [
        ("vcpus", 5, 16.0, 16.0, 4, NODE),
        ("memory_mb", 1024, 512.0, 512.0, 512, NODE),
        ("disk_gb", 7, 6.0, 6.0, 6, NODE)]
    after = _stored(ctx)
    assert (after.generation, _usage(after)) == (before.generation,
                                                 _usage(before))
    stored = instance_obj.Instance.get_by_uuid(ctx, instance.uuid)
    assert (stored.host, stored.node) == (None, None)


def test_a_pinned_guest_larger_than_the_node_is_refused_before_its_cpus_are_built(
        ctx, no_reserve):
    """vcpus = 2**31 - 1 (Nova's API limit) with dedicated CPUs: the claim
    fails like any other that does not fit, without building a set of two
    billion guest CPUs (it used to grow the process to tens of GB)."""
    agent = make_agent(ctx, make_driver())
    instance = make_instance(ctx, flavor(
        vcpus=2 ** 31 - 1, extra_specs={"hw:cpu_policy": "dedicated"}))
    before = _stored(ctx)
    with pytest.raises(exception.ComputeResourcesUnavailable) as err:
        with agent.tracker(NODE).instance_claim(instance):
            pass
    assert err.value.reasons == [
        f"vcpus: a NUMA guest of {2 ** 31 - 1} vCPUs is larger than {NODE} "
        f"(4 CPUs)"]
    after = _stored(ctx)
    assert (after.generation, _usage(after)) == (before.generation,
                                                 _usage(before))


def test_claim_on_an_unavailable_node_is_refused_untouched(ctx, no_reserve):
    driver = make_driver()
    agent = make_agent(ctx, driver)
    driver.set_available(NODE, False)
    instance = make_instance(ctx)
    with pytest.raises(exception.ComputeResourcesUnavailable,
                       match=f"node {NODE} is not available"):
        with agent.tracker(NODE).instance_claim(instance):
            pass
    assert instance.obj_get("host") is None
    assert _stored(ctx).vcpus_used == 0


def test_claim_on_an_unknown_node_is_refused_untouched(ctx, no_reserve):
    agent = make_agent(ctx, make_driver())
    instance = make_instance(ctx)
    with pytest.raises(exception.ComputeResourcesUnavailable) as err:
        with agent.instance_claim(instance, "no-such-node"):
            pass
    assert err.value.reasons == [
        f"node no-such-node is not managed by host {HOST}"]
    assert instance.obj_get("host") is None
    assert instance.obj_what_changed() == set()
    with pytest.raises(exception.ComputeHostNotFound):
        agent.tracker("no-such-node")


def test_agent_claims_through_the_node_tracker(ctx, no_reserve):
    agent = make_agent(ctx, make_driver())
    instance = make_instance(ctx)
    with agent.instance_claim(instance, NODE):
        pass
    assert _stored(ctx).vcpus_used == 1


def test_an_exception_inside_the_claim_aborts_it(ctx, no_reserve):
    agent = make_agent(ctx, make_driver())
    instance = make_instance(ctx)
    with pytest.raises(RuntimeError):
        with agent.tracker(NODE).instance_claim(instance):
            raise RuntimeError("spawn failed")
    assert _usage(_stored(ctx)) == (0, 0, 0, 512, 6)
    stored = instance_obj.Instance.get_by_uuid(ctx, instance.uuid)
    assert (stored.host, stored.node, stored.numa_topology) == (None, None, None)
    assert agent.tracker(NODE).tracked_instances() == set()


def test_shelve_offload_gives_usage_back_and_unshelve_takes_it(ctx, no_reserve):
    agent = make_agent(ctx, make_driver())
    tracker = agent.tracker(NODE)
    instance = make_instance(ctx)
    with tracker.instance_claim(instance):
        pass
    instance.vm_state = states.SHELVED_OFFLOADED
    instance.task_state = None
    tracker.update_usage(instance)
    assert _stored(ctx).vcpus_used == 0
    instance.task_state = states.SPAWNING     # unshelving on this node
    tracker.update_usage(instance)
    assert _stored(ctx).vcpus_used == 1


# --- the agent -----------------------------------------------------------------

def test_agent_creates_every_reported_node(ctx, no_reserve):
    make_agent(ctx, make_driver(nodes=("n1", "n2", "n3")))
    nodes = cn_obj.ComputeNodeList.get_all_by_host(ctx, HOST)
    assert sorted(n.hypervisor_hostname for n in nodes) == ["n1", "n2", "n3"]


def test_agent_deletes_a_node_the_driver_says_is_gone(ctx, no_reserve):
    driver = make_driver(nodes=("n1", "n2"))
    agent = make_agent(ctx, driver)
    driver.remove_node("n2", deleted=True)
    assert agent.update_available_resource() == {}
    assert [n.hypervisor_hostname for n in
            cn_obj.ComputeNodeList.get_all_by_host(ctx, HOST)] == ["n1"]


def test_agent_keeps_a_node_that_is_only_unreported(ctx, no_reserve):
    driver = make_driver(nodes=("n1", "n2"))
    agent = make_agent(ctx, driver)
    driver.remove_node("n2", deleted=False)
    agent.update_available_resource()
    assert len(cn_obj.ComputeNodeList.get_all_by_host(ctx, HOST)) == 2


def test_agent_undeletes_a_node_that_comes_back(ctx, no_reserve):
    node_uuid = "7a6c1d12-2a52-4b5e-9a55-0f6b1e7f3c01"
    driver = make_driver(uuid=node_uuid)
    agent = make_agent(ctx, driver)
    first_id = _stored(ctx).id
    _stored(ctx).destroy()
    agent.trackers.clear()
    agent.update_available_resource()
    node = cn_obj.ComputeNode.get_by_uuid(ctx, node_uuid)
    assert (node.id, node.deleted) == (first_id, False)


def test_agent_takes_over_a_node_another_host_owned(ctx, no_reserve):
    node_uuid = "7a6c1d12-2a52-4b5e-9a55-0f6b1e7f3c02"
    other = make_agent(ctx, make_driver(uuid=node_uuid))
    other_node = _stored(ctx)
    other_node.host = "old-host"
    other_node.save()

    make_agent(ctx, make_driver(uuid=node_uuid))

    node = cn_obj.ComputeNode.get_by_uuid(ctx, node_uuid)
    assert node.host == HOST and node.id == other_node.id
    assert other is not None


def test_one_failing_node_does_not_stop_the_others(ctx, no_reserve, monkeypatch):
    driver = make_driver(nodes=("n1", "n2", "n3"))
    agent = make_agent(ctx, driver)
    real = driver.get_available_resource

    def flaky(nodename):
        if nodename == "n2":
            raise RuntimeError("hypervisor of n2 did not answer")
        return real(nodename)
    monkeypatch.setattr(driver, "get_available_resource", flaky)
    for name in ("n1", "n3"):
        driver.set_inventory(name, vcpus=16)

    errors = agent.update_available_resource()

    assert list(errors) == ["n2"]
    assert {n.hypervisor_hostname: n.vcpus for n in
            cn_obj.ComputeNodeList.get_all_by_host(ctx, HOST)} == \
        {"n1": 16, "n2": 4, "n3": 16}
