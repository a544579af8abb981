"""Instance sync between cells, the database ends, on each backend: a
child's feed of changes (cells.instance_feed) and the top's store of
them (cells.instance_store)."""
import datetime
import threading
import uuid as uuid_lib

import pytest
import sqlalchemy as sa

from hoststate import exception
from hoststate.cells import instance_feed
from hoststate.cells import instance_store
from hoststate.db import api as db_api
from hoststate.db import schema

from support.databases import snapshot

#: in the past of any run: a server-stamped deletion comes after it
T0 = datetime.datetime(2026, 1, 2, 10, 0, 0, 123456)
SIZES = dict(vcpus=2, memory_mb=2048, root_gb=20, ephemeral_gb=0)
C1, C2 = "api!child1", "api!child2"


def _uuid(name):
    return str(uuid_lib.uuid5(uuid_lib.NAMESPACE_URL, name))


def _at(seconds):
    return T0 + datetime.timedelta(seconds=seconds)


def _instance(ctx, name, created_at, updated_at=None, **values):
    """An instance row of the child's database with the stamps given."""
    columns = dict(uuid=_uuid(name), host="host1", node="node1",
                   vm_state="active", project_id="p1",
                   created_at=created_at, updated_at=updated_at, **SIZES)
    columns.update(values)
    with db_api.transaction(ctx) as conn:
        return db_api.insert_row(conn, schema.instances, columns)["id"]


def _sent(name, seconds, deleted=False, **values):
    """A row as the feed sends it."""
    row = dict(uuid=_uuid(name), host="host1", node="node1",
               vm_state="active", task_state=None, project_id="p1",
               deleted=deleted, changed_at=instance_feed.iso(_at(seconds)),
               **SIZES)
    row.update(values)
    return row


def _counts(stored=0, unchanged=0, refused=0, conflicts=()):
    return {"stored": stored, "unchanged": unchanged, "refused": refused,
            "conflicts": list(conflicts)}


def _held(ctx, name):
    """(cell path, vm_state, changed_at, deleted) stored for ``name``."""
    table = schema.cell_instances
    with ctx.engine.connect() as conn:
        row = conn.execute(sa.select(table).where(
            table.c.uuid == _uuid(name))).one()
    return row.cell_path, row.vm_state, row.changed_at, row.deleted != 0


# --- the child's feed ------------------------------------------------------------

def test_pages_of_equal_stamps_lose_and_repeat_nothing(ctx):
    # five rows stamped alike, one earlier and one later: by (stamp, id)
    ids = [_instance(ctx, f"same{n}", _at(0), _at(5)) for n in range(5)]
    early = _instance(ctx, "early", _at(1))              # created only
    late = _instance(ctx, "late", _at(0), _at(6))
    pages, cursor = [], None
    while True:
        rows, cursor = instance_feed.changes_since(ctx, cursor, 2)
        pages.append([row["uuid"] for row in rows])
        if len(rows) < 2:
            break
    assert pages == [[_uuid("early"), _uuid("same0")],
                     [_uuid("same1"), _uuid("same2")],
                     [_uuid("same3"), _uuid("same4")],
                     [_uuid("late")]]
    assert cursor == f"{instance_feed.iso(_at(6))}/{late}"
    # nothing after the last row: the cursor comes back as it went
    assert instance_feed.changes_since(ctx, cursor, 2) == ([], cursor)
    # ordered by stamp first: "early" was inserted after the five
    assert early > max(ids)


def test_a_row_is_a_plain_dict_stamped_as_the_query_orders(ctx):
    _instance(ctx, "one", _at(0), _at(3), task_state="spawning")
    rows, _ = instance_feed.changes_since(ctx, None, 10)
    assert rows == [dict(uuid=_uuid("one"), host="host1", node="node1",
                         vm_state="active", task_state="spawning",
                         vcpus=2, memory_mb=2048, root_gb=20, ephemeral_gb=0,
                         project_id="p1", deleted=False,
                         changed_at="2026-01-02T10:00:03.123456")]


