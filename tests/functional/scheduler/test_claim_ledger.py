"""The scheduler's side of the ledger and the claim port.

A database claim is a ledger row, the node's counters and the instance row
in one transaction; giving it back (``Scheduler.release``) returns exactly
the row. A claim on a node the scheduler's table holds at the current
generation writes without reading the node; one whose table copy is
stale is read and checked again. The in-memory port gives back exactly
what it took.
"""
import uuid

import numpy as np
import pytest
import sqlalchemy as sa

from hoststate import conf as hs_conf
from hoststate import exception
from hoststate.db import schema
from hoststate.objects import instance as instance_obj
from hoststate.objects import states
from hoststate.scheduler import claim_port
from hoststate.scheduler import claims as claims_mod
from support import ledger as ledger_checks

from .test_no_leftovers import conf  # noqa: F401 - a fixture
from .test_no_leftovers import flavor, scheduler_for, spec_for, start_agent


def _rows(engine):
    with engine.connect() as conn:
        return [r._mapping for r in conn.execute(
            sa.select(schema.allocations).order_by(schema.allocations.c.id))]


def _node(engine, name):
    nodes = schema.compute_nodes
    with engine.connect() as conn:
        return conn.execute(sa.select(nodes).where(
            nodes.c.hypervisor_hostname == name)).one()._mapping


def _clean(engine):
    assert ledger_checks.violations(engine, hs_conf.CONF) == []


def test_a_claim_is_one_ledger_row_and_release_gives_it_back(ctx, conf):
    start_agent(ctx, "h1")
    scheduler = scheduler_for(ctx, conf)
    before = _node(ctx.engine, "h1-n1")
    spec = spec_for(flavor(memory_mb=1000, vcpus=2, root_gb=3), 1)
    [[chosen, *_]] = scheduler.select_destinations(spec)
    [row] = _rows(ctx.engine)
    assert (row["consumer_uuid"], row["instance_uuid"], row["vcpus"],
            row["memory_mb"], row["disk_gb"], row["compute_node_id"]) == (
        spec.instance_uuid, spec.instance_uuid, 2, 1000, 3, before["id"])
    after = _node(ctx.engine, "h1-n1")
    assert (after["vcpus_used"] - before["vcpus_used"],
            after["memory_mb_used"] - before["memory_mb_used"],
            after["local_gb_used"] - before["local_gb_used"]) == (2, 1000, 3)
    _clean(ctx.engine)

    scheduler.release(chosen, spec.instance_uuid)
    assert _rows(ctx.engine) == []
    released = _node(ctx.engine, "h1-n1")
    assert (released["vcpus_used"], released["memory_mb_used"],
            released["local_gb_used"]) == (before["vcpus_used"],
                                           before["memory_mb_used"],
                                           before["local_gb_used"])
    instance = instance_obj.Instance.get_by_uuid(ctx, spec.instance_uuid)
    assert (instance.host, instance.node, instance.compute_id) == \
        (None, None, None)
    # the scheduler's table took the node as released
    table = scheduler.table
    table_row = table.row_of_host_node[("h1", "h1-n1")]
    assert table.vcpus_used[table_row] == released["vcpus_used"]
    _clean(ctx.engine)


def test_a_claim_on_a_stale_table_copy_reads_the_node_again(ctx, conf):
    start_agent(ctx, "h1", memory_mb=4096)
    scheduler = scheduler_for(ctx, conf)
    scheduler.refresh_before_select = False
    other = scheduler_for(ctx, conf)
    other.select_destinations(spec_for(flavor(memory_mb=3000), 1))
    # the first scheduler's table still holds the node empty, at the
    # generation before the other's claim: its claim must not trust it
    with pytest.raises(exception.NoValidHost) as refused:
        scheduler.select_destinations(spec_for(flavor(memory_mb=3000), 1))
    # 4096 MiB - 512 reserved - 3000 claimed by the other scheduler
    assert str(refused.value) == (
        "No valid host was found. claim on h1-n1 lost: memory_mb: requested"
        " 3000 MiB, free 584 MiB of 4096 MiB")
    assert len(_rows(ctx.engine)) == 1
    _clean(ctx.engine)


def test_seen_is_offered_only_where_the_table_says_the_claim_fits(ctx, conf):
    start_agent(ctx, "h1", memory_mb=4096)
    scheduler = scheduler_for(ctx, conf)
    port = scheduler.claims
    table = scheduler.table
    row = table.row_of_host_node[("h1", "h1-n1")]
    small = scheduler.request_vector(spec_for(flavor(memory_mb=1000), 1))
    large = scheduler.request_vector(spec_for(flavor(memory_mb=5000), 1))
    seen = port._seen(row, small)
    assert seen == claims_mod.Seen(
        generation=int(table.generation[row]),
        stats=table.interned["stats"].keys[table.codes("stats")[row]])
    assert port._seen(row, large) is None


