"""A request that ends in NoValidHost leaves every table exactly as it was,
on SQLite, PostgreSQL and MariaDB; a request for several instances gets
distinct uuids; parallel multi-instance requests that deadlock are tried
again and neither over-commit nor leave anything behind.

The snapshot is every column of every row of every table in the schema
(generations and timestamps included): the claims of a request for
several instances are made in one transaction and rolled back together.
"""
import threading
import uuid

import pytest
import sqlalchemy as sa

from hoststate import conf as hs_conf
from hoststate import exception
from hoststate.db import schema
from hoststate.objects import flavor as flavor_obj
from hoststate.objects import instance as instance_obj
from hoststate.objects import pci as pci_obj
from hoststate.objects import request_spec
from hoststate.objects import service as service_obj
from hoststate.objects import states
from hoststate.resource_tracker import agent as agent_mod
from hoststate.resource_tracker import fake_driver
from hoststate.scheduler import claim_session
from hoststate.scheduler import host_manager
from hoststate.scheduler import manager as manager_mod
from support import databases
from support import scheduler_worker


@pytest.fixture
def conf():
    return scheduler_worker.capacity_conf(weight_classes=["RAMWeigher"])


snapshot = databases.snapshot


def flavor(memory_mb=3000, vcpus=1, root_gb=1):
    return flavor_obj.Flavor(id=1, flavorid="f", name="f", vcpus=vcpus,
                             memory_mb=memory_mb, root_gb=root_gb,
                             ephemeral_gb=0, swap=0, extra_specs={})


def spec_for(flavor_, count):
    return request_spec.RequestSpec.from_components(
        str(uuid.uuid4()), flavor_, image={"id": str(uuid.uuid4())},
        project_id="p1", user_id="u1", num_instances=count)


def start_agent(ctx, host, nodes=1, memory_mb=4096):
    driver = fake_driver.FakeDriver.uniform(
        nodes, prefix=f"{host}-n", vcpus=8, memory_mb=memory_mb,
        local_gb=100)
    agent = agent_mod.ComputeAgent(ctx, driver, host=host)
    agent.start()
    return agent


def disable(ctx, host):
    service = service_obj.Service.get_by_compute_host(ctx, host)
    service.disabled = True
    service.save()


def scheduler_for(ctx, conf, seed=3):
    hosts = host_manager.HostManager(ctx, conf=conf, refresh_overlap=0.0)
    return manager_mod.Scheduler(hosts.load(), conf=conf, seed=seed)


@pytest.fixture
def half_full(ctx, conf):
    """h1 takes one 3000 MiB instance, not two; h2 could, but is
    disabled (so the cloud as a whole has room for the request, and the
    second instance is the one that fails, after the first claimed)."""
    start_agent(ctx, "h1")
    start_agent(ctx, "h2", memory_mb=16384)
    disable(ctx, "h2")
    return scheduler_for(ctx, conf)


def test_no_valid_host_part_way_leaves_every_table_as_it_was(
        ctx, half_full):
    before = snapshot(ctx.engine)
    with pytest.raises(exception.NoValidHost) as raised:
        half_full.select_destinations(
            spec_for(flavor(), 2), [str(uuid.uuid4()), str(uuid.uuid4())])
    assert "RamFilter removed 1 of 1 hosts (memory_mb: requested 3000 " \
        "MiB" in str(raised.value)
    assert snapshot(ctx.engine) == before


def test_instances_the_caller_stored_stay_as_they_were(ctx, half_full):
    """Nova's API stores the instances before it schedules them: a failed
    request leaves those rows unplaced and unchanged, not deleted."""
    uuids = [str(uuid.uuid4()), str(uuid.uuid4())]
    for instance_uuid in uuids:
        instance_obj.Instance(ctx, uuid=instance_uuid, flavor=flavor(),
                              vm_state=states.BUILDING).create()
    before = snapshot(ctx.engine)
    with pytest.raises(exception.NoValidHost):
        half_full.select_destinations(spec_for(flavor(), 2), uuids)
    assert snapshot(ctx.engine) == before


def test_the_table_is_put_back_after_a_failed_request(ctx, half_full):
    """The scheduler's own table forgets the rolled-back claim too: the
    same request for one instance then lands on h1 as if nothing had
    happened."""
    table = half_full.table
    row = table.row_of_host_node[("h1", "h1-n1")]
    free_before = float(table.free_ram_mb[row])
    with pytest.raises(exception.NoValidHost):
        half_full.select_destinations(
            spec_for(flavor(), 2), [str(uuid.uuid4()), str(uuid.uuid4())])
    assert float(table.free_ram_mb[row]) == free_before
    [[chosen, *_]] = half_full.select_destinations(spec_for(flavor(), 1))
    assert chosen.nodename == "h1-n1"


def test_several_instances_without_uuids_get_distinct_rows(ctx, conf):
    """The natural call: num_instances=3 and no instance_uuids."""
    start_agent(ctx, "h1", nodes=2, memory_mb=8192)
    scheduler = scheduler_for(ctx, conf)
    spec = spec_for(flavor(memory_mb=1024), 3)
    result = scheduler.select_destinations(spec)
    assert len(result) == 3
    with ctx.engine.connect() as conn:
        placed = conn.execute(sa.select(
            schema.instances.c.uuid, schema.instances.c.node)).all()
    assert len({u for u, _ in placed}) == 3
    assert spec.instance_uuid in {u for u, _ in placed}
    assert sorted(n for _, n in placed) == sorted(
        s[0].nodename for s in result)


