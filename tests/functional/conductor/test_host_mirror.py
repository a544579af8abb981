"""An agent through a conductor keeps what it read and asks only for what
changed; after every kind of change, what it holds is what a read of the
database gives."""

import pytest

from hoststate.conductor import build as build_mod
from hoststate.objects import indirection
from hoststate.objects import instance as instance_obj
from hoststate.objects import states
from hoststate.resource_tracker import agent as agent_mod
from hoststate.resource_tracker import fake_driver
from hoststate.resource_tracker import host_rows
from hoststate.resource_tracker import usage_source
from hoststate.scheduler import claim_release

from support.conductor import agent_context, claim_plain

HOST = "mirror-1"


def _local(ctx):
    with indirection.serving_locally():
        instances, ledger, migrations, others = \
            usage_source.read_host_rows(ctx, HOST)
        nodes = usage_source.read_nodes(ctx, HOST)
    return ([list(row) for row in nodes],
            sorted(map(list, instances)), sorted(map(list, ledger)))


def _mirrored(ctx, mirror):
    agent = agent_context(HOST)
    instances, ledger, _, _ = mirror.usage(agent)
    nodes = mirror.node_rows(agent)
    return ([list(row) for row in nodes],
            sorted(map(list, instances)), sorted(map(list, ledger)))


def _text(value):
    """A value as a broker carries it: a time stamp as JSON's text."""
    if hasattr(value, "strftime"):
        return value.strftime("%Y-%m-%dT%H:%M:%S.%f")
    return value


def _same(ctx, mirror):
    def plain(read):
        return [[[_text(v) for v in row] for row in rows] for rows in read]
    assert plain(_mirrored(ctx, mirror)) == plain(_local(ctx))


@pytest.fixture
def placed(conductor, ctx):
    """A host of three nodes, its agent registered (locally)."""
    with indirection.serving_locally():
        agent = agent_mod.ComputeAgent(ctx, fake_driver.FakeDriver.uniform(
            3, prefix=f"{HOST}-node", vcpus=8, memory_mb=16384,
            local_gb=100), host=HOST)
        agent.start()
    return agent


def _claim(ctx, node_id):
    return claim_plain(ctx, node_id, vcpus=1)


def test_the_mirror_follows_every_change(placed, ctx):
    mirror = host_rows.HostMirror(HOST)
    _same(ctx, mirror)                               # the first, whole read
    node_ids = sorted(t.node.id for t in placed.trackers.values())

    placed_uuids = [_claim(ctx, node_ids[0]), _claim(ctx, node_ids[1]),
                    _claim(ctx, node_ids[1])]
    _same(ctx, mirror)                               # claims: nodes changed

    with indirection.serving_locally():
        instance = instance_obj.Instance.get_by_uuid(ctx, placed_uuids[0])
        instance.vm_state = states.ACTIVE
        instance.save()
    _same(ctx, mirror)                               # a state change only

    with indirection.serving_locally():
        instance_obj.Instance.get_by_uuid(ctx, placed_uuids[1]).destroy()
    _same(ctx, mirror)                               # a delete, usage kept

    with indirection.serving_locally():
        claim_release.release(ctx, node_ids[1], placed_uuids[2])
    _same(ctx, mirror)                               # a claim given back
    assert build_mod is not None


def test_a_steady_host_sends_no_rows(placed, ctx):
    mirror = host_rows.HostMirror(HOST)
    agent = agent_context(HOST)
    mirror.usage(agent)
    answer = host_rows.ComputeHostRows.changes_of_host(
        agent, HOST, [[i, r.generation] for i, r in mirror._nodes.items()],
        mirror._since)
    assert (answer["nodes"], answer["instances"], answer["ledger"],
            answer["removed"]) == ([], [], [], [])
    assert sorted(answer["live"]) == sorted(mirror._nodes)
