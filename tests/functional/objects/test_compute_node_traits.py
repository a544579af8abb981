"""A node's traits in the database, on SQLite, PostgreSQL and MariaDB:
the driver's and the operators' columns, and the operators' change of
every node of a host in one transaction."""
import pytest
import sqlalchemy as sa

from hoststate import exception
from hoststate.db import schema
from hoststate.objects import compute_node as cn_obj
from hoststate.objects import traits as traits_obj
from support.databases import snapshot

AVX, SSE = "HW_CPU_X86_AVX", "HW_CPU_X86_SSE"


def _node(ctx, nodename, host="host1", **values):
    node = cn_obj.ComputeNode(
        ctx, host=host, hypervisor_hostname=nodename, vcpus=4,
        memory_mb=2048, local_gb=10, hypervisor_type="fake",
        hypervisor_version=1, cpu_info="{}", **values)
    node.create()
    return node


def _stored(ctx, column):
    """{nodename: the column's text} of the live nodes."""
    table = schema.compute_nodes
    with ctx.engine.connect() as conn:
        return dict(conn.execute(sa.select(
            table.c.hypervisor_hostname, table.c[column])
            .where(table.c.deleted == 0)).all())


def test_driver_traits_are_stored_as_sorted_json_text(ctx):
    node = _node(ctx, "n1", driver_traits=[SSE, AVX, SSE])
    assert _stored(ctx, "driver_traits") == {"n1": f'["{AVX}", "{SSE}"]'}
    assert _stored(ctx, "operator_traits") == {"n1": None}
    loaded = cn_obj.ComputeNode.get_by_id(ctx, node.id)
    assert (loaded.driver_traits, loaded.operator_traits) == ([AVX, SSE], [])
    assert loaded.obj_what_changed() == set()


def test_nodes_created_in_bulk_without_traits_read_back_none(ctx):
    nodes = [cn_obj.ComputeNode(
        ctx, uuid=f"00000000-0000-0000-0000-00000000000{i}", host="host1",
        hypervisor_hostname=f"n{i}", vcpus=4, memory_mb=2048, local_gb=10,
        hypervisor_type="fake", hypervisor_version=1, cpu_info="{}")
        for i in (1, 2)]
    cn_obj.ComputeNodeList.create_all(ctx, nodes)
    assert [(n.driver_traits, n.operator_traits) for n in nodes] == \
        [([], []), ([], [])]


def test_operator_traits_change_every_node_of_the_host(ctx):
    first, second = _node(ctx, "n1"), _node(ctx, "n2",
                                            operator_traits=["CUSTOM_OLD"])
    _node(ctx, "other", host="host2")

    nodes = cn_obj.ComputeNodeList.update_operator_traits(
        ctx, "host1", added=["CUSTOM_SSD", AVX], removed=["CUSTOM_OLD"])

    assert sorted((n.hypervisor_hostname, n.operator_traits, n.generation)
                  for n in nodes) == [
        ("n1", ["CUSTOM_SSD", AVX], first.generation + 1),
        ("n2", ["CUSTOM_SSD", AVX], second.generation + 1)]
    assert _stored(ctx, "operator_traits") == {
        "n1": f'["CUSTOM_SSD", "{AVX}"]', "n2": f'["CUSTOM_SSD", "{AVX}"]',
        "other": None}


def test_operator_traits_unchanged_write_nothing(ctx):
    _node(ctx, "n1", operator_traits=["CUSTOM_SSD"])
    before = snapshot(ctx.engine)
    [node] = cn_obj.ComputeNodeList.update_operator_traits(
        ctx, "host1", added=["CUSTOM_SSD"], removed=["CUSTOM_NEVER_SET"])
    assert node.operator_traits == ["CUSTOM_SSD"]
    assert snapshot(ctx.engine) == before


def test_a_name_that_is_no_trait_changes_nothing(ctx):
    _node(ctx, "n1")
    before = snapshot(ctx.engine)
    with pytest.raises(traits_obj.InvalidTrait) as refused:
        cn_obj.ComputeNodeList.update_operator_traits(
            ctx, "host1", added=["CUSTOM_OK", "CUSTOM_bad"])
    assert (refused.value.field, refused.value.value) == \
        ("operator_traits", "CUSTOM_bad")
    assert snapshot(ctx.engine) == before


def test_a_host_without_nodes_changes_nothing(ctx):
    _node(ctx, "n1")
    before = snapshot(ctx.engine)
    with pytest.raises(exception.ComputeHostNotFound):
        cn_obj.ComputeNodeList.update_operator_traits(ctx, "host9",
                                                      added=["CUSTOM_X"])
    assert snapshot(ctx.engine) == before


def test_a_node_refuses_a_bad_driver_trait_before_writing(ctx):
    node = _node(ctx, "n1")
    before = snapshot(ctx.engine)
    with pytest.raises(exception.ObjectFieldInvalid):
        node.driver_traits = ["HW_CPU_X86_AVX", "AVX"]
    node.save()                                   # nothing changed
    assert snapshot(ctx.engine) == before
