"""Loading rows into objects without coercing them again (row_loading):
every value ends as the checked setter would leave it, and every value
the checked setter refuses is refused the same way."""
import datetime

import pytest

from hoststate import exception
from hoststate.objects import base
from hoststate.objects import compute_node as cn_obj
from hoststate.objects import instance as instance_obj
from hoststate.objects import row_loading

UUID = "0c5e2a9b-7d41-4f0e-9a3b-6e2d1c8f4b7a"
WHEN = datetime.datetime(2026, 12, 3, 12, 0, 0, 123456)


def _checked_load(obj, row, skip=()):
    """What loading did before: the checked setter, field by field."""
    for name in obj.fields:
        if name in skip or name not in row:
            continue
        value = row[name]
        if name == "deleted":
            value = bool(value)
        setattr(obj, name, value)
    obj.obj_reset_changes(recursive=True)
    return obj


def _fields(obj):
    return {k: v for k, v in obj.__dict__.items() if k.startswith("_obj_")}


INSTANCE_ROWS = [
    dict(id=7, uuid=UUID, host="h1", node="h1", compute_id=3, vcpus=2,
         memory_mb=4096, root_gb=40, ephemeral_gb=0, vm_state="active",
         task_state=None, created_at=WHEN, updated_at=None, deleted=0,
         deleted_at=None, project_id="p", display_name="caf\u00e9"),
    # not canonical: an upper-case uuid and a deleted row (id as marker)
    dict(id=8, uuid=UUID.upper(), deleted=8, deleted_at=WHEN, vcpus=0),
]


@pytest.mark.parametrize("row", INSTANCE_ROWS)
def test_an_instance_loads_as_the_checked_setter_loads_it(row):
    fast = base.load_row(instance_obj.Instance(), None, row)
    slow = _checked_load(instance_obj.Instance(), row)
    assert _fields(fast) == _fields(slow)
    assert fast.obj_what_changed() == set()


def test_datetimes_become_utc_as_ovo_makes_them():
    loaded = base.load_row(instance_obj.Instance(), None,
                           dict(created_at=WHEN))
    assert loaded.created_at == WHEN.replace(tzinfo=datetime.timezone.utc)
    assert loaded.created_at.tzinfo is not None


@pytest.mark.parametrize("column, value", [
    ("vcpus", -1),                  # below a NonNegativeIntegerField
    ("vcpus", 2 ** 31),             # above a 32-bit column
    ("host", "h" * 256),            # longer than the column
    ("host", "nul\x00"),            # NUL in text
    ("uuid", "not-a-uuid"),
    ("memory_mb", True),            # a boolean is not a number
])
def test_a_value_the_checked_setter_refuses_is_refused(column, value):
    with pytest.raises(exception.ObjectFieldInvalid) as caught:
        base.load_row(instance_obj.Instance(), None, {column: value})
    assert caught.value.kwargs["field"] == column


def test_a_read_only_field_that_differs_is_refused_as_before():
    node = cn_obj.ComputeNode(id=1)
    node.obj_reset_changes()
    with pytest.raises(Exception) as caught:
        base.load_row(node, None, {"id": 2})
    assert "id" in str(caught.value)
    base.load_row(node, None, {"id": 1})    # the same value is fine
    assert node.id == 1


@pytest.mark.parametrize("value, fast", [
    (5, True), (-5, True),          # compute_id: any 32-bit integer
    (2 ** 31, False), (5.0, False), (True, False), ("5", False),
    (None, True)])                  # nullable
def test_only_plain_values_take_the_fast_path(value, fast):
    check = row_loading.fast_check(
        instance_obj.Instance.fields["compute_id"])
    assert check(value) is (value if fast else row_loading.SLOW)


def test_a_non_nullable_none_takes_the_checked_path():
    check = row_loading.fast_check(cn_obj.ComputeNode.fields["vcpus"])
    assert check(None) is row_loading.SLOW