def test_a_time_watermark_reads_from_that_stamp_on(ctx):
    _instance(ctx, "before", _at(0), _at(1))
    _instance(ctx, "at", _at(0), _at(2))
    _instance(ctx, "after", _at(3))
    for watermark in (_at(2), instance_feed.iso(_at(2)),
                      "2026-01-02T12:00:02.123456+02:00"):
        rows, _ = instance_feed.changes_since(ctx, watermark, 10)
        assert [row["uuid"] for row in rows] == [_uuid("at"), _uuid("after")]


def test_deleted_instances_come_with_their_deletion_stamp(ctx):
    row_id = _instance(ctx, "gone", _at(0), _at(1))
    with db_api.transaction(ctx) as conn:
        db_api.delete_row(conn, schema.instances, row_id)
    with ctx.engine.connect() as conn:
        deleted_at = conn.execute(sa.select(schema.instances.c.deleted_at)
                                  ).scalar_one()
    # the soft delete kept updated_at; the stamp is deleted_at
    rows, _ = instance_feed.changes_since(ctx, _at(2), 10)
    assert [(r["uuid"], r["deleted"], r["changed_at"]) for r in rows] == [
        (_uuid("gone"), True, instance_feed.iso(deleted_at))]


def test_a_late_commit_with_an_earlier_stamp_is_read_after_rewinding(ctx):
    _instance(ctx, "first", _at(0), _at(10))
    rows, cursor = instance_feed.changes_since(ctx, None, 10)
    assert [r["uuid"] for r in rows] == [_uuid("first")]
    # committed after the read, stamped 3 s before what was read
    _instance(ctx, "late", _at(0), _at(7))
    assert instance_feed.changes_since(ctx, cursor, 10)[0] == []
    start = instance_feed.rewound(cursor)
    assert start == _at(10 - instance_feed.OVERLAP_S)
    rows, _ = instance_feed.changes_since(ctx, start, 10)
    assert [r["uuid"] for r in rows] == [_uuid("late"), _uuid("first")]


@pytest.mark.parametrize("watermark,limit,name", [
    ("yesterday", 10, "watermark"),
    ("2026-01-02T10:00:00/x", 10, "watermark"),
    (12, 10, "watermark"),
    (None, 0, "limit"),
    (None, instance_feed.MAX_LIMIT + 1, "limit"),
    (None, True, "limit"),
])
def test_a_bad_watermark_or_limit_is_refused_by_name(ctx, watermark, limit,
                                                     name):
    with pytest.raises(exception.InvalidArgument) as err:
        instance_feed.changes_since(ctx, watermark, limit)
    assert err.value.name == name
    assert err.value.value == (watermark if name == "watermark" else limit)


# --- the top's store -----------------------------------------------------------------

def test_applying_the_same_rows_again_changes_nothing(ctx):
    rows = [_sent("a", 1), _sent("b", 2, deleted=True)]
    assert instance_store.apply_changes(ctx, C1, rows) == _counts(stored=2)
    before = snapshot(ctx.engine)
    assert instance_store.apply_changes(ctx, C1, rows) == \
        _counts(unchanged=2)
    assert snapshot(ctx.engine) == before
    assert instance_store.list_instances(ctx) == [dict(
        uuid=_uuid("a"), cell_path=C1, host="host1", node="node1",
        vm_state="active", task_state=None, project_id="p1",
        changed_at=instance_feed.iso(_at(1)), **SIZES)]
    assert _held(ctx, "b") == (C1, "active", _at(2), True)
    assert instance_store.watermark_of(ctx, C1) == _at(2)


