"""select_destinations against real databases: claims are atomic, a lost
claim moves on, and compute trackers agree with what schedulers claimed."""
import uuid

import pytest
import sqlalchemy as sa

from hoststate import exception
from hoststate.db import schema
from hoststate.objects import flavor as flavor_obj
from hoststate.objects import instance as instance_obj
from hoststate.objects import request_spec
from hoststate.objects import service as service_obj
from hoststate.resource_tracker import agent as agent_mod
from hoststate.resource_tracker import fake_driver
from hoststate.scheduler import host_manager
from hoststate.scheduler import manager as manager_mod
from support import scheduler_worker


@pytest.fixture
def conf():
    return scheduler_worker.capacity_conf()


def _flavor(vcpus=2, memory_mb=2048, root_gb=10):
    return flavor_obj.Flavor(id=1, flavorid="f", name="f", vcpus=vcpus,
                             memory_mb=memory_mb, root_gb=root_gb,
                             ephemeral_gb=0, swap=0, extra_specs={})


def _spec(flavor, count=1):
    return request_spec.RequestSpec.from_components(
        str(uuid.uuid4()), flavor, image={"id": str(uuid.uuid4())},
        project_id="p1", user_id="u1", num_instances=count)


def _agent(ctx, host, nodes=2, **inventory):
    inventory.setdefault("vcpus", 8)
    inventory.setdefault("memory_mb", 8192)
    inventory.setdefault("local_gb", 100)
    driver = fake_driver.FakeDriver.uniform(nodes, prefix=f"{host}-n",
                                            **inventory)
    agent = agent_mod.ComputeAgent(ctx, driver, host=host)
    agent.start()
    return agent


def _scheduler(ctx, conf, seed=7):
    manager = host_manager.HostManager(ctx, conf=conf, refresh_overlap=0.0)
    return manager_mod.Scheduler(manager.load(), conf=conf, seed=seed)


def _usage(engine):
    with engine.connect() as conn:
        rows = conn.execute(sa.select(
            schema.compute_nodes.c.hypervisor_hostname,
            schema.compute_nodes.c.vcpus_used,
            schema.compute_nodes.c.memory_mb_used,
            schema.compute_nodes.c.local_gb_used,
            schema.compute_nodes.c.stats,
            schema.compute_nodes.c.generation)).all()
    return {r[0]: tuple(r[1:]) for r in rows}


def test_claims_write_node_usage_and_place_the_instances(ctx, conf):
    _agent(ctx, "h1")
    reserved = _usage(ctx.engine)["h1-n1"][:3]   # reserved_host_* baseline
    scheduler = _scheduler(ctx, conf)
    uuids = [str(uuid.uuid4()) for _ in range(3)]
    result = scheduler.select_destinations(_spec(_flavor(), 3), uuids)
    chosen = [r[0].nodename for r in result]
    usage = _usage(ctx.engine)
    # two nodes, RAM spread: 3 instances land 2 + 1; each takes 2 vCPU,
    # 2048 MiB and 10 GiB
    assert sorted(chosen.count(n) for n in set(chosen)) == [1, 2]
    for node in ("h1-n1", "h1-n2"):
        n = chosen.count(node)
        assert usage[node][:3] == (reserved[0] + 2 * n,
                                   reserved[1] + 2048 * n,
                                   reserved[2] + 10 * n)
    placed = {u: instance_obj.Instance.get_by_uuid(ctx, u) for u in uuids}
    assert [(placed[u].host, placed[u].node) for u in uuids] == \
        [("h1", n) for n in chosen]
    assert all(p.vm_state == "building" for p in placed.values())


def test_tracker_recount_agrees_with_scheduler_claims(ctx, conf):
    agent = _agent(ctx, "h1")
    scheduler = _scheduler(ctx, conf)
    scheduler.select_destinations(
        _spec(_flavor(), 3), [str(uuid.uuid4()) for _ in range(3)])
    claimed = _usage(ctx.engine)
    agent.update_available_resource()
    after = _usage(ctx.engine)
    # the recount counted the placed instances to the same numbers and
    # stats, so it wrote nothing: same generations too
    assert after == claimed


