"""Removing nodes a driver no longer reports: ``hoststate hypervisor-delete
NODE`` and ``hoststate compute --prune``, in-process on SQLite and
PostgreSQL. A node with instances or an unfinished migration is refused
with nothing changed (as Nova refuses to delete a compute service that
hosts instances); what is removed is printed."""
import uuid

import pytest
import sqlalchemy as sa

from hoststate.db import schema

from support import view_cloud
from support.view_cloud import BACKENDS, run, settings, views  # noqa: F401

pytestmark = BACKENDS
NODES = schema.compute_nodes


def live_nodes(database):
    with database.engine.connect() as conn:
        return conn.execute(sa.select(NODES.c.hypervisor_hostname)
                            .where(NODES.c.deleted == 0)
                            .order_by(NODES.c.id)).scalars().all()


def node_rows(database):
    """Every compute_nodes row, as stored (to compare before and after)."""
    with database.engine.connect() as conn:
        return [tuple(row) for row in conn.execute(
            sa.select(NODES).order_by(NODES.c.id))]


def deleted_line(name, node_id, host):
    return (f"deleted node {name} (id {node_id}, uuid "
            f"{view_cloud.NODE_UUIDS[name]}) of host {host}\n")


# --- hypervisor-delete ---------------------------------------------------------

@pytest.mark.parametrize("key", ["node-4", "5", view_cloud.NODE_UUIDS[
    "node-4"]], ids=["name", "id", "uuid"])
def test_delete_a_node_whose_service_is_gone(capsys, views, key):
    assert run(capsys, views, "hypervisor-delete", key) == (
        0, deleted_line("node-4", 5, "compute-4"), "")
    assert live_nodes(views) == ["node-1", "node-2a", "node-2b", "node-3"]
    assert run(capsys, views, "hypervisor-delete", key) == (
        1, "", f"hoststate: hypervisor {key} not found\n")


def test_a_deleted_node_leaves_the_views(capsys, views):
    assert run(capsys, views, "hypervisor-delete", "node-2a")[0] == 0
    code, out, _ = run(capsys, views, "hypervisor-list", "-f", "value",
                       "-c", "hypervisor_hostname")
    assert (code, out.split()) == (0, ["node-1", "node-2b", "node-3"])


def test_a_node_with_instances_is_refused(capsys, views):
    before = node_rows(views)
    assert run(capsys, views, "hypervisor-delete", "node-1") == (
        1, "", "hoststate: node node-1 of host compute-1 still has 3 "
               "instance(s); migrate or delete them first (nothing was "
               "deleted)\n")
    assert node_rows(views) == before


def test_a_node_with_an_unfinished_migration_is_refused(capsys, views, ctx):
    instance = view_cloud.make_instance(ctx, "p1", view_cloud.SMALL,
                                        host="compute-1", node="node-1")
    with views.engine.begin() as conn:
        conn.execute(sa.insert(schema.migrations).values(
            uuid=str(uuid.uuid4()), instance_uuid=instance.uuid,
            source_compute="compute-1", source_node="node-1",
            dest_compute="compute-3", dest_node="node-3",
            status="migrating", migration_type="migration", deleted=0))
    before = node_rows(views)
    assert run(capsys, views, "hypervisor-delete", "node-3") == (
        1, "", "hoststate: node node-3 of host compute-3 still has 1 "
               "unfinished migration(s); migrate or delete them first "
               "(nothing was deleted)\n")
    assert node_rows(views) == before


def test_delete_needs_a_node(capsys, views):
    from support.view_cloud import usage_error
    assert "the following arguments are required: NODE" in usage_error(
        capsys, views, "hypervisor-delete")


# --- compute --prune --------------------------------------------------------------

def compute(capsys, database, host, nodes, *extra):
    return run(capsys, database, "compute", "--once", "--host", host,
               "--fake-nodes", str(nodes), *extra)


def test_prune_deletes_the_nodes_the_driver_no_longer_reports(capsys,
                                                              database):
    assert compute(capsys, database, "h1", 3)[0] == 0
    code, out, _ = compute(capsys, database, "h1", 1, "--prune")
    assert code == 0
    assert [line.split(" (")[0] for line in out.splitlines()] == [
        "deleted node h1-node2", "deleted node h1-node3"]
    assert all(line.endswith(" of host h1") for line in out.splitlines())
    assert live_nodes(database) == ["h1-node1"]
    assert compute(capsys, database, "h1", 1, "--prune")[:2] == (0, "")


def test_prune_with_instances_on_a_node_changes_nothing(capsys, views):
    """compute-2's driver now reports one new node only: node-2a could go,
    node-2b has an instance, so neither goes and nothing is registered."""
    before = node_rows(views)
    code, out, err = compute(capsys, views, "compute-2", 1, "--prune")
    assert (code, out) == (1, "")
    assert err == ("hoststate: node node-2b of host compute-2 still has 1 "
                   "instance(s); migrate or delete them first (nothing was "
                   "deleted)\n")
    assert node_rows(views) == before
