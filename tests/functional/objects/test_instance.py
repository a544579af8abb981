"""Instance and InstanceList against SQLite, PostgreSQL and MariaDB."""
import pytest
import sqlalchemy as sa
from oslo_serialization import jsonutils

from hoststate import exception
from hoststate.db import api as db_api
from hoststate.db import schema
from hoststate.objects import fields as hs_fields
from hoststate.objects.flavor import Flavor
from hoststate.objects.instance import Instance, InstanceList
from hoststate.objects.migration import Migration, MigrationList
from hoststate.objects.numa import InstanceNUMACell, InstanceNUMATopology
from hoststate.objects.pci import InstancePCIRequest, InstancePCIRequests

UUID = "1a1a1a1a-0000-0000-0000-000000000000"


def _rows(ctx):
    with ctx.engine.connect() as conn:
        return [r._mapping for r in conn.execute(
            sa.select(schema.instances).order_by(schema.instances.c.id))]


def _saved(obj):
    """``obj`` as loaded from the database: no pending changes."""
    obj.obj_reset_changes(recursive=True)
    return obj


def _flavor():
    return _saved(Flavor(id=1, flavorid="m1.small", name="m1.small",
                         memory_mb=2048, vcpus=2, root_gb=20, ephemeral_gb=1,
                         swap=512,
                         extra_specs={"hw:cpu_policy": "dedicated"}))


def _numa():
    return _saved(InstanceNUMATopology(instance_uuid=UUID, cells=[
        InstanceNUMACell(id=0, pcpuset={0, 1}, memory=2048,
                         cpu_pinning={0: 4, 1: 5}, cpu_policy="dedicated")]))


def _pci():
    return _saved(InstancePCIRequests(instance_uuid=UUID, requests=[
        InstancePCIRequest(count=1, spec=[{"vendor_id": "8086"}],
                           alias_name="nic")]))


def _instance(ctx, **values):
    values = {"host": "h1", "node": "n1", "vm_state": "active",
              "memory_mb": 2048, "vcpus": 2, "root_gb": 20,
              "ephemeral_gb": 1, **values}
    instance = Instance(ctx, **values)
    instance.create()
    return instance


# --- create and get --------------------------------------------------------

def test_create_then_get_returns_equal_objects(ctx):
    created = _instance(
        ctx, uuid=UUID, display_name="vm", project_id="p", user_id="u",
        compute_id=3, launched_on="h1", availability_zone="az1",
        task_state="spawning", power_state=1, instance_type_id=1,
        image_ref="img", os_type="linux", flavor=_flavor(),
        numa_topology=_numa(), pci_requests=_pci())

    loaded = Instance.get_by_uuid(ctx, UUID)

    assert loaded == created
    assert loaded.flavor == _flavor() and loaded.numa_topology == _numa()
    assert loaded.pci_requests == _pci()
    assert loaded.numa_topology.cells[0].cpu_pinning == {0: 4, 1: 5}
    assert (loaded.deleted, loaded.deleted_at, loaded.compute_id) == (
        False, None, 3)
    assert not loaded.obj_what_changed()
    assert not loaded.flavor.obj_what_changed()


def test_documents_are_stored_as_the_json_of_their_primitive(ctx):
    _instance(ctx, flavor=_flavor())

    (row,) = _rows(ctx)
    stored = jsonutils.loads(row["flavor"])
    assert stored["hoststate_object.name"] == "Flavor"
    assert stored["hoststate_object.data"]["vcpus"] == 2
    assert (row["numa_topology"], row["pci_requests"]) == (None, None)


def test_create_generates_a_uuid_and_refuses_a_second_create(ctx):
    instance = _instance(ctx)

    assert Instance.get_by_uuid(ctx, instance.uuid).id == instance.id
    with pytest.raises(exception.ObjectActionError, match="already created"):
        instance.create()
    assert len(_rows(ctx)) == 1


def test_duplicate_uuid_writes_nothing(ctx):
    _instance(ctx, uuid=UUID)
    before = _rows(ctx)

    with pytest.raises(exception.DuplicateRecord):
        _instance(ctx, uuid=UUID, host="h2")
    assert _rows(ctx) == before


def test_get_missing_raises_instance_not_found(ctx):
    with pytest.raises(exception.InstanceNotFound) as raised:
        Instance.get_by_uuid(ctx, UUID)
    assert raised.value.key == UUID


def test_document_from_a_newer_version_is_refused(ctx):
    primitive = jsonutils.loads(hs_fields.dump_json(_flavor()))
    primitive["hoststate_object.version"] = "1.99"
    text = jsonutils.dumps(primitive)
    with db_api.transaction(ctx) as conn:
        db_api.insert_row(conn, schema.instances, {"uuid": UUID,
                                                   "flavor": text})

    with pytest.raises(exception.IncompatibleObjectVersion):
        Instance.get_by_uuid(ctx, UUID)


# --- save ------------------------------------------------------------------

def test_save_writes_only_the_changed_fields(ctx):
    mine = _instance(ctx)
    theirs = Instance.get_by_uuid(ctx, mine.uuid)
    theirs.task_state = "resize_prep"
    theirs.save()

    mine.vm_state = "stopped"
    mine.save()

    stored = Instance.get_by_uuid(ctx, mine.uuid)
    assert (stored.vm_state, stored.task_state) == ("stopped", "resize_prep")
    assert mine == stored and not mine.obj_what_changed()


def test_save_without_changes_does_not_write(ctx):
    instance = _instance(ctx, flavor=_flavor())

    instance.save()

    assert _rows(ctx)[0]["updated_at"] is None


