"""Service persistence on SQLite, PostgreSQL and MariaDB."""
import datetime

import pytest
import sqlalchemy as sa

from hoststate import exception
from hoststate.db import schema
from hoststate.objects import service as service_obj


def _service(ctx, host="host1", binary=service_obj.COMPUTE_BINARY, **kwargs):
    kwargs.setdefault("topic", binary.rpartition("-")[2])
    service = service_obj.Service(ctx, host=host, binary=binary, **kwargs)
    service.create()
    return service


def _rows(ctx):
    with ctx.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(
            sa.select(schema.services).order_by(schema.services.c.id))]


def test_create_then_get_returns_the_stored_service(ctx):
    created = _service(ctx, disabled=True, disabled_reason="maintenance")

    loaded = service_obj.Service.get_by_host_and_binary(
        ctx, "host1", service_obj.COMPUTE_BINARY)

    assert (loaded.id, loaded.uuid, loaded.host, loaded.binary, loaded.topic) \
        == (created.id, created.uuid, "host1", "nova-compute", "compute")
    assert (loaded.report_count, loaded.disabled, loaded.disabled_reason,
            loaded.forced_down, loaded.version, loaded.generation,
            loaded.last_seen_up) == (0, True, "maintenance", False,
                                     service_obj.SERVICE_VERSION, 0, None)
    assert loaded.obj_what_changed() == set()


def test_duplicate_host_and_binary_is_a_named_error_and_writes_nothing(ctx):
    _service(ctx)
    with pytest.raises(exception.DuplicateRecord) as err:
        _service(ctx)
    assert err.value.table == "services"
    assert len(_rows(ctx)) == 1


def test_heartbeat_stamps_last_seen_up_only_when_report_count_grows(ctx):
    service = _service(ctx)
    assert service.last_seen_up is None

    service.report_count += 1
    service.save()
    first_beat = service.last_seen_up
    assert first_beat is not None
    assert service.generation == 1

    service.disabled = True          # an operator's action, not a heartbeat
    service.save()
    assert service.last_seen_up == first_beat
    assert service.generation == 2
    stored = service_obj.Service.get_by_id(ctx, service.id)
    assert (stored.disabled, stored.last_seen_up, stored.report_count) == \
        (True, first_beat, 1)


def test_save_after_a_concurrent_write_raises_and_overwrites_nothing(ctx):
    mine = _service(ctx)
    theirs = service_obj.Service.get_by_id(ctx, mine.id)
    theirs.disabled_reason = "theirs"
    theirs.save()

    mine.disabled_reason = "mine"
    with pytest.raises(exception.GenerationConflict) as err:
        mine.save()

    assert (err.value.table, err.value.row_id, err.value.seen_generation) == \
        ("services", mine.id, 0)
    assert service_obj.Service.get_by_id(ctx, mine.id).disabled_reason == "theirs"
    assert mine.disabled_reason == "mine"
    assert "disabled_reason" in mine.obj_what_changed()


def test_save_with_nothing_changed_does_not_write(ctx):
    service = _service(ctx)
    service.save()
    assert _rows(ctx)[0]["generation"] == 0
    assert _rows(ctx)[0]["updated_at"] is None


def test_destroy_soft_deletes_and_frees_the_unique_key(ctx):
    first = _service(ctx)
    first.destroy()

    with pytest.raises(exception.ServiceNotFound):
        service_obj.Service.get_by_id(ctx, first.id)
    gone = service_obj.Service.get_by_id(ctx.with_read_deleted("yes"), first.id)
    assert gone.deleted is True and gone.deleted_at is not None
    second = _service(ctx)          # same host and binary, allowed again
    assert [r["deleted"] for r in _rows(ctx)] == [first.id, 0]
    assert second.id != first.id


def test_get_by_compute_host_of_unknown_host_names_it(ctx):
    with pytest.raises(exception.ComputeHostNotFound) as err:
        service_obj.Service.get_by_compute_host(ctx, "nowhere")
    assert err.value.host == "nowhere"
    assert "nowhere" in str(err.value)


def test_list_queries_filter_by_binary_host_and_disabled(ctx):
    _service(ctx, host="a")
    _service(ctx, host="b", disabled=True)
    _service(ctx, host="a", binary="nova-scheduler")

    by_binary = service_obj.ServiceList.get_by_binary(ctx, "nova-compute")
    with_disabled = service_obj.ServiceList.get_by_binary(
        ctx, "nova-compute", include_disabled=True)
    on_a = service_obj.ServiceList.get_by_host(ctx, "a")
    disabled = service_obj.ServiceList.get_all(ctx, disabled=True)

    assert [s.host for s in by_binary] == ["a"]
    assert [s.host for s in with_disabled] == ["a", "b"]
    assert sorted(s.binary for s in on_a) == ["nova-compute", "nova-scheduler"]
    assert [s.host for s in disabled] == ["b"]


@pytest.mark.parametrize("field, value", [
    ("report_count", -1),
    ("disabled", "maybe"),
    ("host", None),
    ("last_seen_up", "not a time"),
])
def test_bad_field_value_is_rejected_before_anything_is_written(ctx, field, value):
    service = _service(ctx)
    with pytest.raises(exception.ObjectFieldInvalid) as err:
        setattr(service, field, value)
    assert (err.value.objname, err.value.field, err.value.value) == \
        ("Service", field, value)
    service.save()
    assert _rows(ctx)[0]["generation"] == 0


def test_unknown_field_is_rejected_and_nothing_is_created(ctx):
    with pytest.raises(exception.UnknownObjectField) as err:
        service_obj.Service(ctx, host="h", binary="b", colour="blue")
    assert err.value.field == "colour"
    assert _rows(ctx) == []


def test_backport_to_1_0_sends_heartbeat_time_as_updated_at():
    beat = datetime.datetime(2026, 11, 1, 12, 0, 5, tzinfo=datetime.timezone.utc)
    service = service_obj.Service(
        id=1, host="h", binary="nova-compute", report_count=3,
        last_seen_up=beat, forced_down=True, version=1,
        updated_at=datetime.datetime(2026, 11, 1, 13, 0, tzinfo=datetime.timezone.utc))

    data = service.obj_to_primitive(target_version="1.0")["hoststate_object.data"]

    assert data["updated_at"] == "2026-11-01T12:00:05Z"
    assert {"last_seen_up", "forced_down", "version"}.isdisjoint(data)


@pytest.mark.parametrize("target, dropped", [
    ("1.1", {"forced_down", "version"}),
    ("1.2", {"version"}),
    ("1.3", set()),
])
def test_backport_drops_fields_added_after_the_target(target, dropped):
    beat = datetime.datetime(2026, 11, 1, 12, 0, tzinfo=datetime.timezone.utc)
    service = service_obj.Service(id=1, host="h", binary="b", last_seen_up=beat,
                                  forced_down=False, version=1)
    data = service.obj_to_primitive(target_version=target)["hoststate_object.data"]
    assert dropped.isdisjoint(data)
    assert {"forced_down", "version"} - dropped <= set(data)
    assert data["last_seen_up"] == "2026-11-01T12:00:00Z"
