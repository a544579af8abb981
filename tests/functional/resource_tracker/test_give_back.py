"""An instance's delete gives back on its node as stored, and an adoption
takes the ledger rows read with the instance."""
import pytest

from hoststate import exception
from hoststate.conf import CONF
from hoststate.hardware import consumption as cons
from hoststate.objects import compute_node as cn_obj
from hoststate.objects import instance as instance_obj
from hoststate.objects import states
from support import ledger as ledger_checks

from .conftest import NODE, flavor, make_agent, make_driver, make_instance


def _node(ctx):
    [node] = cn_obj.ComputeNodeList.get_all(ctx)
    return node


def _claimed(ctx, tracker, the_flavor=None):
    instance = make_instance(ctx, the_flavor)
    with tracker.instance_claim(instance):
        pass
    return instance


def _delete(tracker, instance):
    instance.destroy()
    instance.vm_state, instance.task_state = states.DELETED, None
    tracker.update_usage(instance)


def test_a_delete_after_another_writer_moved_the_node(ctx, no_reserve):
    driver = make_driver()
    mine = make_agent(ctx, driver).tracker(NODE)
    deleted = _claimed(ctx, mine, flavor(vcpus=1, memory_mb=128))
    # another writer (here a second agent; a scheduler's claim alike)
    # moves the node behind this tracker's back
    theirs = make_agent(ctx, driver).tracker(NODE)
    kept = _claimed(ctx, theirs, flavor(vcpus=2, memory_mb=256, root_gb=2,
                                        flavor_id=2))

    _delete(mine, deleted)

    node = _node(ctx)
    assert (node.vcpus_used, node.memory_mb_used, node.local_gb_used,
            node.free_ram_mb, node.running_vms) == (2, 256, 2, 256, 1)
    assert node.stats["num_instances"] == "1"
    assert ledger_checks.violations(ctx.engine, CONF) == []
    # the tracker's node was last seen before the other writer's claim:
    # its next write finds the node moved, and claims on it as stored
    third = _claimed(ctx, mine)
    assert _node(ctx).vcpus_used == 3
    assert {i.uuid for i in instance_obj.InstanceList.get_by_host_and_node(
        ctx, third.host, NODE)} == {kept.uuid, third.uuid}


def test_a_delete_on_the_node_as_last_seen_keeps_it_current(ctx,
                                                          no_reserve):
    tracker = make_agent(ctx, make_driver()).tracker(NODE)
    first = _claimed(ctx, tracker)
    _claimed(ctx, tracker)

    _delete(tracker, first)

    stored = _node(ctx)
    for name in stored.fields:
        assert tracker.node.obj_get(name) == stored.obj_get(name), name
    assert ledger_checks.violations(ctx.engine, CONF) == []


def test_a_delete_with_nothing_held_writes_nothing(ctx, no_reserve):
    tracker = make_agent(ctx, make_driver()).tracker(NODE)
    instance = make_instance(ctx)       # never claimed here
    before = _node(ctx).generation

    _delete(tracker, instance)

    assert _node(ctx).generation == before


def test_an_adoption_takes_the_row_read_with_the_instance(ctx, no_reserve):
    driver = make_driver()
    placed = _claimed(ctx, make_agent(ctx, driver).tracker(NODE),
                      flavor(vcpus=2, memory_mb=256))
    adopter = make_agent(ctx, driver).tracker(NODE)
    generation = _node(ctx).generation

    instance, held = instance_obj.get_placed(ctx, placed.uuid)
    with adopter.instance_claim(instance, held=held) as adopted:
        pass

    [row] = held
    assert adopted == cons.Consumption.held(row)
    assert (adopted.vcpus, adopted.memory_mb) == (2, 256)
    assert adopter.tracked_instances() == {placed.uuid}
    assert _node(ctx).generation == generation        # nothing written


def test_an_adoption_without_a_row_takes_the_flavor(ctx, no_reserve):
    driver = make_driver()
    placed = _claimed(ctx, make_agent(ctx, driver).tracker(NODE),
                      flavor(vcpus=2, memory_mb=256))
    adopter = make_agent(ctx, driver).tracker(NODE)
    instance, _ = instance_obj.get_placed(ctx, placed.uuid)

    with adopter.instance_claim(instance, held=[]) as adopted:
        pass

    assert (adopted.vcpus, adopted.memory_mb, adopted.disk_gb) == (2, 256, 1)


def test_the_placed_read_of_an_instance_that_is_gone(ctx, no_reserve):
    instance = make_instance(ctx)
    assert instance_obj.get_placed(ctx, instance.uuid)[1] == []
    instance.destroy()

    with pytest.raises(exception.InstanceNotFound):
        instance_obj.get_placed(ctx, instance.uuid)
    found, held = instance_obj.get_placed(ctx.with_read_deleted("yes"),
                                          instance.uuid)
    assert (found, held) == (instance, [])
