"""The cells service across real cells: each cell a database of its own
(SQLite or PostgreSQL) and a RabbitMQ vhost of its own, running its real
scheduler, conductor, agents (fake hypervisors) and cells service, all
in this process (support/cells.py).

    api (no hosts) ── c1 (2 hosts of 8 vCPUs, 16 GiB)
                   └─ c2 (1 host)

With one host less, c2 has room for fewer instances of any flavor than
c1, so the RAM-by-free-units weigher ranks c1 first unless a hint or a
fault says otherwise.
"""
import time
import uuid

import pytest

from hoststate import exception
from hoststate import rpc
from hoststate.cells import neighbours
from hoststate.cells import rpcapi
from hoststate.db import api as db_api
from hoststate.db import schema
from hoststate import context as hs_context
from hoststate.objects import flavor as flavor_obj
from hoststate.objects import request_spec
from support.cells import InProcessCell, link, stop_all, wait_until

pytestmark = pytest.mark.slow

ACTIVE = "active"


#: the tests whose outcome rests on the databases' own rules (the top's
#: records, the feed's stamps) run on PostgreSQL too
BOTH = pytest.mark.parametrize("backend", ["sqlite", "postgresql"])


@pytest.fixture
def backend():
    return "sqlite"


@pytest.fixture
def make_cell(backend, tmp_path, rabbitmq_vhosts):
    made = []

    def make(name, hosts=0, **cells_options):
        cell = InProcessCell(name, rabbitmq_vhosts(name), backend,
                             tmp_path, hosts=hosts, **cells_options)
        made.append(cell)
        return cell

    yield make
    stop_all(made)
    rpc.cleanup()
    for cell in made:
        cell.drop()


def spec_of(vcpus=1, memory_mb=512, disk_gb=1, count=1, hints=None):
    name = f"{vcpus}-{memory_mb}-{disk_gb}"
    flavor = flavor_obj.Flavor(id=0, flavorid=name, name=name, vcpus=vcpus,
                               memory_mb=memory_mb, root_gb=disk_gb,
                               ephemeral_gb=0, swap=0, extra_specs={})
    return request_spec.RequestSpec.from_components(
        str(uuid.uuid4()), flavor, image={"id": str(uuid.uuid4())},
        scheduler_hints=hints or {}, num_instances=count,
        project_id="p1")


def boot(top, count=1, **spec_kwargs):
    """What ``hoststate boot`` sends at the top: [[uuid, host, node]]."""
    uuids = [str(uuid.uuid4()) for _ in range(count)]
    api = rpcapi.CellsAPI(top.conf)
    return api.schedule_and_build_instances(
        hs_context.get_admin_context(engine=None),
        spec_of(count=count, **spec_kwargs), uuids)


def states(top, uuids):
    return rpcapi.CellsAPI(top.conf).instance_states(
        hs_context.get_admin_context(engine=None), uuids)


def settled(top, uuids, vm_state=ACTIVE):
    return wait_until(lambda: all(
        s["vm_state"] == vm_state for s in states(top, uuids).values()),
        f"{uuids} {vm_state} at the top")


def up_at(top, *names):
    def check():
        children = {c.cell.name: c for c in
                    top.service.neighbours.children()}
        return all(top.service.neighbours.is_up(children[n]) for n in names)
    return check


def top_rows(top):
    """{uuid: (cell path, vm_state, deleted)} the top keeps."""
    with db_api.reading(top.ctx) as conn:
        rows = db_api.select_rows(conn, schema.cell_instances,
                                  read_deleted="yes")
    return {r["uuid"]: (r["cell_path"], r["vm_state"], bool(r["deleted"]))
            for r in rows}


@pytest.fixture
def tree2(make_cell):
    top = make_cell("api")
    c1, c2 = make_cell("c1", hosts=2), make_cell("c2", hosts=1)
    link(top, c1)
    link(top, c2)
    for cell in (top, c1, c2):
        cell.start()
    wait_until(up_at(top, "c1", "c2"), "c1 and c2 up at the top")
    return top, c1, c2


def test_a_build_at_the_top_is_made_in_the_roomiest_child(tree2):
    top, c1, c2 = tree2
    placed = boot(top, count=2)
    assert [host.split("@")[0] for _, host, _ in placed] == ["api!c1"] * 2
    assert {host for _, host, _ in placed} <= {"api!c1@c1-h1",
                                               "api!c1@c1-h2"}
    uuids = [u for u, _, _ in placed]
    settled(top, uuids)
    assert set(c1.instances()) == set(uuids)
    assert c2.instances() == {}
    wait_until(lambda: {u: row[:2] for u, row in top_rows(top).items()}
               == {u: ("api!c1", ACTIVE) for u in uuids},
               "the top's records of both")


