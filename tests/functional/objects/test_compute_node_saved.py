"""A saved ComputeNode is the row as stored, without reading it again."""
from hoststate.objects import compute_node as cn_obj

from .test_compute_node import NODE_UUID, _node


def _fields(node):
    return {name: getattr(node, name) for name in node.fields
            if node.obj_attr_is_set(name)}


def test_a_saved_node_holds_every_field_as_a_fresh_read_does(ctx):
    node = _node(ctx)
    node.vcpus_used = 3
    node.stats = {"num_instances": "2"}
    node.numa_topology.cells[0].pin_cpus({2})
    node.save()

    loaded = cn_obj.ComputeNode.get_by_uuid(ctx, NODE_UUID)
    assert _fields(node) == _fields(loaded)
    assert node.obj_what_changed() == set()


def test_a_node_saved_with_its_ledger_holds_the_new_generation(ctx):
    node = _node(ctx)
    node.memory_mb_used = 1024
    node.save_with_ledger([], [])

    loaded = cn_obj.ComputeNode.get_by_uuid(ctx, NODE_UUID)
    assert _fields(node) == _fields(loaded)
    assert (node.generation, node.updated_at) == (1, loaded.updated_at)


def test_a_node_stored_with_new_values_shares_the_rest(ctx):
    node = _node(ctx)
    node.running_vms = 5
    node.save()
    before = _fields(node)

    written = cn_obj.ComputeNode.get_by_uuid(ctx, NODE_UUID)
    written.vcpus_used = 2
    written.save()
    with ctx.engine.connect() as conn:
        row = conn.execute(cn_obj.ComputeNode.TABLE.select()).one()._mapping
    copy = node.stored_with({"vcpus_used": 2}, row)

    assert _fields(copy) == _fields(written)
    assert copy.obj_what_changed() == set()
    assert _fields(node) == before           # the original is unchanged
