"""Cell and host mappings and their lists on SQLite, PostgreSQL, MariaDB."""
import pytest
import sqlalchemy as sa

from hoststate import exception
from hoststate.db import schema
from hoststate.objects import cell_mapping as cell_obj
from hoststate.objects.cell_mapping import (CellMapping, CellMappingList,
                                            HostMapping, HostMappingList)

CELL1 = "c1c1c1c1-0000-0000-0000-000000000000"


def _rows(ctx, table):
    with ctx.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(
            sa.select(table).order_by(table.c.id))]


def _cell(ctx, name="cell1", **values):
    cell = CellMapping(ctx, **{
        "name": name, "transport_url": f"rabbit://mq/{name}",
        "database_connection": f"mysql+pymysql://db/{name}", **values})
    cell.create()
    return cell


def _host(ctx, host, cell):
    mapping = HostMapping(ctx, host=host, cell_mapping=cell)
    mapping.create()
    return mapping


# --- CellMapping -----------------------------------------------------------

def test_create_then_get_returns_equal_objects(ctx):
    created = _cell(ctx, uuid=CELL1, disabled=True)

    loaded = CellMapping.get_by_uuid(ctx, CELL1)

    assert loaded == created
    assert (loaded.name, loaded.transport_url, loaded.database_connection,
            loaded.disabled) == ("cell1", "rabbit://mq/cell1",
                                 "mysql+pymysql://db/cell1", True)
    assert loaded.created_at is not None and not loaded.obj_what_changed()


def test_create_generates_a_uuid_and_defaults_disabled(ctx):
    cell = CellMapping(ctx)
    cell.create()

    loaded = CellMapping.get_by_uuid(ctx, cell.uuid)
    assert (loaded.name, loaded.transport_url, loaded.disabled) == (
        None, None, False)
    with pytest.raises(exception.ObjectActionError, match="already created"):
        cell.create()


def test_duplicate_uuid_writes_nothing(ctx):
    _cell(ctx, uuid=CELL1)
    before = _rows(ctx, schema.cell_mappings)

    with pytest.raises(exception.DuplicateRecord):
        _cell(ctx, name="other", uuid=CELL1)
    assert _rows(ctx, schema.cell_mappings) == before


def test_get_missing_raises_cell_mapping_not_found(ctx):
    with pytest.raises(exception.CellMappingNotFound) as raised:
        CellMapping.get_by_uuid(ctx, CELL1)
    assert raised.value.key == CELL1


def test_save_writes_only_the_changed_fields(ctx):
    mine = _cell(ctx)
    theirs = CellMapping.get_by_uuid(ctx, mine.uuid)
    theirs.transport_url = "rabbit://elsewhere"
    theirs.save()
    mine.save()
    assert CellMapping.get_by_uuid(ctx, mine.uuid).updated_at is not None

    mine.disabled = True
    mine.save()

    stored = CellMapping.get_by_uuid(ctx, mine.uuid)
    assert (stored.disabled, stored.transport_url) == (
        True, "rabbit://elsewhere")
    assert mine == stored


def test_save_without_changes_does_not_write(ctx):
    cell = _cell(ctx)

    cell.save()

    assert CellMapping.get_by_uuid(ctx, cell.uuid).updated_at is None


def test_destroy_removes_the_cell_and_its_host_mappings(ctx):
    cell, other = _cell(ctx), _cell(ctx, name="cell2")
    _host(ctx, "h1", cell)
    kept = _host(ctx, "h2", other)

    cell.destroy()

    with pytest.raises(exception.CellMappingNotFound):
        CellMapping.get_by_uuid(ctx, cell.uuid)
    with pytest.raises(exception.HostMappingNotFound):
        HostMapping.get_by_host(ctx, "h1")
    assert HostMapping.get_by_host(ctx, "h2") == kept
    with pytest.raises(exception.CellMappingNotFound):
        cell.destroy()
    cell.name = "gone"
    with pytest.raises(exception.CellMappingNotFound):
        cell.save()


@pytest.mark.parametrize("field, value", [
    ("name", ["cell"]), ("transport_url", {"a": 1}),
    ("database_connection", object())])