def test_a_target_cell_hint_sends_the_build_there(tree2):
    top, c1, c2 = tree2
    [(instance, host, node)] = boot(top, hints={"target_cell": ["api!c2"]})
    assert host == "api!c2@c2-h1"
    settled(top, [instance])
    assert list(c2.instances()) == [instance] and c1.instances() == {}


def test_what_fits_nowhere_fails_with_each_cells_reason_and_leaves_nothing(
        tree2):
    top, c1, c2 = tree2
    with pytest.raises(exception.NoValidHost) as refused:
        boot(top, vcpus=64)
    message = str(refused.value)
    assert "no cell could build it" in message
    assert "api!c1:" in message and "api!c2:" in message
    assert top_rows(top) == {}
    assert c1.instances() == {} and c2.instances() == {}


def test_a_delete_at_the_top_is_made_in_the_owning_cell(tree2):
    top, c1, _ = tree2
    [(instance, _, _)] = boot(top)
    settled(top, [instance])
    node = rpcapi.CellsAPI(top.conf).delete_instance(
        hs_context.get_admin_context(engine=None), instance)
    assert node == "c1-h1-node1" or node.startswith("c1-h")
    wait_until(lambda: c1.instances() == {}, "deleted in c1")
    settled(top, [instance], vm_state="deleted")


@BOTH
def test_a_killed_child_is_marked_down_and_catches_up_when_back(tree2):
    top, c1, c2 = tree2
    [(kept, _, _)] = boot(top, hints={"target_cell": ["api!c2"]})
    settled(top, [kept])
    c2.stop_cells_service()
    stopped = time.monotonic()
    bound = neighbours.down_after_s(top.conf) + \
        top.conf.cells.broadcast_interval
    wait_until(lambda: not up_at(top, "c2")(), "c2 down at the top",
               timeout=bound + 5)
    assert time.monotonic() - stopped <= bound + 1

    # builds go around it
    placed = boot(top, count=2)
    assert all(host.startswith("api!c1@") for _, host, _ in placed)
    with pytest.raises(exception.NoValidHost, match="api!c2: .*down"):
        boot(top, hints={"target_cell": ["api!c2"]})

    # meanwhile c2 builds one and deletes one on its own
    tasks = c2_tasks(c2)
    ctx = hs_context.get_admin_context(engine=None)
    made = str(uuid.uuid4())
    tasks.schedule_and_build_instances(ctx, spec_of(), [made])
    tasks.delete_instance(ctx, kept)
    wait_until(lambda: c2.instances() == {made: (ACTIVE, "c2-h1")},
               "c2's own changes")

    c2.start_cells_service()
    wait_until(up_at(top, "c2"), "c2 up again")
    wait_until(lambda: {u: r for u, r in top_rows(top).items()
                        if r[0] == "api!c2"}
               == {kept: ("api!c2", ACTIVE, True),
                   made: ("api!c2", ACTIVE, False)},
               "the top caught up with c2")
    # one record per instance, each in the cell that holds it
    rows = top_rows(top)
    assert len(rows) == 4
    assert {u for u, r in rows.items() if not r[2]} == \
        set(c1.instances()) | set(c2.instances())


def c2_tasks(cell):
    from hoststate.conductor import rpcapi as conductor_rpcapi
    return conductor_rpcapi.ComputeTaskAPI(cell.conf)


def test_a_build_reaches_a_grandchild_through_its_parent(make_cell):
    top, c1 = make_cell("api"), make_cell("c1")
    g1 = make_cell("g1", hosts=1)
    link(top, c1)
    link(c1, g1)
    for cell in (top, c1, g1):
        cell.start()
    wait_until(up_at(top, "c1"), "c1 up at the top")
    wait_until(up_at(c1, "g1"), "g1 up at c1")
    # c1 passes g1's capacity up: the top sees room below c1
    wait_until(lambda: top.service.neighbours.child("c1").capacity.nodes
               == 1, "g1's node counted at the top")
    [(instance, host, _)] = boot(top,
                                 hints={"target_cell": ["api!c1!g1"]})
    assert host == "api!c1!g1@g1-h1"
    settled(top, [instance])
    wait_until(lambda: top_rows(top).get(instance, ("",))[0]
               == "api!c1!g1", "the top's record names g1")
    rpcapi.CellsAPI(top.conf).delete_instance(
        hs_context.get_admin_context(engine=None), instance)
    wait_until(lambda: g1.instances() == {}, "deleted in g1")


