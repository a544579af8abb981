"""Move claims, migrations in the recount, and NUMA / PCI claims."""
import datetime

import pytest

from hoststate import exception
from hoststate.objects import compute_node as cn_obj
from hoststate.objects import instance as instance_obj
from hoststate.objects import migration as migration_obj
from hoststate.objects import migration_context as mc_obj
from hoststate.objects import pci as pci_obj
from hoststate.objects import states
from hoststate.resource_tracker import agent as agent_mod
from hoststate.resource_tracker import fake_driver

from .conftest import HOST, NODE, flavor, make_agent, make_driver, make_instance

SMALL = dict(vcpus=1, memory_mb=128, root_gb=1)
LARGE = dict(vcpus=2, memory_mb=256, root_gb=2)


def _stored(ctx, host=HOST, nodename=NODE):
    return cn_obj.ComputeNode.get_by_host_and_nodename(ctx, host, nodename)


def _used(node):
    return (node.vcpus_used, node.memory_mb_used, node.local_gb_used)


def _two_hosts(ctx):
    source = make_agent(ctx, make_driver(nodes=("src-node",)))
    dest = agent_mod.ComputeAgent(
        ctx, make_driver(nodes=("dst-node",)), host="dest-host")
    dest.start()
    return source.tracker("src-node"), dest.tracker("dst-node")


def _placed(ctx, tracker, the_flavor):
    instance = make_instance(ctx, the_flavor)
    with tracker.instance_claim(instance):
        pass
    instance.vm_state, instance.task_state = states.ACTIVE, None
    instance.save()
    return instance


# --- resize between hosts ----------------------------------------------------

def test_resize_claims_the_new_flavor_at_the_destination(ctx, no_reserve):
    source, dest = _two_hosts(ctx)
    instance = _placed(ctx, source, flavor(**SMALL))
    with dest.resize_claim(instance, flavor(flavor_id=2, **LARGE)) as claim:
        pass
    assert _used(_stored(ctx, "dest-host", "dst-node")) == (2, 256, 2)
    assert _used(_stored(ctx, HOST, "src-node")) == (1, 128, 1)
    migration = migration_obj.Migration.get_by_id(ctx, claim.migration.id)
    assert (migration.status, migration.migration_type, migration.source_compute,
            migration.dest_compute, migration.dest_node) == (
        "pre-migrating", "resize", HOST, "dest-host", "dst-node")
    context = instance_obj.Instance.get_by_uuid(ctx, instance.uuid).migration_context
    assert (context.migration_id, context.old_flavor.vcpus,
            context.new_flavor.vcpus) == (migration.id, 1, 2)


def test_the_recount_at_each_end_counts_the_side_nova_counts(ctx, no_reserve):
    source, dest = _two_hosts(ctx)
    instance = _placed(ctx, source, flavor(**SMALL))
    with dest.resize_claim(instance, flavor(flavor_id=2, **LARGE)):
        pass
    instance.task_state = states.RESIZE_MIGRATING
    instance.save()
    # incoming, instance still on the source: dest counts the new flavor
    dest.update_available_resource()
    source.update_available_resource()
    assert _used(_stored(ctx, "dest-host", "dst-node")) == (2, 256, 2)
    assert _used(_stored(ctx, HOST, "src-node")) == (1, 128, 1)
    # finished: the instance lives at dest with the new flavor; the source
    # keeps the old flavor for a revert
    instance.host, instance.node = "dest-host", "dst-node"
    instance.flavor = flavor(flavor_id=2, **LARGE)
    instance.instance_type_id = 2
    instance.vm_state, instance.task_state = states.RESIZED, None
    instance.save()
    dest.update_available_resource()
    source.update_available_resource()
    assert _used(_stored(ctx, "dest-host", "dst-node")) == (2, 256, 2)
    assert _used(_stored(ctx, HOST, "src-node")) == (1, 128, 1)


def test_confirm_frees_the_source_and_revert_frees_the_destination(
        ctx, no_reserve):
    source, dest = _two_hosts(ctx)
    confirmed = _placed(ctx, source, flavor(**SMALL))
    reverted = _placed(ctx, source, flavor(**SMALL))
    with dest.resize_claim(confirmed, flavor(flavor_id=2, **LARGE)) as first:
        pass
    with dest.resize_claim(reverted, flavor(flavor_id=2, **LARGE)) as second:
        pass
    assert _used(_stored(ctx, "dest-host", "dst-node")) == (4, 512, 4)

    source.drop_move_claim_at_source(confirmed, first.migration)
    dest.drop_move_claim_at_dest(reverted, second.migration)

    assert _used(_stored(ctx, HOST, "src-node")) == (1, 128, 1)
    assert _used(_stored(ctx, "dest-host", "dst-node")) == (2, 256, 2)
    assert migration_obj.Migration.get_by_id(ctx, first.migration.id).status \
        == "confirmed"
    assert migration_obj.Migration.get_by_id(ctx, second.migration.id).status \
        == "reverted"
    back = instance_obj.Instance.get_by_uuid(ctx, reverted.uuid)
    assert (back.flavor.vcpus, back.migration_context) == (1, None)


