"""Migration and MigrationList against SQLite, PostgreSQL and MariaDB."""
import pytest
import sqlalchemy as sa
from oslo_utils import uuidutils
from oslo_versionedobjects import exception as ovo_exception

from hoststate import context as hs_context
from hoststate import exception
from hoststate.db import api as db_api
from hoststate.db import schema
from hoststate.objects import migration as migration_obj
from hoststate.objects.migration import Migration, MigrationList

INSTANCE = "11111111-1111-1111-1111-111111111111"
OTHER_INSTANCE = "22222222-2222-2222-2222-222222222222"


@pytest.fixture
def instances(ctx):
    """Instance rows the migrations refer to (a foreign key needs them)."""
    with db_api.transaction(ctx) as conn:
        for uuid in (INSTANCE, OTHER_INSTANCE):
            db_api.insert_row(conn, schema.instances, {"uuid": uuid})
    return INSTANCE, OTHER_INSTANCE


def _rows(ctx):
    with ctx.engine.connect() as conn:
        return [r._mapping for r in conn.execute(
            sa.select(schema.migrations).order_by(schema.migrations.c.id))]


def _migration(ctx, **values):
    values = {"instance_uuid": INSTANCE, "source_compute": "src",
              "source_node": "src-node", "dest_compute": "dst",
              "dest_node": "dst-node", "status": "migrating",
              "migration_type": "migration", **values}
    migration = Migration(ctx, **values)
    migration.create()
    return migration


def _soft_delete(ctx, migration):
    with db_api.transaction(ctx) as conn:
        db_api.delete_row(conn, schema.migrations, migration.id)


# --- create and get --------------------------------------------------------

def test_create_then_get_returns_equal_objects(ctx, instances):
    created = _migration(ctx, dest_host="10.0.0.2", dest_compute_id=7,
                         old_instance_type_id=1, new_instance_type_id=2,
                         migration_type="resize", hidden=True,
                         cross_cell_move=True, user_id="u", project_id="p")

    by_id = Migration.get_by_id(ctx, created.id)
    by_uuid = Migration.get_by_uuid(ctx, created.uuid)

    assert by_id == created and by_uuid == created
    assert uuidutils.is_uuid_like(created.uuid)
    assert (by_id.dest_host, by_id.dest_compute_id, by_id.old_instance_type_id,
            by_id.new_instance_type_id, by_id.migration_type, by_id.hidden,
            by_id.cross_cell_move, by_id.user_id, by_id.project_id,
            by_id.deleted, by_id.deleted_at) == (
        "10.0.0.2", 7, 1, 2, "resize", True, True, "u", "p", False, None)
    assert by_id.created_at is not None and by_id.updated_at is None
    assert by_id.obj_what_changed() == set()
    assert by_id._context is ctx


def test_create_defaults_owner_from_context_and_flags_to_false(database,
                                                               instances):
    ctx = hs_context.RequestContext(engine=database.engine, user_id="alice",
                                    project_id="proj")
    created = _migration(ctx)

    loaded = Migration.get_by_id(ctx, created.id)
    assert (loaded.user_id, loaded.project_id) == ("alice", "proj")
    assert (loaded.hidden, loaded.cross_cell_move) == (False, False)


def test_create_requires_migration_type_and_writes_nothing(ctx, instances):
    migration = Migration(ctx, instance_uuid=INSTANCE, status="migrating")

    with pytest.raises(exception.ObjectActionError, match="migration_type"):
        migration.create()
    assert _rows(ctx) == []


def test_create_twice_is_refused(ctx, instances):
    migration = _migration(ctx)

    with pytest.raises(exception.ObjectActionError, match="already created"):
        migration.create()
    assert len(_rows(ctx)) == 1


def test_duplicate_uuid_raises_duplicate_record_and_writes_nothing(
        ctx, instances):
    first = _migration(ctx)

    with pytest.raises(exception.DuplicateRecord):
        _migration(ctx, uuid=first.uuid, status="pre-migrating")
    assert [r["status"] for r in _rows(ctx)] == ["migrating"]


def test_create_for_unknown_instance_raises_reference_not_found(ctx):
    with pytest.raises(exception.ReferenceNotFound):
        _migration(ctx, instance_uuid=uuidutils.generate_uuid())
    assert _rows(ctx) == []