@BOTH
def test_a_build_a_child_answers_late_ends_in_one_cell(make_cell):
    """c1 is preferred (weight offset) but its scheduler is away: c1's
    conductor waits for it, c1's cells service stops waiting for its
    conductor and the top builds in c2. When c1's scheduler comes back
    (within the conductor's wait) it answers from its queue and c1
    builds the instance too; c1's report is refused by the top and c1's
    copy deleted, its claim given back."""
    top = make_cell("api", call_timeout=6)
    c1, c2 = make_cell("c1", hosts=1), make_cell("c2", hosts=1)
    link(top, c1, weight_offset=1000.0)
    link(top, c2)
    for cell in (top, c1, c2):
        cell.start()
    wait_until(up_at(top, "c1", "c2"), "c1 and c2 up at the top")
    c1.stop_scheduler()
    [(instance, host, _)] = boot(top)
    assert host == "api!c2@c2-h1"
    c1.start_scheduler()
    wait_until(lambda: instance in c1.instances("yes"), "c1's late build")
    wait_until(lambda: c1.instances() == {}, "c1's copy deleted")
    settled(top, [instance])
    assert top_rows(top)[instance][:2] == ("api!c2", ACTIVE)
    assert list(c2.instances()) == [instance]
    wait_until(lambda: sum(
        n.vcpus_used for n in c1_nodes(c1)) == 0, "c1's claim given back")


def c1_nodes(cell):
    from hoststate.objects import compute_node as cn_obj
    from hoststate.objects import indirection
    with indirection.serving_locally():
        return list(cn_obj.ComputeNodeList.get_all(cell.ctx))


def test_views_and_capacities_show_every_cell_and_a_down_one_as_down(tree2):
    top, c1, c2 = tree2
    ctx = hs_context.get_admin_context(engine=None)
    api = rpcapi.CellsAPI(top.conf)
    found = {e["path"]: e for e in api.view(ctx, "hypervisors", {})}
    assert sorted(found) == ["api", "api!c1", "api!c2"]
    assert found["api"]["rows"] == []
    assert sorted(r["host"] for r in found["api!c1"]["rows"]) == \
        ["c1-h1", "c1-h2"]
    c2.stop_cells_service()
    wait_until(lambda: not up_at(top, "c2")(), "c2 down")
    found = {e["path"]: e for e in api.view(ctx, "hypervisor-stats", {})}
    assert found["api!c2"] == {"path": "api!c2", "state": "down",
                               "rows": []}
    assert found["api!c1"]["rows"][0]["count"] == 2

    # what the top chooses from: c1's report, c2's last (down), the sum
    # of the cells that are up
    held = {(r.path, r.role): r for r in api.capacities(ctx)}
    assert {key: (r.state, r.nodes) for key, r in held.items()} == {
        ("api", "own"): ("up", 0), ("api!c1", "child"): ("up", 2),
        ("api!c2", "child"): ("down", 1), ("api", "subtree"): ("up", 2)}
    c1_own = c1.service.own_capacity
    for row in (held["api!c1", "child"], held["api", "subtree"]):
        assert (row.free_vcpus, row.free_memory_mb, row.free_disk_gb,
                row.units) == (c1_own.free_vcpus, c1_own.free_memory_mb,
                               c1_own.free_disk_gb, c1_own.units)
    assert held["api!c2", "child"].heard_s_ago > \
        neighbours.down_after_s(top.conf)
    assert held["api!c1", "child"].heard_s_ago <= \
        neighbours.down_after_s(top.conf)


def test_a_build_of_a_uuid_the_top_knows_is_refused_with_nothing_kept(tree2):
    top, c1, _ = tree2
    [(known, _, _)] = boot(top)
    settled(top, [known])
    before = top_rows(top)
    fresh = str(uuid.uuid4())
    api = rpcapi.CellsAPI(top.conf)
    with pytest.raises(exception.InvalidArgument,
                       match="the top already knows an instance"):
        api.schedule_and_build_instances(
            hs_context.get_admin_context(engine=None), spec_of(count=2),
            [fresh, known])
    assert top_rows(top) == before
    assert list(c1.instances()) == [known]
