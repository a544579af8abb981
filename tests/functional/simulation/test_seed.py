"""A pre-filled simulated cloud is written as its agents count it."""
import sqlalchemy as sa

from hoststate import conf as hs_conf
from hoststate import context as hs_context
from hoststate.db import engine as db_engine
from hoststate.db import migration
from hoststate.db import schema
from hoststate.simulation import cloud
from hoststate.simulation import fleet as fleet_mod
from hoststate.simulation import prefill
from hoststate.simulation import report
from hoststate.simulation import workload


def _nodes(engine):
    with engine.connect() as conn:
        return {row.host: row._asdict() for row in conn.execute(
            sa.select(schema.compute_nodes))}


def test_every_agent_finds_its_prefilled_node_as_it_counts_it(tmp_path):
    engine = db_engine.create_engine(f"sqlite:///{tmp_path}/seed.sqlite")
    migration.sync(engine)
    context = hs_context.get_admin_context(engine=engine)
    hosts = cloud.build_hosts(12, seed=4)
    fleet = fleet_mod.Fleet(context, hs_conf.CONF, hosts)
    count = fleet.seed(prefill=0.6, seed=4)
    seeded = _nodes(engine)
    for host in hosts:
        fleet.agent(host.host)          # starts: recounts its node
    assert _nodes(engine) == seeded     # nothing to correct: no write
    usage = report._instance_usage(context)
    assert sum(n for *_, n in usage.values()) == count > 12 * 5
    assert set(seeded) == {h.host for h in hosts}
    plain = {name for name, _ in prefill.plain_flavors()}
    with engine.connect() as conn:
        flavors = {row.flavor for row in conn.execute(
            sa.select(schema.instances.c.flavor))}
    assert all(any(f'"name": "{name}"' in text for name in plain)
               for text in flavors)
    assert report._overcommit(report._live_nodes(context), usage,
                              hs_conf.CONF)["usage_mismatched_nodes"] == 0
    engine.dispose()


def test_the_plan_keeps_each_node_within_its_share():
    hosts = cloud.build_hosts(50, seed=1)
    capacity = (192.0, 262144.0, 1800.0)      # a general-48 host
    room = {h.host: (capacity, (0, 0, 0)) for h in hosts}
    planned = list(prefill.plan(hosts, 0.5, lambda h: room[h.host], seed=1))
    sizes = {name: (vcpus, memory_mb, root_gb)
             for name, _, vcpus, memory_mb, root_gb, _ in
             workload.FLAVOR_MIX}
    shares = []
    for names in planned:
        used = [sum(sizes[n][i] for n in names) for i in range(3)]
        assert all(u <= prefill.PREFILL_MAX * c
                   for u, c in zip(used, capacity))
        shares.append(used[1] / capacity[1])
    assert 0.3 < sum(shares) / len(shares) < 0.6
    assert min(shares) < 0.35 and max(shares) > 0.6     # uneven, as meant
    assert list(prefill.plan(hosts, 0.0, lambda h: room[h.host])) == \
        [[]] * 50