def test_save_writes_documents_changed_in_place_and_cleared(ctx):
    instance = _instance(ctx, flavor=_flavor(), numa_topology=_numa())
    instance.flavor.vcpus = 4
    instance.numa_topology = None

    instance.save()

    stored = Instance.get_by_uuid(ctx, instance.uuid)
    assert stored.flavor.vcpus == 4 and stored.numa_topology is None
    assert _rows(ctx)[0]["numa_topology"] is None


def test_save_of_a_destroyed_instance_raises_not_found(ctx):
    instance = _instance(ctx)
    Instance.get_by_uuid(ctx, instance.uuid).destroy()
    instance.vm_state = "error"

    with pytest.raises(exception.InstanceNotFound):
        instance.save()
    assert _rows(ctx)[0]["vm_state"] == "active"


# --- bad input -------------------------------------------------------------

@pytest.mark.parametrize("field, value", [
    ("vcpus", -1), ("memory_mb", -512), ("root_gb", -1), ("ephemeral_gb", -1),
    ("vcpus", "two"), ("power_state", "on"), ("host", ["h1"]),
    ("flavor", "m1.small"), ("numa_topology", Flavor(name="wrong")),
    ("pci_requests", {"requests": []}),
])
def test_bad_values_name_the_field_and_write_nothing(ctx, field, value):
    with pytest.raises(exception.ObjectFieldInvalid) as raised:
        _instance(ctx, **{field: value})
    assert (raised.value.objname, raised.value.field) == ("Instance", field)
    assert _rows(ctx) == []

    stored = _instance(ctx)
    before = _rows(ctx)
    with pytest.raises(exception.ObjectFieldInvalid):
        setattr(stored, field, value)
    stored.save()
    assert _rows(ctx) == before


def test_unknown_field_is_refused_and_nothing_written(ctx):
    with pytest.raises(exception.UnknownObjectField) as raised:
        _instance(ctx, hypervisor_hostname="n1")
    assert raised.value.field == "hypervisor_hostname"
    with pytest.raises(exception.UnknownObjectField):
        Instance(ctx).update({"vcpus": 1, "cores": 2})
    assert _rows(ctx) == []


# --- destroy ---------------------------------------------------------------

def test_destroy_soft_deletes_the_instance_and_its_migrations(ctx):
    instance, other = _instance(ctx), _instance(ctx)
    for owner in (instance, other):
        Migration(ctx, instance_uuid=owner.uuid, migration_type="resize",
                  status="migrating").create()

    instance.destroy()

    assert instance.deleted is True and instance.deleted_at is not None
    with pytest.raises(exception.InstanceNotFound):
        Instance.get_by_uuid(ctx, instance.uuid)
    assert Instance.get_by_uuid(ctx.with_read_deleted("yes"),
                                instance.uuid) == instance
    assert [m.instance_uuid for m in MigrationList.get_all(ctx)] == [
        other.uuid]
    with pytest.raises(exception.InstanceNotFound):
        instance.destroy()


def test_destroy_refuses_when_the_host_changed(ctx):
    instance = _instance(ctx)
    moved = Instance.get_by_uuid(ctx, instance.uuid)
    moved.host = "h2"
    moved.save()

    with pytest.raises(exception.ObjectActionError, match="destroy"):
        instance.destroy()
    assert Instance.get_by_uuid(ctx, instance.uuid).deleted is False


def test_destroy_of_an_uncreated_instance_is_refused(ctx):
    with pytest.raises(exception.ObjectActionError, match="not created"):
        Instance(ctx, uuid=UUID).destroy()


# --- lists -----------------------------------------------------------------

def test_lists_by_host_node_and_uuids(ctx):
    a = _instance(ctx, host="h1", node="n1")
    b = _instance(ctx, host="h1", node="n2")
    _instance(ctx, host="h2", node="n1")
    gone = _instance(ctx, host="h1", node="n1")
    gone.destroy()

    assert list(InstanceList.get_by_host(ctx, "h1")) == [a, b]
    found = InstanceList.get_by_host_and_node(ctx, "h1", "n1")
    assert list(found) == [a]
    assert found._context is ctx and not found.obj_what_changed()
    assert [i.id for i in InstanceList.get_by_host_and_node(
        ctx.with_read_deleted("yes"), "h1", "n1")] == [a.id, gone.id]
    assert list(InstanceList.get_by_uuids(
        ctx, [b.uuid, gone.uuid, a.uuid, UUID])) == [a, b]
    assert list(InstanceList.get_by_uuids(ctx, [])) == []


def test_migration_context_round_trips_and_is_dropped_for_1_0_peers(ctx):
    from hoststate.objects import flavor as flavor_mod
    from hoststate.objects import instance as instance_mod
    from hoststate.objects import migration_context as mc_mod

    def a_flavor(vcpus):
        return flavor_mod.Flavor(id=vcpus, flavorid=f"f{vcpus}",
                                 name=f"f{vcpus}", vcpus=vcpus, memory_mb=64)
    instance = instance_mod.Instance(
        ctx, uuid="0e1d2c3b-4a59-4687-9a1b-2c3d4e5f6a7b", vm_state="active",
        flavor=a_flavor(1))
    instance.create()
    instance.migration_context = mc_mod.MigrationContext(
        instance_uuid=instance.uuid, migration_id=7, old_flavor=a_flavor(1),
        new_flavor=a_flavor(2))
    instance.save()

    loaded = instance_mod.Instance.get_by_uuid(ctx, instance.uuid)
    data = loaded.obj_to_primitive(target_version="1.0")["hoststate_object.data"]

    assert (loaded.migration_context.migration_id,
            loaded.migration_context.old_flavor.vcpus,
            loaded.migration_context.new_flavor.vcpus) == (7, 1, 2)
    assert "migration_context" not in data