def test_an_older_row_never_overwrites_a_newer_one(ctx):
    assert instance_store.apply_changes(ctx, C1, [
        _sent("a", 5, vm_state="stopped")]) == _counts(stored=1)
    assert instance_store.apply_changes(ctx, C1, [
        _sent("a", 4, vm_state="active")]) == _counts(unchanged=1)
    assert _held(ctx, "a") == (C1, "stopped", _at(5), False)
    # in one call, in any order: the newest wins
    assert instance_store.apply_changes(ctx, C1, [
        _sent("a", 7, vm_state="paused"), _sent("a", 6, vm_state="active")]
    ) == _counts(stored=2)
    assert _held(ctx, "a") == (C1, "paused", _at(7), False)


def test_a_deletion_is_final_in_its_cell(ctx):
    instance_store.apply_changes(ctx, C1, [_sent("a", 5, deleted=True)])
    assert instance_store.apply_changes(ctx, C1, [_sent("a", 9)]) == \
        _counts(unchanged=1)
    assert _held(ctx, "a") == (C1, "active", _at(5), True)
    assert instance_store.owner_of(ctx, _uuid("a")) is None


def test_an_instance_another_cell_holds_is_a_conflict_not_stored(ctx):
    instance_store.apply_changes(ctx, C1, [_sent("a", 1)])
    before = snapshot(ctx.engine)
    result = instance_store.apply_changes(ctx, C2, [_sent("a", 9),
                                                    _sent("b", 9)])
    assert result == _counts(stored=1, refused=1, conflicts=[_uuid("a")])
    assert _held(ctx, "a") == (C1, "active", _at(1), False)
    # the sender deletes its copy and says so: refused, no new conflict
    assert instance_store.apply_changes(ctx, C2, [
        _sent("a", 10, deleted=True)]) == _counts(refused=1)
    assert snapshot(ctx.engine)["cell_instances"][0] == \
        before["cell_instances"][0]


def test_an_instance_deleted_in_its_cell_goes_to_the_cell_reporting_it(ctx):
    instance_store.apply_changes(ctx, C1, [_sent("a", 5, deleted=True)])
    assert instance_store.apply_changes(ctx, C2, [_sent("a", 1)]) == \
        _counts(stored=1)
    assert _held(ctx, "a") == (C2, "active", _at(1), False)
    assert instance_store.owner_of(ctx, _uuid("a")) == C2


def test_record_and_move_forward_compare_and_swap_the_holder(ctx):
    a = _uuid("a")
    assert instance_store.record_forward(ctx, a, C1, SIZES, "p1") is True
    assert instance_store.record_forward(ctx, a, C1, SIZES, "p1") is True
    assert instance_store.record_forward(ctx, a, C2, SIZES, "p1") is False
    assert _held(ctx, "a") == (C1, "building", None, False)
    assert instance_store.owner_of(ctx, a) == C1

    assert instance_store.move_forward(ctx, a, C1, C2) is True
    assert instance_store.move_forward(ctx, a, C1, "api!child3") is False
    assert instance_store.owner_of(ctx, a) == C2
    # the first child answers late: a conflict; the second reports
    assert instance_store.apply_changes(ctx, C1, [_sent("a", 1)]) == \
        _counts(refused=1, conflicts=[a])
    assert instance_store.apply_changes(ctx, C2, [_sent("a", 2)]) == \
        _counts(stored=1)
    # once a child has reported, it holds the build
    assert instance_store.move_forward(ctx, a, C2, C1) is False
    assert instance_store.forward_failed(ctx, a) is False
    assert instance_store.owner_of(ctx, a) == C2


def test_a_build_handed_to_a_child_may_be_reported_by_a_cell_below_it(ctx):
    """The top records the child it forwards to; the child may descend:
    a report from below that child takes the build (its exact path),
    one from beside it does not."""
    a = _uuid("a")
    instance_store.record_forward(ctx, a, C1, SIZES, "p1")
    assert instance_store.apply_changes(ctx, "api!child10", [
        _sent("a", 1)]) == _counts(refused=1, conflicts=[a])
    assert instance_store.apply_changes(ctx, C1 + "!g1", [
        _sent("a", 2)]) == _counts(stored=1)
    assert instance_store.owner_of(ctx, a) == C1 + "!g1"
    # reported: now only that cell's changes count
    assert instance_store.apply_changes(ctx, C1 + "!g2", [
        _sent("a", 3)]) == _counts(refused=1, conflicts=[a])