def test_the_same_seed_gives_the_same_new_uuids(tmp_path, conf):
    """Replayable: two clouds, one seed, the same instance rows."""
    from hoststate import context as hs_context
    from hoststate.db import engine as db_engine
    from hoststate.db import migration
    found = []
    for name in ("a", "b"):
        engine = db_engine.create_engine(f"sqlite:///{tmp_path}/{name}.db")
        migration.sync(engine)
        ctx = hs_context.get_admin_context(engine=engine)
        start_agent(ctx, "h1", nodes=2, memory_mb=8192)
        spec = spec_for(flavor(memory_mb=1024), 3)
        spec.instance_uuid = "5b1f3d2e-8c9a-4e7f-b6d5-1a2b3c4d5e6f"
        scheduler_for(ctx, conf, seed=11).select_destinations(spec)
        with engine.connect() as conn:
            found.append(sorted(conn.execute(sa.select(
                schema.instances.c.uuid, schema.instances.c.node)).all()))
        engine.dispose()
    assert found[0] == found[1]


def test_crossed_requests_deadlock_then_both_succeed(ctx, conf, monkeypatch,
                                                    caplog):
    """Two schedulers each place two instances on n1 and n2 in opposite
    orders, and both hold their first node's row lock at the same moment
    (a barrier): the database aborts one, which is tried again after the
    other commits. No over-commit, no lost claim, no leftover row."""
    if ctx.engine.dialect.name == "sqlite":
        pytest.skip("SQLite has no row locks: a writing transaction holds "
                    "the whole database, so requests never cross")
    start_agent(ctx, "h1", nodes=2, memory_mb=8192)
    first, second = scheduler_for(ctx, conf), scheduler_for(ctx, conf)
    # opposite preferences: each scheduler's (stale) table thinks its
    # first node has the most free RAM
    for scheduler, favourite in ((first, "h1-n1"), (second, "h1-n2")):
        row = scheduler.table.row_of_host_node[("h1", favourite)]
        scheduler.table.free_ram_mb[row] += 4096
        scheduler.refresh_before_select = False
    both_hold_a_lock = threading.Barrier(2, timeout=30)
    waited = threading.local()
    claim = claim_session.ClaimSession.claim

    def claim_then_meet(session, *args, **kwargs):
        stored = claim(session, *args, **kwargs)
        if session.together and not getattr(waited, "done", False):
            waited.done = True
            both_hold_a_lock.wait()
        return stored

    monkeypatch.setattr(claim_session.ClaimSession, "claim", claim_then_meet)
    caplog.set_level("INFO", logger="hoststate.scheduler.manager")
    results, errors = {}, []

    def place(name, scheduler):
        try:
            results[name] = scheduler.select_destinations(
                spec_for(flavor(memory_mb=1024), 2))
        except Exception as exc:    # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=place, args=(n, s)) for n, s in
               (("first", first), ("second", second))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert both_hold_a_lock.broken is False
    retried = [r for r in caplog.records if "tried again" in r.getMessage()]
    assert len(retried) == 1 and "deadlocked" in retried[0].getMessage()
    with ctx.engine.connect() as conn:
        used = dict(conn.execute(sa.select(
            schema.compute_nodes.c.hypervisor_hostname,
            schema.compute_nodes.c.memory_mb_used)).all())
        placed = conn.execute(sa.select(sa.func.count()).select_from(
            schema.instances).where(schema.instances.c.host == "h1")
        ).scalar()
    assert placed == 4
    reserved = used["h1-n1"] + used["h1-n2"] - 4 * 1024
    assert reserved == 2 * hs_conf.CONF.reserved_host_memory_mb


GPU = dict(address="0000:81:00.0", vendor_id="10de", product_id="1eb8",
           numa_node=0, dev_type="type-PCI")


def test_a_failed_gpu_request_gives_every_device_back(ctx):
    """Issue 12's PCI leak: a two-instance GPU request whose second
    instance finds no host once left the first one's GPU taken on its
    node until the agent's next recount. The request's claims are one
    transaction now, so the node row (its PCI pools, NUMA topology and
    counters, every column) is exactly as before."""
    conf = scheduler_worker.capacity_conf(enabled_filters=[
        "ComputeFilter", "RamFilter", "CoreFilter", "DiskFilter",
        "PciPassthroughFilter"])
    driver = fake_driver.FakeDriver.uniform(
        1, prefix="gpu-n", vcpus=8, memory_mb=16384, local_gb=100,
        pci_devices=[GPU])
    agent_mod.ComputeAgent(ctx, driver, host="gpu").start()
    scheduler = scheduler_for(ctx, conf)
    uuids = [str(uuid.uuid4()), str(uuid.uuid4())]
    spec = request_spec.RequestSpec.from_components(
        uuids[0], flavor(memory_mb=1024), image={"id": str(uuid.uuid4())},
        project_id="p1", user_id="u1", num_instances=2,
        pci_requests=pci_obj.InstancePCIRequests(
            instance_uuid=uuids[0], requests=[pci_obj.InstancePCIRequest(
                count=1, alias_name="gpu",
                spec=[{"vendor_id": "10de", "product_id": "1eb8"}])]))
    before = snapshot(ctx.engine)
    with pytest.raises(exception.NoValidHost) as raised:
        scheduler.select_destinations(spec, uuids)
    assert "PciPassthroughFilter removed 1 of 1 hosts" in str(raised.value)
    assert snapshot(ctx.engine) == before
    [[chosen, *_]] = scheduler.select_destinations(
        spec, [str(uuid.uuid4())])
    assert chosen.nodename == "gpu-n1"