def test_in_memory_reserve_and_unreserve_restore_the_row(ctx, conf):
    start_agent(ctx, "h1")
    scheduler = scheduler_for(ctx, conf)
    table = scheduler.table
    port = claim_port.InMemoryClaims(scheduler.host_manager)
    row = table.row_of_host_node[("h1", "h1-n1")]
    columns = ("free_ram_mb", "free_disk_mb", "disk_mb_used", "vcpus_used",
               "num_instances", "num_io_ops")
    before = {name: float(table.columns[name][row]) for name in columns}
    request = scheduler.request_vector(spec_for(flavor(memory_mb=1000), 1))
    reservation = port.reserve(port.session(False), row, request,
                               str(uuid.uuid4()), [])
    assert table.free_ram_mb[row] == before["free_ram_mb"] - 1000
    assert table.disk_mb_used[row] == before["disk_mb_used"] + 1024
    port.unreserve_all([reservation], request, port.session(False))
    assert {name: float(table.columns[name][row]) for name in columns} == \
        before
    # given back once: a second release changes nothing
    port.release(row, reservation.instance_uuid)
    assert {name: float(table.columns[name][row]) for name in columns} == \
        before
    assert np.all(table.free_ram_mb >= 0)


@pytest.mark.parametrize("empty_database", ["postgresql"], indirect=True)
def test_a_claim_survives_a_pooled_connection_the_server_closed(
        database, conf, caplog):
    from hoststate import context as hs_context
    from hoststate.db import engine as db_engine
    engine = db_engine.create_engine(database.url, pool_pre_ping=False,
                                     pool_size=1)
    ctx = hs_context.get_admin_context(engine=engine)
    start_agent(ctx, "h1")
    scheduler = scheduler_for(ctx, conf)
    scheduler.refresh_before_select = False
    # the one pooled connection of the pool claims go through (it pings
    # no connection before handing it out)
    with db_engine.for_single_statements(engine).connect() as conn:
        pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
    with database.admin.connect() as admin:
        admin.exec_driver_sql(f"SELECT pg_terminate_backend({pid})")
    caplog.set_level("INFO", logger="hoststate.scheduler.claims")
    spec = spec_for(flavor(memory_mb=1000), 1)
    scheduler.select_destinations(spec)
    assert [r.getMessage() for r in caplog.records] == [
        f"claim on node {int(scheduler.table.id[0])}: connection lost, "
        "trying again"]
    assert [r["consumer_uuid"] for r in _rows(engine)] == \
        [spec.instance_uuid]
    _clean(engine)
    engine.dispose()


def _instance_for(request, instance_uuid):
    """The Instance a claim of ``request`` stands for, built the way the
    objects build one: the reference Unplaced's columns are held to."""
    spec = request.spec
    image = request.image
    instance = instance_obj.Instance(
        uuid=instance_uuid, project_id=spec.obj_get("project_id"),
        user_id=spec.obj_get("user_id"), vm_state=states.BUILDING,
        task_state=None, flavor=spec.flavor,
        instance_type_id=spec.flavor.obj_get("id"),
        vcpus=spec.flavor.vcpus, memory_mb=spec.flavor.memory_mb,
        root_gb=spec.flavor.root_gb, ephemeral_gb=spec.flavor.ephemeral_gb,
        image_ref=(image.obj_get("id") if image is not None else None),
        os_type=request.image_props.get("os_type"),
        availability_zone=spec.obj_get("availability_zone"),
        pci_requests=request.pci_requests)
    return instance


@pytest.mark.parametrize("image", [{"id": "0c5e2a9b-7d41-4f0e-9a3b-6e2d1c8f4b7a",
                                    "properties": {"os_type": "linux"}},
                                   None])
def test_the_claimed_row_is_what_the_instance_object_stores(ctx, conf,
                                                            image):
    """Unplaced builds the instance row without an Instance object; the
    columns must be exactly those an Instance of the request stores."""
    from hoststate.objects import request_spec
    start_agent(ctx, "h1")
    scheduler = scheduler_for(ctx, conf)
    spec = request_spec.RequestSpec.from_components(
        str(uuid.uuid4()), flavor(memory_mb=1000), image=image,
        project_id="p1", user_id="u1", availability_zone="nova")
    request = scheduler.request_vector(spec)
    expected = _instance_for(request, spec.instance_uuid)
    expected = expected._column_values()
    del expected["uuid"]
    assert claims_mod.Unplaced.of(request).columns == expected