def test_a_forward_every_cell_refused_is_forgotten(ctx):
    a, b = _uuid("a"), _uuid("b")
    before = snapshot(ctx.engine)["cell_instances"]
    instance_store.record_forward(ctx, a, C1, SIZES, "p1")
    assert instance_store.drop_forward(ctx, a, C2) is False
    assert instance_store.drop_forward(ctx, a, C1) is True
    assert snapshot(ctx.engine)["cell_instances"] == before
    # a reported build is never forgotten
    instance_store.record_forward(ctx, b, C1, SIZES, "p1")
    instance_store.apply_changes(ctx, C1, [_sent("b", 1)])
    assert instance_store.drop_forward(ctx, b, C1) is False
    assert instance_store.owner_of(ctx, b) == C1


def test_a_build_given_up_is_held_by_no_cell_until_one_reports_it(ctx):
    a = _uuid("a")
    instance_store.record_forward(ctx, a, C1, SIZES, "p1")
    assert instance_store.forward_failed(ctx, a) is True
    assert instance_store.forward_failed(ctx, a) is True     # still so
    assert instance_store.owner_of(ctx, a) is None
    assert _held(ctx, "a") == (None, "error", None, False)
    assert instance_store.move_forward(ctx, a, C1, C2) is False
    assert instance_store.forward_failed(ctx, _uuid("unknown")) is False
    assert instance_store.apply_changes(ctx, C1, [_sent("a", 3)]) == \
        _counts(stored=1)
    assert instance_store.owner_of(ctx, a) == C1


def test_a_prefix_takes_in_its_subtree_and_no_sibling_name(ctx):
    paths = ["api!c", "api!c!g1", "api!c!g1!x", "api!c1", "api!c1!g",
             "api!C", "api!cc", "api!c%", "api!c_", "api!cx"]
    for n, cell_path in enumerate(paths):
        instance_store.apply_changes(ctx, cell_path, [_sent(f"i{n}", n)])

    def listed(prefix):
        return [row["cell_path"] for row in
                instance_store.list_instances(ctx, prefix)]

    assert listed("api!c") == ["api!c", "api!c!g1", "api!c!g1!x"]
    assert listed("api!c!g1") == ["api!c!g1", "api!c!g1!x"]
    assert listed("api!c%") == ["api!c%"]     # % and _ are no wildcards
    assert listed("api!c_") == ["api!c_"]
    assert listed("api") == sorted(paths)
    assert listed("ap") == []


def test_the_watermark_of_a_cell_is_its_own_newest_change(ctx):
    instance_store.apply_changes(ctx, C1, [_sent("a", 3), _sent("b", 7)])
    instance_store.apply_changes(ctx, C1 + "!grand", [_sent("c", 9)])
    instance_store.record_forward(ctx, _uuid("d"), C2, SIZES, "p1")
    assert instance_store.watermark_of(ctx, C1) == _at(7)
    assert instance_store.watermark_of(ctx, C2) is None
    assert instance_store.watermark_of(ctx, "api!nobody") is None


