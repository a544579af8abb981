"""Aggregate and AggregateList against SQLite, PostgreSQL and MariaDB."""
import pytest
import sqlalchemy as sa

from hoststate import exception
from hoststate.db import schema
from hoststate.objects.aggregate import Aggregate, AggregateList


def _rows(ctx, table):
    with ctx.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(
            sa.select(table).order_by(table.c.id))]


def _snapshot(ctx):
    return {t.name: _rows(ctx, t) for t in (
        schema.aggregates, schema.aggregate_hosts, schema.aggregate_metadata)}


def _aggregate(ctx, name="agg1", hosts=(), **metadata):
    aggregate = Aggregate(ctx, name=name, metadata=metadata)
    aggregate.create()
    for host in hosts:
        aggregate.add_host(host)
    return aggregate


# --- create and get --------------------------------------------------------

def test_create_then_get_returns_equal_objects(ctx):
    created = _aggregate(ctx, availability_zone="az1", ssd="true")

    by_id = Aggregate.get_by_id(ctx, created.id)
    by_uuid = Aggregate.get_by_uuid(ctx, created.uuid)

    assert by_id == created and by_uuid == created
    assert (by_id.name, by_id.hosts, by_id.metadata) == (
        "agg1", [], {"availability_zone": "az1", "ssd": "true"})
    assert by_id.created_at is not None and not by_id.obj_what_changed()


def test_availability_zone_is_derived_and_read_only(ctx):
    zoned, plain = _aggregate(ctx, availability_zone="az1"), _aggregate(
        ctx, name="plain")

    assert (zoned.availability_zone, plain.availability_zone) == ("az1", None)
    with pytest.raises(AttributeError):
        zoned.availability_zone = "az2"
    assert "availability_zone" not in zoned.obj_to_primitive()[
        "hoststate_object.data"]

    zoned.update_metadata({"availability_zone": "az2"})
    assert Aggregate.get_by_id(ctx, zoned.id).availability_zone == "az2"


@pytest.mark.parametrize("clash", ["name", "uuid"])
def test_duplicate_name_or_uuid_writes_nothing(ctx, clash):
    first = _aggregate(ctx, color="red")
    before = _snapshot(ctx)
    values = {"name": "agg1" if clash == "name" else "agg2",
              "metadata": {"color": "blue"}}
    if clash == "uuid":
        values["uuid"] = first.uuid

    with pytest.raises(exception.DuplicateRecord):
        Aggregate(ctx, **values).create()
    assert _snapshot(ctx) == before


def test_create_refuses_hosts_a_second_create_and_a_missing_name(ctx):
    with pytest.raises(exception.ObjectActionError, match="hosts"):
        Aggregate(ctx, name="a", hosts=["h1"]).create()
    with pytest.raises(exception.ObjectActionError, match="name"):
        Aggregate(ctx).create()
    created = _aggregate(ctx)
    with pytest.raises(exception.ObjectActionError, match="already created"):
        created.create()
    assert len(_rows(ctx, schema.aggregates)) == 1
    assert _rows(ctx, schema.aggregate_hosts) == []


def test_get_missing_raises_aggregate_not_found(ctx):
    with pytest.raises(exception.AggregateNotFound) as raised:
        Aggregate.get_by_id(ctx, 7)
    assert raised.value.key == 7
    with pytest.raises(exception.AggregateNotFound):
        Aggregate.get_by_uuid(ctx, "aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa")


# --- save and destroy ------------------------------------------------------

def test_save_renames_and_writes_nothing_when_unchanged(ctx):
    aggregate = _aggregate(ctx)
    aggregate.save()
    assert Aggregate.get_by_id(ctx, aggregate.id).updated_at is None

    aggregate.name = "renamed"
    aggregate.save()

    stored = Aggregate.get_by_id(ctx, aggregate.id)
    assert stored.name == "renamed" and stored.updated_at is not None
    assert not aggregate.obj_what_changed()


@pytest.mark.parametrize("field, value", [
    ("hosts", ["h1"]), ("metadata", {"k": "v"})])
def test_save_refuses_hosts_and_metadata(ctx, field, value):
    aggregate = _aggregate(ctx)
    before = _snapshot(ctx)
    setattr(aggregate, field, value)
    aggregate.name = "renamed"

    with pytest.raises(exception.ObjectActionError, match=field):
        aggregate.save()
    assert _snapshot(ctx) == before


def test_rename_to_an_existing_name_is_a_duplicate(ctx):
    _aggregate(ctx, name="taken")
    aggregate = _aggregate(ctx, name="mine")
    before = _snapshot(ctx)
    aggregate.name = "taken"

    with pytest.raises(exception.DuplicateRecord):
        aggregate.save()
    assert _snapshot(ctx) == before


def test_destroy_removes_hosts_and_metadata(ctx):
    aggregate = _aggregate(ctx, hosts=["h1", "h2"], k="v")
    other = _aggregate(ctx, name="other", hosts=["h1"], k="w")

    aggregate.destroy()

    with pytest.raises(exception.AggregateNotFound):
        Aggregate.get_by_id(ctx, aggregate.id)
    assert Aggregate.get_by_id(ctx, other.id) == other
    assert len(_rows(ctx, schema.aggregate_hosts)) == 1
    assert len(_rows(ctx, schema.aggregate_metadata)) == 1
    with pytest.raises(exception.AggregateNotFound):
        aggregate.destroy()
    with pytest.raises(exception.AggregateNotFound):
        aggregate.add_host("h3")
    with pytest.raises(exception.AggregateNotFound):
        aggregate.update_metadata({"k": "x"})


# --- hosts -----------------------------------------------------------------