def test_get_missing_raises_migration_not_found(ctx):
    with pytest.raises(exception.MigrationNotFound) as by_id:
        Migration.get_by_id(ctx, 42)
    with pytest.raises(exception.MigrationNotFound) as by_uuid:
        Migration.get_by_uuid(ctx, INSTANCE)
    assert by_id.value.key == 42 and by_uuid.value.key == INSTANCE


def test_row_without_migration_type_gets_a_derived_one(ctx, instances):
    with db_api.transaction(ctx) as conn:
        for old, new in ((1, 1), (1, 2)):
            db_api.insert_row(conn, schema.migrations, {
                "uuid": uuidutils.generate_uuid(), "instance_uuid": INSTANCE,
                "old_instance_type_id": old, "new_instance_type_id": new})

    loaded = MigrationList.get_all(ctx)
    assert [m.migration_type for m in loaded] == ["migration", "resize"]
    assert all(not m.obj_what_changed() for m in loaded)


# --- save ------------------------------------------------------------------

def test_save_writes_only_the_changed_fields(ctx, instances):
    mine = _migration(ctx)
    theirs = Migration.get_by_id(ctx, mine.id)
    theirs.dest_node = "other-node"
    theirs.save()

    mine.status = "post-migrating"
    mine.save()

    stored = Migration.get_by_id(ctx, mine.id)
    assert (stored.status, stored.dest_node) == ("post-migrating",
                                                 "other-node")
    assert mine.dest_node == "other-node"  # save reloads what is stored
    assert mine.updated_at is not None and not mine.obj_what_changed()


def test_save_without_changes_does_not_write(ctx, instances):
    migration = _migration(ctx)

    migration.save()

    assert _rows(ctx)[0]["updated_at"] is None


def test_save_of_soft_deleted_migration_raises_not_found(ctx, instances):
    migration = _migration(ctx)
    _soft_delete(ctx, migration)
    migration.status = "error"

    with pytest.raises(exception.MigrationNotFound):
        migration.save()
    assert _rows(ctx)[0]["status"] == "migrating"


# --- bad input -------------------------------------------------------------

@pytest.mark.parametrize("field, value", [
    ("migration_type", "teleport"),
    ("old_instance_type_id", "one"),
    ("status", ["migrating"]),
    ("dest_compute_id", {"id": 1}),
])
def test_bad_values_name_the_field_and_write_nothing(ctx, instances, field,
                                                     value):
    with pytest.raises(exception.ObjectFieldInvalid) as raised:
        _migration(ctx, **{field: value})
    assert (raised.value.objname, raised.value.field) == ("Migration", field)
    assert _rows(ctx) == []

    stored = _migration(ctx)
    before = _rows(ctx)
    with pytest.raises(exception.ObjectFieldInvalid):
        setattr(stored, field, value)
    stored.save()
    assert _rows(ctx) == before


def test_unknown_field_is_refused_and_nothing_written(ctx, instances):
    with pytest.raises(exception.UnknownObjectField) as raised:
        _migration(ctx, destination="dst")
    assert raised.value.field == "destination"
    assert _rows(ctx) == []


def test_remotable_method_without_context_is_orphaned():
    with pytest.raises(ovo_exception.OrphanedObjectError):
        Migration(instance_uuid=INSTANCE, migration_type="resize").create()


# --- soft delete and lists ------------------------------------------------

def test_soft_deleted_rows_are_hidden_unless_read_deleted(ctx, instances):
    kept, gone = _migration(ctx), _migration(ctx)
    _soft_delete(ctx, gone)

    with pytest.raises(exception.MigrationNotFound):
        Migration.get_by_uuid(ctx, gone.uuid)
    assert [m.id for m in MigrationList.get_all(ctx)] == [kept.id]

    seen = Migration.get_by_uuid(ctx.with_read_deleted("yes"), gone.uuid)
    assert seen.deleted is True and seen.deleted_at is not None
    assert [m.id for m in MigrationList.get_all(
        ctx.with_read_deleted("yes"))] == [kept.id, gone.id]
    assert [m.id for m in MigrationList.get_all(
        ctx.with_read_deleted("only"))] == [gone.id]


