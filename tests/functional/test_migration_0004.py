"""0004 adds the node trait columns to a database as 0003 left it (nodes,
instances and their ledger rows in place), and takes them away again."""
import sqlalchemy as sa

from hoststate import context as hs_context
from hoststate.db import migration
from hoststate.objects import compute_node as cn_obj

from .test_migrations import NODE_A, NODE_B, _cloud_at_0002, _ledger

TRAIT_COLUMNS = {"driver_traits", "operator_traits"}


def _columns(engine):
    with engine.connect() as conn:
        return {c["name"] for c in
                sa.inspect(conn).get_columns("compute_nodes")}


def test_0004_adds_trait_columns_that_existing_nodes_read_as_none(
        empty_database):
    engine = empty_database.engine
    migration.sync(engine, "0002")
    _cloud_at_0002(engine)
    migration.sync(engine, "0003")
    assert not TRAIT_COLUMNS & _columns(engine)

    assert migration.sync(engine, "0004") == "0004"

    assert TRAIT_COLUMNS <= _columns(engine)
    ctx = hs_context.get_admin_context(engine=engine)
    nodes = cn_obj.ComputeNodeList.get_all(ctx)
    assert sorted((n.hypervisor_hostname, n.driver_traits, n.operator_traits)
                  for n in nodes) == [(NODE_A, [], []), (NODE_B, [], [])]


def test_0004_downgrades_with_nodes_and_ledger_in_place(empty_database):
    engine = empty_database.engine
    migration.sync(engine, "0002")
    _cloud_at_0002(engine)
    migration.sync(engine)
    ctx = hs_context.get_admin_context(engine=engine)
    cn_obj.ComputeNodeList.update_operator_traits(ctx, "compute1",
                                                  added=["CUSTOM_X"])
    ledger = _ledger(engine)

    assert migration.downgrade(engine, "0003") == "0003"

    assert not TRAIT_COLUMNS & _columns(engine)
    assert _ledger(engine) == ledger           # the ledger rows stay
    assert migration.sync(engine, "0004") == "0004"
    assert [n.operator_traits for n in cn_obj.ComputeNodeList.get_all(ctx)] \
        == [[], []]