def test_add_and_delete_hosts(ctx):
    aggregate = _aggregate(ctx, hosts=["h1", "h2"])
    assert aggregate.hosts == ["h1", "h2"]
    assert not aggregate.obj_what_changed()

    aggregate.delete_host("h1")

    assert aggregate.hosts == ["h2"]
    assert Aggregate.get_by_id(ctx, aggregate.id).hosts == ["h2"]


def test_adding_a_member_twice_is_a_duplicate(ctx):
    aggregate = _aggregate(ctx, hosts=["h1"])

    with pytest.raises(exception.DuplicateRecord):
        aggregate.add_host("h1")
    assert aggregate.hosts == ["h1"]
    assert len(_rows(ctx, schema.aggregate_hosts)) == 1


def test_deleting_a_non_member_raises_aggregate_host_not_found(ctx):
    aggregate = _aggregate(ctx, hosts=["h1"])

    with pytest.raises(exception.AggregateHostNotFound) as raised:
        aggregate.delete_host("h9")
    assert (raised.value.aggregate_id, raised.value.host) == (aggregate.id,
                                                              "h9")
    assert Aggregate.get_by_id(ctx, aggregate.id).hosts == ["h1"]


def test_add_host_reloads_members_added_elsewhere(ctx):
    mine = _aggregate(ctx)
    Aggregate.get_by_id(ctx, mine.id).add_host("theirs")

    mine.add_host("mine")

    assert mine.hosts == ["theirs", "mine"]


# --- metadata --------------------------------------------------------------

def test_update_metadata_sets_changes_and_deletes_keys(ctx):
    aggregate = _aggregate(ctx, keep="1", change="old", drop="x")

    aggregate.update_metadata({"change": "new", "drop": None, "add": 5,
                               "never_there": None})

    expected = {"keep": "1", "change": "new", "add": "5"}
    assert aggregate.metadata == expected
    assert not aggregate.obj_what_changed()
    assert Aggregate.get_by_id(ctx, aggregate.id).metadata == expected


def test_metadata_updates_of_two_writers_do_not_clobber(ctx):
    mine = _aggregate(ctx)
    theirs = Aggregate.get_by_id(ctx, mine.id)

    theirs.update_metadata({"a": "1"})
    mine.update_metadata({"b": "2"})

    assert mine.metadata == {"a": "1", "b": "2"}
    assert Aggregate.get_by_id(ctx, mine.id).metadata == {"a": "1", "b": "2"}


@pytest.mark.parametrize("updates", [
    {"good": "v", "bad": ["list"]},
    {"good": "v", 3: "int key"},
    {"good": "v", "": "empty key"},
    {"good": "v", "long": "x" * 256},
    {"good": "v", "k" * 256: "long key"},
    ["not", "a", "dict"],
])
def test_bad_metadata_names_the_field_and_writes_nothing(ctx, updates):
    aggregate = _aggregate(ctx, good="old")
    before = _snapshot(ctx)

    with pytest.raises(exception.ObjectFieldInvalid) as raised:
        aggregate.update_metadata(updates)
    assert (raised.value.objname, raised.value.field) == (
        "Aggregate", "metadata")
    assert _snapshot(ctx) == before and aggregate.metadata == {"good": "old"}


def test_bad_values_at_create_write_nothing(ctx):
    with pytest.raises(exception.ObjectFieldInvalid) as raised:
        Aggregate(ctx, name=["a"])
    assert raised.value.field == "name"
    with pytest.raises(exception.ObjectFieldInvalid) as raised:
        Aggregate(ctx, name="a", metadata={"k": ["v"]})
    assert raised.value.field == "metadata"
    with pytest.raises(exception.ObjectFieldInvalid):
        Aggregate(ctx, name="a", metadata={"k": "v" * 256}).create()
    with pytest.raises(exception.UnknownObjectField) as raised:
        Aggregate(ctx, name="a", zone="az1")
    assert raised.value.field == "zone"
    assert _snapshot(ctx) == {"aggregates": [], "aggregate_hosts": [],
                              "aggregate_metadata": []}


# --- lists -----------------------------------------------------------------

@pytest.fixture
def three(ctx):
    """a: h1,h2 az=az1 | b: h2 ssd | c: no hosts, az=az2."""
    return (_aggregate(ctx, "a", ["h1", "h2"], availability_zone="az1"),
            _aggregate(ctx, "b", ["h2"], ssd="true"),
            _aggregate(ctx, "c", availability_zone="az2"))


def _names(aggregates):
    return [a.name for a in aggregates]


def test_get_all(ctx, three):
    found = AggregateList.get_all(ctx)

    assert list(found) == list(three)
    assert found._context is ctx and not found.obj_what_changed()


def test_get_by_host(ctx, three):
    assert _names(AggregateList.get_by_host(ctx, "h2")) == ["a", "b"]
    assert _names(AggregateList.get_by_host(ctx, "h1")) == ["a"]
    assert _names(AggregateList.get_by_host(
        ctx, "h2", key="availability_zone")) == ["a"]
    assert _names(AggregateList.get_by_host(ctx, "h1", key="ssd")) == []
    assert _names(AggregateList.get_by_host(ctx, "nowhere")) == []


def test_get_by_metadata_key(ctx, three):
    found = AggregateList.get_by_metadata_key(ctx, "availability_zone")

    assert _names(found) == ["a", "c"]
    assert [a.availability_zone for a in found] == ["az1", "az2"]
    assert _names(AggregateList.get_by_metadata_key(
        ctx, "availability_zone", hosts=["h2", "h9"])) == ["a"]
    assert _names(AggregateList.get_by_metadata_key(ctx, "gpu")) == []