def test_get_by_instance_uuid(ctx, instances):
    first = _migration(ctx)
    _migration(ctx, instance_uuid=OTHER_INSTANCE)
    second = _migration(ctx, status="confirmed")

    found = MigrationList.get_by_instance_uuid(ctx, INSTANCE)

    assert [m.id for m in found] == [first.id, second.id]
    assert found._context is ctx and not found.obj_what_changed()
    assert list(MigrationList.get_by_instance_uuid(ctx, INSTANCE[::-1])) == []


# (status, source host/node, dest host/node, counted on host "h" node "n"?)
IN_PROGRESS_CASES = [
    ("migrating", ("h", "n"), ("x", "y"), True),      # outbound
    ("pre-migrating", ("x", "y"), ("h", "n"), True),  # inbound
    ("finished", ("h", "n"), ("h", "n"), True),       # same node, unconfirmed
    ("post-migrating", ("h", "other"), ("x", "y"), False),  # other node of h
    ("running", ("other", "n"), ("x", "y"), False),   # same name, other host
    ("running", ("h", "n"), ("x", "y"), True),
    ("accepted", ("h", "n"), ("x", "y"), False),
    ("confirmed", ("h", "n"), ("x", "y"), False),
    ("reverted", ("x", "y"), ("h", "n"), False),
    ("error", ("h", "n"), ("x", "y"), False),
    ("failed", ("h", "n"), ("x", "y"), False),
    ("completed", ("x", "y"), ("h", "n"), False),
    ("cancelled", ("h", "n"), ("x", "y"), False),
    ("done", ("h", "n"), ("x", "y"), False),
    (None, ("h", "n"), ("x", "y"), False),            # SQL NOT IN skips NULL
]


def test_in_progress_by_host_and_node(ctx, instances):
    expected = []
    for status, (src, src_node), (dst, dst_node), counted in IN_PROGRESS_CASES:
        migration = _migration(ctx, status=status, source_compute=src,
                               source_node=src_node, dest_compute=dst,
                               dest_node=dst_node)
        if counted:
            expected.append(migration.id)
    deleted = _migration(ctx, source_compute="h", source_node="n")
    _soft_delete(ctx, deleted)

    found = MigrationList.get_in_progress_by_host_and_node(ctx, "h", "n")

    assert [m.id for m in found] == expected
    assert all(migration_obj.is_in_progress(m.status) for m in found)


# --- helpers ---------------------------------------------------------------

@pytest.mark.parametrize("source, dest, same", [
    ("a", "a", True), ("a", "b", False), (None, "b", False)])
def test_is_same_host(source, dest, same):
    migration = Migration(source_compute=source, dest_compute=dest)
    assert migration.is_same_host() is same


def test_type_helpers():
    kinds = {t: Migration(migration_type=t)
             for t in migration_obj.MIGRATION_TYPES}
    assert kinds["live-migration"].is_live_migration
    assert kinds["resize"].is_resize and not kinds["migration"].is_resize
    assert kinds["evacuation"].is_evacuation


def test_in_progress_by_host_covers_every_node_of_the_host_at_either_end(ctx):
    from hoststate.objects import instance as instance_mod
    from hoststate.objects import migration as migration_mod
    instance = instance_mod.Instance(
        ctx, uuid="1e1d2c3b-4a59-4687-9a1b-2c3d4e5f6a7b", vm_state="active")
    instance.create()
    made = {}
    for name, source, dest, status in (
            ("out", "h1", "h2", "migrating"), ("in", "h3", "h1", "pre-migrating"),
            ("done", "h1", "h2", "confirmed"), ("other", "h2", "h3", "migrating")):
        migration = migration_mod.Migration(
            ctx, instance_uuid=instance.uuid, source_compute=source,
            source_node=f"{source}-n", dest_compute=dest, dest_node=f"{dest}-n",
            migration_type="migration", status=status)
        migration.create()
        made[name] = migration.id
    found = migration_mod.MigrationList.get_in_progress_by_host(ctx, "h1")
    assert sorted(m.id for m in found) == sorted([made["out"], made["in"]])
