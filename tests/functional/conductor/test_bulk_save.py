"""An agent working through a conductor writes a cycle's changed nodes in
one call (``ComputeNodeList.save_all``): the same rows as the one-by-one
path, the conflicted nodes redone that way, another host's nodes refused
before anything is written. On both buses and the three backends."""
import collections
import uuid

import pytest
import sqlalchemy as sa

from hoststate import exception
from hoststate.db import api as db_api
from hoststate.db import schema
from hoststate.objects import allocation as allocation_obj
from hoststate.objects import compute_node as cn_obj
from hoststate.objects import indirection
from hoststate.objects import instance as instance_obj
from hoststate.resource_tracker import agent as agent_mod
from hoststate.resource_tracker import fake_driver

from support.conductor import agent_context, claim_plain

BULK, ONE_BY_ONE = "bulk-1", "single-1"
#: columns that name a node rather than count it
_IDENTITY = {"id", "uuid", "host", "hypervisor_hostname", "service_id",
             "created_at", "updated_at"}


def _driver(host):
    return fake_driver.FakeDriver.uniform(3, prefix=f"{host}-node", vcpus=8,
                                          memory_mb=16384, local_gb=100)


def _counted(api, monkeypatch):
    """Count the remotable calls ``api`` sends, by (class, method)."""
    calls = collections.Counter()
    by_class, by_object = api.object_class_action_versions, api.object_action

    def class_action(context, objname, objmethod, *args, **kwargs):
        calls[(objname, objmethod)] += 1
        return by_class(context, objname, objmethod, *args, **kwargs)

    def action(context, objinst, objmethod, *args, **kwargs):
        calls[(objinst.obj_name(), objmethod)] += 1
        return by_object(context, objinst, objmethod, *args, **kwargs)
    monkeypatch.setattr(api, "object_class_action_versions", class_action)
    monkeypatch.setattr(api, "object_action", action)
    return calls


def _claim(ctx, node_id):
    return claim_plain(ctx, node_id, vcpus=1)


def _destroy(ctx, instance_uuid):
    """Nova's API deletes the row; the ledger keeps it until the node's
    agent counts again."""
    with indirection.serving_locally():
        instance_obj.Instance.get_by_uuid(ctx, instance_uuid).destroy()


def _node_ids(agent):
    return [agent.trackers[name].node.id
            for name in sorted(agent.trackers)]


def _rows(ctx, host):
    """Per node of ``host`` in name order: its counting columns, and the
    (vcpus, memory_mb, disk_gb) of its ledger rows."""
    nodes, ledger = schema.compute_nodes, schema.allocations
    with db_api.reading(ctx) as conn:
        rows = conn.execute(sa.select(nodes).where(nodes.c.host == host)
                            .order_by(nodes.c.hypervisor_hostname)).all()
        held = conn.execute(sa.select(
            ledger.c.compute_node_id, ledger.c.vcpus, ledger.c.memory_mb,
            ledger.c.disk_gb)).all()
    return [({k: v for k, v in row._mapping.items() if k not in _IDENTITY},
             sorted(tuple(h[1:]) for h in held if h[0] == row.id))
            for row in rows]


def _churn(ctx, agent):
    """Claims on the first two nodes, then one instance of each deleted:
    the next cycle must give back a ledger row on two nodes."""
    first, second, _ = _node_ids(agent)
    placed = [_claim(ctx, first), _claim(ctx, first), _claim(ctx, second),
              _claim(ctx, second)]
    _destroy(ctx, placed[0])
    _destroy(ctx, placed[2])


def test_a_cycle_writes_its_nodes_in_one_call_as_one_by_one_would(
        conductor, ctx, monkeypatch):
    bulk = agent_mod.ComputeAgent(agent_context(BULK), _driver(BULK),
                                  host=BULK)
    bulk.start()
    with indirection.serving_locally():
        single = agent_mod.ComputeAgent(ctx, _driver(ONE_BY_ONE),
                                        host=ONE_BY_ONE)
        single.start()
    _churn(ctx, bulk)
    _churn(ctx, single)
    calls = _counted(conductor, monkeypatch)

    assert bulk.update_available_resource() == {}
    with indirection.serving_locally():
        assert single.update_available_resource() == {}

    assert calls[("ComputeNodeList", "save_all")] == 1
    assert not [key for key in calls if key[1].startswith("save_with")]
    assert _rows(ctx, BULK) == _rows(ctx, ONE_BY_ONE)
    # the given-back rows are gone: one instance left on each of two nodes
    assert [len(held) for _, held in _rows(ctx, BULK)] == [1, 1, 0]
    # the agent holds the nodes as written: a steady cycle writes nothing
    calls.clear()
    assert bulk.update_available_resource() == {}
    assert calls[("ComputeNodeList", "save_all")] == 0