def test_tracker_adopts_an_instance_a_scheduler_claimed(ctx, conf):
    agent = _agent(ctx, "h1", nodes=1)
    scheduler = _scheduler(ctx, conf)
    instance_uuid = str(uuid.uuid4())
    [selections] = scheduler.select_destinations(_spec(_flavor()),
                                                 [instance_uuid])
    before = _usage(ctx.engine)
    instance = instance_obj.Instance.get_by_uuid(ctx, instance_uuid)
    with agent.instance_claim(instance, selections[0].nodename):
        pass
    assert _usage(ctx.engine) == before      # not counted twice


def test_a_lost_claim_moves_to_the_next_candidate(ctx, conf):
    _agent(ctx, "h1", nodes=2, memory_mb=4096)
    scheduler = _scheduler(ctx, conf)
    # Another writer fills h1-n1 behind the scheduler's back (its table
    # still thinks n1 is empty and, first by row order, the best).
    with ctx.engine.begin() as conn:
        conn.execute(sa.update(schema.compute_nodes)
                     .where(schema.compute_nodes.c.hypervisor_hostname ==
                            "h1-n1")
                     .values(memory_mb_used=4096, free_ram_mb=0,
                             generation=schema.compute_nodes.c.generation + 1))
    scheduler.refresh_before_select = False
    [selections] = scheduler.select_destinations(_spec(_flavor()))
    assert selections[0].nodename == "h1-n2"
    # and the table learnt the truth about n1 from the lost claim
    row = scheduler.table.row_of_host_node[("h1", "h1-n1")]
    assert float(scheduler.table.free_ram_mb[row]) == 0.0


def test_no_valid_host_releases_the_claims_of_the_request(ctx, conf):
    _agent(ctx, "h1", nodes=1, vcpus=4, memory_mb=4096)
    # h2 has room but is disabled: the cloud holds two such instances, so
    # the request gets as far as its second one
    _agent(ctx, "h2", nodes=1, vcpus=4, memory_mb=8192)
    h2 = service_obj.Service.get_by_compute_host(ctx, "h2")
    h2.disabled = True
    h2.save()
    scheduler = _scheduler(ctx, conf)
    before = _usage(ctx.engine)
    with pytest.raises(exception.NoValidHost) as raised:
        scheduler.select_destinations(
            _spec(_flavor(memory_mb=3000), 2),
            [str(uuid.uuid4()), str(uuid.uuid4())])
    # instance 1 fitted (3000 of 4096); instance 2 did not, so instance
    # 1's claim was never committed (tests/functional/scheduler/
    # test_no_leftovers.py compares every row of every table)
    assert "RamFilter removed 1 of 1 hosts" in str(raised.value)
    assert "memory_mb: requested 3000 MiB" in str(raised.value)
    assert _usage(ctx.engine) == before


def test_a_claim_between_an_agents_reads_is_not_written_away(
        ctx, conf, monkeypatch):
    """A restarted agent reads its host's instances, then its nodes; a
    scheduler claim landing between the two must survive its recount."""
    _agent(ctx, "h1", nodes=1)
    before = _usage(ctx.engine)["h1-n1"]
    scheduler = _scheduler(ctx, conf)
    read_host = agent_mod.usage_source.read_host

    def read_then_a_claim_lands(context, host, mirror=None):
        sources = read_host(context, host, mirror)
        scheduler.select_destinations(_spec(_flavor()))
        return sources

    monkeypatch.setattr(agent_mod.usage_source, "read_host",
                        read_then_a_claim_lands)
    restarted = agent_mod.ComputeAgent(
        ctx, fake_driver.FakeDriver.uniform(1, prefix="h1-n", vcpus=8,
                                            memory_mb=8192, local_gb=100),
        host="h1")
    restarted.start()
    # the claim's 2 vcpus, 2048 MiB and 10 GiB are still counted
    assert _usage(ctx.engine)["h1-n1"][:3] == (
        before[0] + 2, before[1] + 2048, before[2] + 10)


