"""0006 adds the ``cells`` table to a database as 0005 left it (a cloud
and its ledger in place), and takes it away again, on each backend."""
import pytest
import sqlalchemy as sa

from hoststate import context as hs_context
from hoststate import exception
from hoststate.cells import tree
from hoststate.db import migration

from ..test_migrations import _cloud_at_0002, _ledger


def _tables(engine):
    with engine.connect() as conn:
        return set(sa.inspect(conn).get_table_names())


def _unique_keys(engine):
    with engine.connect() as conn:
        return {(u["name"], tuple(u["column_names"])) for u in
                sa.inspect(conn).get_unique_constraints("cells")}


def test_0006_adds_the_cell_tree_beside_what_is_there(empty_database):
    engine = empty_database.engine
    migration.sync(engine, "0002")
    _cloud_at_0002(engine)
    migration.sync(engine, "0005")
    ledger = _ledger(engine)
    assert "cells" not in _tables(engine)

    assert migration.sync(engine, "0006") == "0006"

    assert "cells" in _tables(engine)
    assert ("uniq_cells0name_deleted", ("name", "deleted")) in \
        _unique_keys(engine)
    assert _ledger(engine) == ledger
    ctx = hs_context.get_admin_context(engine=engine)
    tree.add(ctx, "child1", "child", "local://", weight_offset=0.1)
    assert [(c.name, c.role, c.weight_offset) for c in
            tree.list_cells(ctx)] == [("child1", "child", 0.1)]


def test_0006_unique_key_allows_one_live_cell_of_a_name(empty_database):
    """The database's own rule, below the tree's check: a second live
    row of a name is refused, a soft-deleted one is not in the way."""
    engine = empty_database.engine
    migration.sync(engine, "0006")
    cells = sa.Table("cells", sa.MetaData(), autoload_with=engine)
    row = dict(name="child1", is_parent=False, transport_url="local://",
               weight_offset=0.0, weight_scale=1.0)
    with engine.begin() as conn:
        first = conn.execute(sa.insert(cells).values(**row)) \
            .inserted_primary_key[0]
        conn.execute(sa.update(cells).where(cells.c.id == first)
                     .values(deleted=first))
        conn.execute(sa.insert(cells).values(**row))
    with pytest.raises(sa.exc.IntegrityError):
        with engine.begin() as conn:
            conn.execute(sa.insert(cells).values(**row))


def test_0006_downgrades_with_cells_and_a_cloud_in_place(empty_database):
    engine = empty_database.engine
    migration.sync(engine, "0002")
    _cloud_at_0002(engine)
    migration.sync(engine, "0006")
    ctx = hs_context.get_admin_context(engine=engine)
    tree.add(ctx, "api", "parent", "local://")
    ledger = _ledger(engine)
    others = _tables(engine) - {"cells"}

    assert migration.downgrade(engine, "0005") == "0005"

    assert _tables(engine) == others
    assert _ledger(engine) == ledger
    assert migration.sync(engine, "0006") == "0006"
    assert tree.list_cells(ctx) == []       # the rows went with the table
    with pytest.raises(exception.CellNotFound):
        tree.remove(ctx, "api")