def test_a_failed_move_aborts_and_marks_the_migration_error(ctx, no_reserve):
    source, dest = _two_hosts(ctx)
    instance = _placed(ctx, source, flavor(**SMALL))
    with pytest.raises(RuntimeError):
        with dest.resize_claim(instance, flavor(flavor_id=2, **LARGE)) as claim:
            raise RuntimeError("disk copy failed")
    assert _used(_stored(ctx, "dest-host", "dst-node")) == (0, 0, 0)
    assert migration_obj.Migration.get_by_id(ctx, claim.migration.id).status \
        == "error"


def test_a_move_claim_that_does_not_fit_creates_no_migration(ctx, no_reserve):
    source, dest = _two_hosts(ctx)
    instance = _placed(ctx, source, flavor(**SMALL))
    with pytest.raises(exception.ComputeResourcesUnavailable) as err:
        with dest.resize_claim(instance, flavor(flavor_id=3, vcpus=1,
                                                memory_mb=4096, root_gb=1)):
            pass
    assert err.value.reasons == [
        "memory_mb: requested 4096 MiB, more than the node's 512 MiB in all"]
    assert list(migration_obj.MigrationList.get_all(ctx)) == []
    assert instance_obj.Instance.get_by_uuid(
        ctx, instance.uuid).migration_context is None


def test_evacuation_and_live_migration_claim_the_same_flavor(ctx, no_reserve):
    source, dest = _two_hosts(ctx)
    evacuated = _placed(ctx, source, flavor(**SMALL))
    migrating = _placed(ctx, source, flavor(**SMALL))
    with dest.rebuild_claim(evacuated) as rebuild:
        pass
    with dest.live_migration_claim(migrating) as live:
        pass
    assert (rebuild.migration.migration_type, live.migration.migration_type) \
        == ("evacuation", "live-migration")
    assert _used(_stored(ctx, "dest-host", "dst-node")) == (2, 256, 2)


# --- migrations in the recount ------------------------------------------------

def _migration(ctx, instance, status="migrating", minutes=0, **fields):
    values = dict(instance_uuid=instance.uuid, source_compute=HOST,
                  source_node=NODE, dest_compute="elsewhere",
                  dest_node="far-node", old_instance_type_id=1,
                  new_instance_type_id=2, migration_type="resize",
                  status=status)
    values.update(fields)
    migration = migration_obj.Migration(ctx, **values)
    migration.create()
    when = datetime.datetime(2026, 11, 1, 12, minutes,
                             tzinfo=datetime.timezone.utc)
    migration.updated_at = when
    migration.save()
    return migration


def test_only_the_newest_migration_counts_and_a_stale_one_is_marked_error(
        ctx, no_reserve):
    agent = make_agent(ctx, make_driver())
    instance = make_instance(ctx, flavor(**SMALL), host="elsewhere",
                             node="far-node", vm_state=states.RESIZED,
                             task_state=None)
    older = _migration(ctx, instance, minutes=1)
    newer = _migration(ctx, instance, minutes=2)
    instance.migration_context = mc_obj.MigrationContext(
        instance_uuid=instance.uuid, migration_id=newer.id,
        old_flavor=flavor(**SMALL), new_flavor=flavor(flavor_id=2, **LARGE))
    instance.save()

    agent.update_available_resource()

    # outgoing, instance gone: the old flavor (1 vcpu) is held for a revert
    assert _used(_stored(ctx)) == (1, 128, 1)
    assert migration_obj.Migration.get_by_id(ctx, older.id).status == \
        "migrating"                      # older is ignored, not touched
    instance.migration_context.migration_id = older.id
    instance.save()
    agent.update_available_resource()
    # now the newest migration is not the instance's move: stale, error
    assert migration_obj.Migration.get_by_id(ctx, newer.id).status == "error"
    assert _used(_stored(ctx)) == (0, 0, 0)


# --- NUMA and PCI -------------------------------------------------------------

def _numa_driver(**shape):
    topology = fake_driver.numa_host(**shape)
    vcpus = sum(len(c.cpuset | c.pcpuset) for c in topology.cells)
    return fake_driver.FakeDriver({NODE: fake_driver.NodeInventory(
        vcpus=vcpus, memory_mb=sum(c.memory for c in topology.cells),
        local_gb=100, numa_topology=topology,
        pci_devices=[dict(address=f"0000:81:00.{n}", vendor_id="10de",
                          product_id="20b5", numa_node=1, dev_type="type-PCI")
                     for n in range(2)])})