def test_a_rebuild_check_claims_nothing(ctx, conf):
    """The rebuild check (hint ``_nova_check_type=rebuild``) picks the
    instance's own node and writes nothing: the instance already holds its
    resources there, and Nova 34 neither asks Placement nor claims for it.
    The node is chosen although it has no room left for a second copy."""
    # 4096 MiB less 512 reserved: room for one 2048 MiB instance only
    _agent(ctx, "h1", nodes=1, vcpus=4, memory_mb=4096, local_gb=20)
    scheduler = _scheduler(ctx, conf)
    [[placed]] = scheduler.select_destinations(
        _spec(_flavor()), [str(uuid.uuid4())])
    before = _usage(ctx.engine)
    spec = _spec(_flavor())
    spec.force_hosts = ["h1"]
    spec.scheduler_hints = {"_nova_check_type": ["rebuild"]}
    [[rebuilt, *_]] = scheduler.select_destinations(spec, [spec.instance_uuid])
    assert (rebuilt.service_host, rebuilt.nodename) == \
        (placed.service_host, placed.nodename) == ("h1", "h1-n1")
    assert _usage(ctx.engine) == before
    with ctx.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(
            schema.instances)).scalar() == 1


def _ledger(engine):
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.select(
            schema.allocations.c.vcpus, schema.allocations.c.memory_mb,
            schema.allocations.c.disk_gb)).all()]


def test_resource_overrides_are_what_a_claim_takes(ctx, conf):
    """``resources:VCPU=0`` etc. (a bare-metal style flavor larger than the
    node): placed, and the claim takes what the specs say, not the
    flavor's sizes (issue 13). Nova 34's filters (the legacy RamFilter
    would read the flavor's 64 GiB, as Nova's did)."""
    conf = scheduler_worker.capacity_conf(
        enabled_filters=["ComputeFilter", "ImagePropertiesFilter"])
    agent = _agent(ctx, "h1", nodes=1)
    before = _usage(ctx.engine)["h1-n1"]
    flavor = _flavor(vcpus=64, memory_mb=65536, root_gb=1000)
    flavor.extra_specs = {"resources:VCPU": "0", "resources:MEMORY_MB": "256",
                          "resources:DISK_GB": "0"}
    scheduler = _scheduler(ctx, conf)
    [[placed, *_]] = scheduler.select_destinations(_spec(flavor),
                                                   [str(uuid.uuid4())])
    assert placed.nodename == "h1-n1"
    after = _usage(ctx.engine)["h1-n1"]
    assert after[:3] == (before[0], before[1] + 256, before[2])
    assert _ledger(ctx.engine) == [(0, 256, 0)]
    # the agent's recount (from the instance's stored flavor) agrees
    agent.update_available_resource()
    assert _usage(ctx.engine)["h1-n1"][:3] == after[:3]


def test_an_unsupported_resource_class_is_refused_before_any_write(ctx, conf):
    _agent(ctx, "h1", nodes=1)
    before = _usage(ctx.engine)
    flavor = _flavor()
    flavor.extra_specs = {"resources:VGPU": "1"}
    scheduler = _scheduler(ctx, conf)
    with pytest.raises(exception.HoststateError) as err:
        scheduler.select_destinations(_spec(flavor), [str(uuid.uuid4())])
    assert str(err.value) == ("Invalid flavor request resources:VGPU='1': a "
                              "node tracks only VCPU, MEMORY_MB, DISK_GB, "
                              "PCPU")
    assert _usage(ctx.engine) == before
    assert _ledger(ctx.engine) == []
