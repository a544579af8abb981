"""A cloud seeded with empty nodes beside filled ones (issue 14): an
empty node is written as its agent's first recount finds it (the stats
of no instances included), so the seeding takes both kinds in one
statement stream and no agent's start has anything to write."""
import sqlalchemy as sa

from hoststate import conf as hs_conf
from hoststate import context as hs_context
from hoststate.db import engine as db_engine
from hoststate.db import migration
from hoststate.db import schema
from hoststate.simulation import cloud
from hoststate.simulation import fleet as fleet_mod


def _nodes(engine):
    with engine.connect() as conn:
        nodes = schema.compute_nodes
        return {row.host: row._asdict() for row in conn.execute(
            sa.select(nodes).order_by(nodes.c.id))}


def test_empty_and_filled_nodes_are_seeded_as_their_agents_count_them(
        tmp_path):
    engine = db_engine.create_engine(f"sqlite:///{tmp_path}/seed.sqlite")
    migration.sync(engine)
    context = hs_context.get_admin_context(engine=engine)
    hosts = cloud.build_hosts(40, seed=3)
    fleet = fleet_mod.Fleet(context, hs_conf.CONF, hosts)
    # a share of 0.1: each node is filled to 0-40 %, some to nothing
    fleet.seed(prefill=0.1, seed=3)
    seeded = _nodes(engine)
    with engine.connect() as conn:
        busy = set(conn.execute(sa.select(schema.instances.c.host)).scalars())
    assert 0 < len(busy) < len(hosts)
    assert list(seeded) == [h.host for h in hosts]      # ids in host order
    for host in hosts:
        fleet.agent(host.host)          # starts: recounts its node
    assert _nodes(engine) == seeded     # nothing to correct: no write
    engine.dispose()