def test_a_conflicted_node_is_redone_the_usual_way(conductor, ctx,
                                                   monkeypatch):
    bulk = agent_mod.ComputeAgent(agent_context(BULK), _driver(BULK),
                                  host=BULK)
    bulk.start()
    _churn(ctx, bulk)
    first = _node_ids(bulk)[0]
    calls = _counted(conductor, monkeypatch)
    sent = conductor.object_class_action_versions
    late = []

    def claim_first(context, objname, objmethod, *args, **kwargs):
        if objmethod == "save_all" and not late:
            # a scheduler claims on the first node between the agent's
            # reads and its bulk save
            late.append(_claim(ctx, first))
        return sent(context, objname, objmethod, *args, **kwargs)
    monkeypatch.setattr(conductor, "object_class_action_versions",
                        claim_first)

    assert bulk.update_available_resource() == {}

    assert calls[("ComputeNodeList", "save_all")] == 1
    # the first node only, redone: read again, counted, saved alone
    assert calls[("ComputeNode", "get_by_id")] == 1
    assert calls[("ComputeNode", "save_with_ledger")] == 1
    first_row, second_row, _ = _rows(ctx, BULK)
    # the late claim is kept, the deleted instance given back
    assert first_row[1] == [(1, 512, 1), (1, 512, 1)]
    assert second_row[1] == [(1, 512, 1)]
    for columns, held in (first_row, second_row):
        assert columns["vcpus_used"] == sum(h[0] for h in held)
        assert columns["memory_mb_used"] == 512 + sum(h[1] for h in held)


def _stored(ctx, node_id):
    with indirection.serving_locally():
        return cn_obj.ComputeNode.get_by_id(ctx, node_id)


def test_save_all_writes_each_node_or_names_it(conductor, ctx):
    agent = agent_mod.ComputeAgent(agent_context(BULK), _driver(BULK),
                                   host=BULK)
    agent.start()
    ids = _node_ids(agent)
    nodes = [cn_obj.ComputeNode.get_by_id(agent.context, i) for i in ids]
    _claim(ctx, ids[0])                 # the first node moves on
    gone = allocation_obj.Allocation(id=10 ** 9, consumer_uuid=str(
        uuid.uuid4()), compute_node_id=ids[1])
    for node in nodes:
        node.running_vms = 7
    before = [_stored(ctx, i) for i in ids]

    answer = cn_obj.ComputeNodeList.save_all(
        agent.context, nodes,
        [{}, {"removed": [gone]}, {"added": [], "removed": []}])

    # the first lost its compare-and-swap; the second wrote its node, then
    # failed to give back a row already gone: neither is written
    assert answer["conflicts"] == ids[:2]
    assert [node.id for node in answer["saved"]] == ids[2:]
    after = [_stored(ctx, i) for i in ids]
    assert [n.generation for n in after] == [
        before[0].generation, before[1].generation,
        before[2].generation + 1]
    assert after[1].running_vms == before[1].running_vms
    assert after[2].running_vms == 7
    assert answer["saved"][0].generation == after[2].generation


def test_save_all_refuses_another_hosts_node(conductor, ctx):
    mine = agent_mod.ComputeAgent(agent_context(BULK), _driver(BULK),
                                  host=BULK)
    mine.start()
    with indirection.serving_locally():
        other = agent_mod.ComputeAgent(ctx, _driver(ONE_BY_ONE),
                                       host=ONE_BY_ONE)
        other.start()
    theirs = cn_obj.ComputeNode.get_by_id(mine.context, _node_ids(other)[0])
    own = cn_obj.ComputeNode.get_by_id(mine.context, _node_ids(mine)[0])
    theirs.running_vms = own.running_vms = 9
    before = _rows(ctx, ONE_BY_ONE), _rows(ctx, BULK)

    # as sent: the node names its host
    with pytest.raises(exception.ConductorRefused, match="belongs to "
                       f"{ONE_BY_ONE}"):
        cn_obj.ComputeNodeList.save_all(mine.context, [own, theirs],
                                        [{}, {}])
    # as stored: a node that names this host with another host's row
    theirs.host = BULK
    theirs.obj_reset_changes(["host"])
    with pytest.raises(exception.ConductorRefused,
                       match=f"as stored belongs to {ONE_BY_ONE}"):
        cn_obj.ComputeNodeList.save_all(mine.context, [own, theirs],
                                        [{}, {}])
    assert (_rows(ctx, ONE_BY_ONE), _rows(ctx, BULK)) == before