def test_bad_values_name_the_field_and_write_nothing(ctx, field, value):
    with pytest.raises(exception.ObjectFieldInvalid) as raised:
        _cell(ctx, **{field: value})
    assert (raised.value.objname, raised.value.field) == ("CellMapping", field)
    with pytest.raises(exception.UnknownObjectField):
        _cell(ctx, db_url="sqlite://")
    assert _rows(ctx, schema.cell_mappings) == []


def test_is_cell0_and_identity():
    cell0 = CellMapping(uuid=cell_obj.CELL0_UUID, name="cell0")
    cell1 = CellMapping(uuid=CELL1)

    assert cell0.is_cell0() and not cell1.is_cell0()
    assert not CellMapping().is_cell0()
    assert cell0.identity == f"{cell_obj.CELL0_UUID}(cell0)"
    assert cell1.identity == CELL1


def test_cell_list_get_all(ctx):
    cells = [_cell(ctx, uuid=cell_obj.CELL0_UUID, name="cell0"),
             _cell(ctx, name="cell1")]

    found = CellMappingList.get_all(ctx)

    assert list(found) == cells
    assert found._context is ctx and not found.obj_what_changed()


# --- HostMapping -----------------------------------------------------------

def test_host_mapping_create_then_get(ctx):
    cell = _cell(ctx)

    created = _host(ctx, "h1", cell)
    loaded = HostMapping.get_by_host(ctx, "h1")

    assert loaded == created
    assert loaded.cell_mapping == cell and loaded.host == "h1"
    assert not loaded.obj_what_changed()
    assert _rows(ctx, schema.host_mappings)[0][1] == cell.id  # cell_id


def test_host_mapping_duplicate_host_writes_nothing(ctx):
    first, second = _cell(ctx), _cell(ctx, name="cell2")
    _host(ctx, "h1", first)
    before = _rows(ctx, schema.host_mappings)

    with pytest.raises(exception.DuplicateRecord):
        _host(ctx, "h1", second)
    assert _rows(ctx, schema.host_mappings) == before


def test_host_mapping_needs_a_created_cell(ctx):
    with pytest.raises(exception.ObjectActionError, match="cell_mapping"):
        HostMapping(ctx, host="h1").create()
    with pytest.raises(exception.ObjectActionError, match="not created"):
        _host(ctx, "h1", CellMapping(uuid=CELL1))
    with pytest.raises(exception.ReferenceNotFound):
        _host(ctx, "h1", CellMapping(id=99, uuid=CELL1))
    with pytest.raises(exception.ObjectFieldInvalid) as raised:
        HostMapping(ctx, host="h1", cell_mapping="cell1")
    assert raised.value.field == "cell_mapping"
    assert _rows(ctx, schema.host_mappings) == []


def test_host_mapping_get_missing(ctx):
    with pytest.raises(exception.HostMappingNotFound) as raised:
        HostMapping.get_by_host(ctx, "nowhere")
    assert raised.value.host == "nowhere"


def test_host_mapping_save_moves_the_host_to_another_cell(ctx):
    first, second = _cell(ctx), _cell(ctx, name="cell2")
    mapping = _host(ctx, "h1", first)
    mapping.save()
    assert HostMapping.get_by_host(ctx, "h1").updated_at is None

    mapping.cell_mapping = second
    mapping.save()

    loaded = HostMapping.get_by_host(ctx, "h1")
    assert loaded.cell_mapping.uuid == second.uuid and loaded == mapping
    assert loaded.updated_at is not None


def test_host_mapping_destroy(ctx):
    mapping = _host(ctx, "h1", _cell(ctx))

    mapping.destroy()

    with pytest.raises(exception.HostMappingNotFound):
        HostMapping.get_by_host(ctx, "h1")
    with pytest.raises(exception.HostMappingNotFound):
        mapping.destroy()
    mapping.host = "h2"
    with pytest.raises(exception.HostMappingNotFound):
        mapping.save()


def test_host_mapping_list_by_cell_id(ctx):
    first, second = _cell(ctx), _cell(ctx, name="cell2")
    h1, _, h3 = (_host(ctx, "h1", first), _host(ctx, "h2", second),
                 _host(ctx, "h3", first))

    found = HostMappingList.get_by_cell_id(ctx, first.id)

    assert list(found) == [h1, h3]
    assert all(m.cell_mapping == first for m in found)
    assert list(HostMappingList.get_by_cell_id(ctx, 999)) == []