def test_deleting_an_instance_the_agent_never_adopted_takes_it_out(ctx,
                                                                   conf):
    agent = start_agent(ctx, "h1")
    scheduler = scheduler_for(ctx, conf)
    spec = spec_for(flavor(memory_mb=1000), 1)
    scheduler.select_destinations(spec)
    assert _node(ctx.engine, "h1-n1")["running_vms"] == 1
    instance = instance_obj.Instance.get_by_uuid(ctx, spec.instance_uuid)
    instance.vm_state = "deleted"
    instance.save()
    agent.tracker("h1-n1").update_usage(instance)
    node = _node(ctx.engine, "h1-n1")
    assert (node["running_vms"], node["vcpus_used"]) == (0, 0)
    assert _rows(ctx.engine) == []
    _clean(ctx.engine)


# --- the claim's statements and a lost connection ------------------------------

def _spy_on_driver(engine, after=None):
    """Watch what ``engine``'s connections send, at the driver: the first
    three words of every statement, in a list that fills as they run.

    The cursors of the driver's connections are a subclass of its own
    that records each statement and then calls ``after(cursor,
    statement)`` (which may break the connection). The engine's pool is
    emptied first, so every connection is a new, watched one. Claims run
    their statement on the driver's cursor, where SQLAlchemy's statement
    events do not see it."""
    sent = []
    dbapi = engine.dialect.loaded_dbapi
    if engine.dialect.name == "postgresql":
        base, attribute = dbapi.Cursor, "cursor_factory"
    else:
        base, attribute = dbapi.cursors.Cursor, "cursorclass"

    class Watched(base):
        def execute(self, query, *args, **kwargs):
            text = query if isinstance(query, str) else query.decode()
            sent.append(" ".join(text.split()[:3]).upper())
            result = super().execute(query, *args, **kwargs)
            if after is not None:
                after(self, text)
            return result

    sa.event.listen(engine, "connect", lambda dbapi_connection, record:
                    setattr(dbapi_connection, attribute, Watched))
    engine.dispose()
    return sent


def _statements_of_claims(engine):
    """The statements claims send (first words), through the engine for
    single statements and the context's."""
    from hoststate.db import engine as db_engine
    single = db_engine.for_single_statements(engine)
    sent = _spy_on_driver(single) if single is not None else []
    if engine.dialect.name == "sqlite":
        # the claim runs on the driver's cursor: SQLite's own trace sees
        # every statement of every (new) connection
        def trace(dbapi_connection, record):
            dbapi_connection.set_trace_callback(
                lambda statement: sent.append(
                    " ".join(statement.split()[:3]).upper()))
        sa.event.listen(engine, "connect", trace)
        engine.dispose()
        return sent
    sa.event.listen(engine, "before_cursor_execute",
                    lambda conn, cursor, statement, *rest:
                    sent.append(" ".join(statement.split()[:3]).upper()))
    return sent


def test_a_claim_on_a_seen_node_is_one_statement(ctx, conf):
    start_agent(ctx, "h1")
    scheduler = scheduler_for(ctx, conf)
    scheduler.refresh_before_select = False
    sent = _statements_of_claims(ctx.engine)
    spec = spec_for(flavor(memory_mb=1000), 1)
    scheduler.select_destinations(spec)
    assert sent == {
        # the UPDATE, the ledger row and the instance row in one statement
        "postgresql": ["WITH PLACED AS"],
        "mysql": ["BEGIN NOT ATOMIC"],
        # in a transaction (SQLite has no DML in common table expressions)
        "sqlite": ["BEGIN IMMEDIATE", "UPDATE COMPUTE_NODES SET",
                   "INSERT INTO ALLOCATIONS", "INSERT OR IGNORE", "COMMIT"],
    }[ctx.engine.dialect.name]
    [row] = _rows(ctx.engine)
    instance = instance_obj.Instance.get_by_uuid(ctx, spec.instance_uuid)
    assert (instance.host, instance.node, instance.compute_id) == \
        ("h1", "h1-n1", row["compute_node_id"])
    # the table took the node as the claim stored it
    table = scheduler.table
    stored = _node(ctx.engine, "h1-n1")
    table_row = table.row_of_host_node[("h1", "h1-n1")]
    assert (table.generation[table_row], table.free_ram_mb[table_row]) == \
        (stored["generation"], stored["free_ram_mb"])
    _clean(ctx.engine)


def test_a_claim_on_a_node_that_moved_writes_nothing_then_reads_it(ctx, conf):
    """The node moved on after the scheduler's table read it (another
    writer's claim): the one statement changes nothing, and the claim
    reads the node and claims on what it finds."""
    start_agent(ctx, "h1", memory_mb=8192)
    scheduler = scheduler_for(ctx, conf)
    scheduler.refresh_before_select = False
    other = scheduler_for(ctx, conf)
    other.select_destinations(spec_for(flavor(memory_mb=1000), 1))
    sent = _statements_of_claims(ctx.engine)
    scheduler.select_destinations(spec_for(flavor(memory_mb=1000), 1))
    assert sent[0] in ("WITH PLACED AS", "BEGIN NOT ATOMIC",
                       "BEGIN IMMEDIATE")
    assert len(_rows(ctx.engine)) == 2
    stored = _node(ctx.engine, "h1-n1")
    # 8192 MiB - 512 reserved - two claims of 1000
    assert stored["free_ram_mb"] == 8192 - 512 - 2000
    _clean(ctx.engine)