def _race(*calls):
    """Run ``calls`` at once (released together by a barrier); their
    results in order."""
    barrier, results = threading.Barrier(len(calls)), [None] * len(calls)

    def run(at, call):
        barrier.wait()
        results[at] = call()

    workers = [threading.Thread(target=run, args=(at, call))
               for at, call in enumerate(calls)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return results


def test_racing_applies_of_one_uuid_keep_the_newest(ctx):
    for n in range(5):
        name = f"r{n}"
        newer, older = _race(
            lambda name=name: instance_store.apply_changes(ctx, C1, [
                _sent(name, 9, vm_state="active")]),
            lambda name=name: instance_store.apply_changes(ctx, C1, [
                _sent(name, 8, vm_state="building")]))
        assert newer == _counts(stored=1)
        assert older in (_counts(stored=1), _counts(unchanged=1))
        assert _held(ctx, name) == (C1, "active", _at(9), False)


def test_two_cells_racing_for_a_new_uuid_one_holds_it(ctx):
    for n in range(5):
        name = f"r{n}"
        first, second = _race(
            lambda name=name: instance_store.apply_changes(
                ctx, C1, [_sent(name, 1)]),
            lambda name=name: instance_store.apply_changes(
                ctx, C2, [_sent(name, 1)]))
        assert sorted([first, second], key=lambda r: r["stored"]) == [
            _counts(refused=1, conflicts=[_uuid(name)]), _counts(stored=1)]
        holder = C1 if first["stored"] else C2
        assert instance_store.owner_of(ctx, _uuid(name)) == holder


def test_racing_moves_of_a_build_move_it_once(ctx):
    a = _uuid("a")
    instance_store.record_forward(ctx, a, C1, SIZES, "p1")
    results = _race(
        lambda: instance_store.move_forward(ctx, a, C1, C2),
        lambda: instance_store.move_forward(ctx, a, C1, "api!child3"))
    assert sorted(results) == [False, True]
    assert instance_store.owner_of(ctx, a) == \
        (C2 if results[0] else "api!child3")


@pytest.mark.parametrize("call,error,field,value", [
    (lambda ctx: instance_store.apply_changes(ctx, C1, [
        _sent("a", 1), dict(_sent("b", 1), uuid="not-a-uuid")]),
     exception.InvalidCellInstance, "uuid", "'not-a-uuid'"),
    (lambda ctx: instance_store.apply_changes(ctx, C1, [
        _sent("a", 1), _sent("b", 1, vcpus=-1)]),
     exception.InvalidCellInstance, "vcpus", "-1"),
    (lambda ctx: instance_store.apply_changes(ctx, C1, [
        _sent("a", 1), _sent("b", 1, changed_at="soon")]),
     exception.InvalidCellInstance, "changed_at", "'soon'"),
    (lambda ctx: instance_store.apply_changes(ctx, C1, [
        _sent("a", 1), _sent("b", 1, deleted="no")]),
     exception.InvalidCellInstance, "deleted", "'no'"),
    (lambda ctx: instance_store.apply_changes(ctx, C1, [
        _sent("a", 1), _sent("b", 1, host="h" * 256)]),
     exception.InvalidCellInstance, "host", None),
    (lambda ctx: instance_store.apply_changes(ctx, "api!!x", [
        _sent("a", 1)]),
     exception.InvalidCellPath, "path", "'api!!x'"),
    (lambda ctx: instance_store.apply_changes(ctx, "api!" + "c" * 600, [
        _sent("a", 1)]),
     exception.InvalidCellPath, "path", None),
    (lambda ctx: instance_store.record_forward(
        ctx, _uuid("a"), C1, dict(SIZES, memory_mb=-512), "p1"),
     exception.InvalidCellInstance, "memory_mb", "-512"),
    (lambda ctx: instance_store.record_forward(
        ctx, _uuid("a"), C1, dict(SIZES, disk_gb=1), "p1"),
     exception.InvalidCellInstance, "sizes", None),
    (lambda ctx: instance_store.record_forward(ctx, "x", C1, SIZES, "p1"),
     exception.InvalidCellInstance, "uuid", "'x'"),
    (lambda ctx: instance_store.move_forward(ctx, _uuid("a"), C1, "api!"),
     exception.InvalidCellPath, "path", "'api!'"),
])
def test_bad_input_is_refused_by_name_and_nothing_written(ctx, call, error,
                                                          field, value):
    before = snapshot(ctx.engine)
    with pytest.raises(error) as err:
        call(ctx)
    if error is exception.InvalidCellInstance:
        assert err.value.field == field
        if value is not None:
            assert err.value.value == value
    elif value is not None:
        assert err.value.path == value
    assert snapshot(ctx.engine) == before