def _pinned(node):
    return [sorted(cell.pinned_cpus) for cell in node.numa_topology.cells]


def test_a_dedicated_claim_pins_cpus_and_the_abort_unpins_them(ctx, no_reserve):
    agent = make_agent(ctx, _numa_driver(dedicated_per_cell=4))
    dedicated = flavor(vcpus=2, memory_mb=512, root_gb=1,
                       extra_specs={"hw:cpu_policy": "dedicated"})
    instance = make_instance(ctx, dedicated)
    with agent.tracker(NODE).instance_claim(instance):
        pass
    pinned = _pinned(_stored(ctx))
    assert sum(len(cpus) for cpus in pinned) == 2
    stored = instance_obj.Instance.get_by_uuid(ctx, instance.uuid)
    assert sorted(stored.numa_topology.cells[0].cpu_pinning.values()) == \
        sorted(cpu for cpus in pinned for cpu in cpus)
    # the recount pins the same cpus again: nothing to write
    assert agent.tracker(NODE).update_available_resource() is False

    agent.tracker(NODE).abort_instance_claim(instance)
    assert _pinned(_stored(ctx)) == [[], []]


def test_a_numa_claim_on_a_node_without_numa_fails(ctx, no_reserve):
    agent = make_agent(ctx, make_driver(vcpus=8, memory_mb=4096, local_gb=10))
    instance = make_instance(ctx, flavor(
        vcpus=2, memory_mb=512, extra_specs={"hw:cpu_policy": "dedicated"}))
    with pytest.raises(exception.ComputeResourcesUnavailable) as err:
        with agent.tracker(NODE).instance_claim(instance):
            pass
    assert err.value.reasons == [
        "NUMA: the instance needs a NUMA topology and the node has none"]
    # distinguishable from a capacity shortfall: no numbers
    [short] = err.value.shortfalls
    assert (short.resource, short.requested, short.free, short.node) == \
        ("numa", None, None, NODE)


def test_a_claim_needing_too_many_pci_devices_fails_with_the_reason(
        ctx, no_reserve):
    agent = make_agent(ctx, _numa_driver())
    request = pci_obj.InstancePCIRequest(
        count=3, spec=[{"vendor_id": "10de", "product_id": "20b5"}],
        request_id="5d3c0c1e-8f43-4f0e-9c87-3b8a7c1f1f10")
    instance = make_instance(
        ctx, flavor(vcpus=1, memory_mb=256),
        pci_requests=pci_obj.InstancePCIRequests(requests=[request]))
    with pytest.raises(exception.ComputeResourcesUnavailable) as err:
        with agent.tracker(NODE).instance_claim(instance):
            pass
    assert len(err.value.reasons) == 1
    assert err.value.reasons[0].startswith("PCI: no free devices match 3 x")
    assert [(s.resource, s.requested) for s in err.value.shortfalls] == \
        [("pci", None)]


def test_pci_devices_are_taken_and_given_back(ctx, no_reserve):
    agent = make_agent(ctx, _numa_driver())
    request = pci_obj.InstancePCIRequest(
        count=2, spec=[{"vendor_id": "10de"}], request_id="5d3c0c1e-8f43-4f0e-9c87-3b8a7c1f1f10")
    instance = make_instance(
        ctx, flavor(vcpus=1, memory_mb=256),
        pci_requests=pci_obj.InstancePCIRequests(requests=[request]))
    tracker = agent.tracker(NODE)
    with tracker.instance_claim(instance):
        pass
    pools = _stored(ctx).pci_device_pools
    assert sum(pool.count for pool in pools) == 0
    tracker.abort_instance_claim(instance)
    assert sum(pool.count for pool in _stored(ctx).pci_device_pools) == 2


def test_live_migration_that_would_change_the_page_size_is_refused(
        ctx, no_reserve):
    agent = make_agent(ctx, _numa_driver(hugepages_2m_per_cell=512))
    instance = make_instance(ctx, flavor(
        vcpus=1, memory_mb=512, extra_specs={"hw:mem_page_size": "small"}))
    tracker = agent.tracker(NODE)
    with tracker.instance_claim(instance):
        pass
    # pretend the instance runs on 2 MiB pages at its source
    instance.numa_topology.cells[0].pagesize = 2048
    before = _used(_stored(ctx))
    with pytest.raises(exception.ComputeResourcesUnavailable,
                       match="cannot change the page size from 2048"):
        with tracker.live_migration_claim(instance):
            pass
    assert _used(_stored(ctx)) == before