def test_a_claim_for_a_stored_instance_places_it(ctx, conf):
    """The caller stored the instance first (as Nova's API does): the
    one statement fails on its uuid and writes nothing; the claim then
    reads the node and places the existing row."""
    start_agent(ctx, "h1")
    scheduler = scheduler_for(ctx, conf)
    spec = spec_for(flavor(memory_mb=1000), 1)
    instance_obj.Instance(ctx, uuid=spec.instance_uuid, vm_state="building",
                          vcpus=1, memory_mb=1000).create()
    scheduler.select_destinations(spec)
    instance = instance_obj.Instance.get_by_uuid(ctx, spec.instance_uuid)
    assert (instance.host, instance.node) == ("h1", "h1-n1")
    assert [r["consumer_uuid"] for r in _rows(ctx.engine)] == \
        [spec.instance_uuid]
    _clean(ctx.engine)


def _claim_messages(caplog):
    return [r.getMessage() for r in caplog.records
            if r.name == "hoststate.scheduler.claims"]


def _lose_connection_once(engine, when):
    """Make the next statement on ``engine`` that holds ``when`` fail as a
    connection the server dropped, after the server ran it: the
    connection really closes (the server rolls back what it has not
    committed), and the driver's own error is raised."""
    lost = []

    def after(cursor, statement):
        if lost or when not in statement.upper():
            return
        lost.append(statement)
        connection = cursor.connection
        connection.close()
        if engine.dialect.name == "postgresql":
            raise engine.dialect.loaded_dbapi.OperationalError(
                "server closed the connection unexpectedly")
        raise engine.dialect.loaded_dbapi.OperationalError(
            2013, "Lost connection to server during query")

    _spy_on_driver(engine, after)
    return lost


@pytest.mark.parametrize("empty_database", ["postgresql", "mysql"],
                         indirect=True)
def test_a_claim_that_committed_before_its_connection_went_is_kept(
        ctx, conf, caplog):
    """The one statement is its own transaction: it committed, then the
    answer was lost. The ledger says the claim landed: it is the
    placement, not tried again (which would find its own instance placed
    and call the claim lost)."""
    from hoststate.db import engine as db_engine
    start_agent(ctx, "h1")
    scheduler = scheduler_for(ctx, conf)
    scheduler.refresh_before_select = False
    lost = _lose_connection_once(db_engine.for_single_statements(ctx.engine),
                                 "COMPUTE_NODES")
    caplog.set_level("INFO", logger="hoststate.scheduler.claims")
    spec = spec_for(flavor(memory_mb=1000), 1)
    [[chosen, *_]] = scheduler.select_destinations(spec)
    assert len(lost) == 1
    node = int(scheduler.table.id[0])
    assert _claim_messages(caplog) == [
        f"claim on node {node}: connection lost after the claim committed"]
    assert chosen.service_host == "h1"
    assert [r["consumer_uuid"] for r in _rows(ctx.engine)] == \
        [spec.instance_uuid]
    table = scheduler.table
    assert table.generation[0] == _node(ctx.engine, "h1-n1")["generation"]
    _clean(ctx.engine)


@pytest.mark.parametrize("empty_database", ["postgresql", "mysql"],
                         indirect=True)
def test_a_claim_whose_connection_went_before_commit_runs_again(
        ctx, conf, caplog):
    """A claim in a transaction (the node moved since the table read it)
    loses its connection before COMMIT: the server rolled it back, the
    ledger has nothing, and the claim runs again."""
    start_agent(ctx, "h1")
    scheduler = scheduler_for(ctx, conf)
    scheduler.refresh_before_select = False
    first = spec_for(flavor(memory_mb=1000), 1)
    scheduler_for(ctx, conf).select_destinations(first)
    lost = _lose_connection_once(ctx.engine, "INTO INSTANCES")
    caplog.set_level("INFO", logger="hoststate.scheduler.claims")
    spec = spec_for(flavor(memory_mb=1000), 1)
    scheduler.select_destinations(spec)
    assert len(lost) == 1
    node = int(scheduler.table.id[0])
    assert _claim_messages(caplog) == [
        f"claim on node {node}: connection lost, trying again"]
    assert [r["consumer_uuid"] for r in _rows(ctx.engine)] == \
        [first.instance_uuid, spec.instance_uuid]
    _clean(ctx.engine)
