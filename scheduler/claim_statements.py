"""The claim's statements on a node the scheduler has seen, built once.

A claim on a node still at the generation the scheduler's table holds
(``claims.Seen``) needs no read: the capacity rule was checked on that
very generation, so the claim is the compare-and-swap UPDATE that adds the
counters in SQL, the ledger row and the instance row.

On PostgreSQL and MariaDB the three are sent as one statement, its own
transaction, in one round trip instead of five or six (BEGIN, three
statements, a read back where UPDATE returns nothing, COMMIT):

* PostgreSQL: data-modifying common table expressions; both inserts read
  the UPDATE's result;
* MariaDB: an anonymous compound statement (``BEGIN NOT ATOMIC``) whose
  inserts and read back run only when the UPDATE changed the row, and
  which rolls back and re-raises on any error.

Either is all or nothing: a node that moved writes nothing and returns no
row; an instance row that exists already (the caller stored it, or
another scheduler placed it) fails the whole statement on its unique uuid.
The caller then falls back to the claim that reads the node. MySQL has
no compound statements outside stored programs and SQLite no DML in
common table expressions: there the three statements run in a
transaction; on SQLite on the driver's own connection, compiled once
(``run_in_transaction``), as SQLAlchemy's per-execution work cost more
than SQLite's.
"""
import sqlalchemy as sa

from hoststate.db import api as db_api
from hoststate.db import engine as db_engine
from hoststate.db import schema
from hoststate.scheduler import nodes as nodes_mod

_BUILT = {}

#: The ledger columns a claim of an instance without devices writes.
_LEDGER_COLUMNS = ("consumer_uuid", "instance_uuid", "vcpus", "memory_mb",
                   "disk_gb")


def seen_update(returning):
    """The claim's UPDATE, returning the node's usage columns where asked
    (values are bound parameters: ``_id``,
    ``_generation``, ``_vcpus``, ``_memory_mb``, ``_disk_gb``, ``stats``,
    ``running_vms``, ``current_workload``).

    Counters are added in SQL, free ones first: MySQL evaluates
    assignments left to right, with the new value of a column assigned
    before it; the other dialects with the old. Ordered so, both give free
    = total - (used + wanted)."""
    key = ("update", returning)
    query = _BUILT.get(key)
    if query is None:
        c = schema.compute_nodes.c
        amount = {name: sa.bindparam(f"_{name}", type_=sa.Integer)
                  for name in ("vcpus", "memory_mb", "disk_gb")}
        query = (sa.update(schema.compute_nodes)
                 .where(c.id == sa.bindparam("_id", type_=sa.Integer),
                        c.deleted == 0,
                        c.generation == sa.bindparam("_generation",
                                                     type_=sa.Integer))
                 .ordered_values(
                     (c.free_ram_mb, c.memory_mb - c.memory_mb_used -
                      amount["memory_mb"]),
                     (c.free_disk_gb, c.local_gb - c.local_gb_used -
                      amount["disk_gb"]),
                     (c.vcpus_used, c.vcpus_used + amount["vcpus"]),
                     (c.memory_mb_used, c.memory_mb_used +
                      amount["memory_mb"]),
                     (c.local_gb_used, c.local_gb_used + amount["disk_gb"]),
                     (c.stats, sa.bindparam("stats", type_=c.stats.type)),
                     (c.running_vms, sa.bindparam("running_vms",
                                                  type_=sa.Integer)),
                     (c.current_workload, sa.bindparam("current_workload",
                                                       type_=sa.Integer)),
                     (c.generation, c.generation + 1),
                     (c.updated_at, db_api.server_utcnow())))
        if returning:
            # what the claim changes in the scheduler's table, no more
            query = query.returning(*(c[name] for name in
                                      nodes_mod.USAGE_COLUMNS))
        _BUILT[key] = query
    return query


def has_one_statement(dialect):
    """Whether ``dialect``'s server takes the claim as one statement."""
    return dialect.name == "postgresql" or (
        dialect.name in ("mysql", "mariadb") and dialect.is_mariadb)


def run_one_statement(engine, instance_columns, params):
    """The claim as one statement on ``engine`` (autocommit): the node's
    usage as stored (``nodes.UsageRow``), or None when the node moved
    (nothing was written).

    Parameters: those of ``seen_update``, the ledger row's
    (``ledger_<column>``) and the instance row's (``instance_<column>``
    for ``instance_columns``; the instance is placed on the node the
    UPDATE changed)."""
    text, constants = _compiled(engine.dialect, tuple(instance_columns))
    # the driver's SQL, compiled once, on the driver's cursor: SQLAlchemy's
    # per-execution work costs a fifth of a claim (MariaDB sends no result
    # set at all when the UPDATE changed nothing)
    stored = db_engine.fetch_one(engine, text, {**constants, **params})
    return None if stored is None else nodes_mod.UsageRow(stored)


def _compiled(dialect, instance_columns):
    """(SQL text, constant parameters) of the claim's one statement for
    ``dialect``, compiled once."""
    key = (dialect.name, instance_columns)
    built = _BUILT.get(key)
    if built is None:
        if dialect.name == "postgresql":
            [text], constants = _compile(
                [_postgresql_statement(instance_columns)], dialect)
            built = (text, constants)
        else:
            built = _mariadb_block(dialect, instance_columns)
        _BUILT[key] = built
    return built


def _postgresql_statement(instance_columns):
    placed = seen_update(returning=True).cte("placed")
    ledger, instances = schema.allocations, schema.instances
    held = sa.insert(ledger).from_select(
        (*_LEDGER_COLUMNS, "compute_node_id", "created_at"),
        sa.select(*(_param("ledger", ledger, name)
                    for name in _LEDGER_COLUMNS),
                  placed.c.id, db_api.server_utcnow())).cte("held")
    where = {"host": placed.c.host, "node": placed.c.hypervisor_hostname,
             "compute_id": placed.c.id, "launched_on": placed.c.host,
             "created_at": db_api.server_utcnow()}
    made = sa.insert(instances).from_select(
        (*instance_columns, *where), sa.select(
            *(_param("instance", instances, name)
              for name in instance_columns), *where.values())).cte("made")
    return sa.select(*placed.c).add_cte(held, made)


def _mariadb_block(dialect, instance_columns):
    """(text, constant parameters) of MariaDB's compound claim statement:
    the statements inside are SQLAlchemy's, the block is text around
    them."""
    nodes, ledger, instances = (schema.compute_nodes, schema.allocations,
                                schema.instances)
    node_id = sa.bindparam("_id", type_=sa.Integer)
    held = sa.insert(ledger).from_select(
        (*_LEDGER_COLUMNS, "compute_node_id", "created_at"),
        sa.select(*(_param("ledger", ledger, name)
                    for name in _LEDGER_COLUMNS),
                  node_id, db_api.server_utcnow()))
    where = {"host": nodes.c.host, "node": nodes.c.hypervisor_hostname,
             "compute_id": nodes.c.id, "launched_on": nodes.c.host,
             "created_at": db_api.server_utcnow()}
    made = sa.insert(instances).from_select(
        (*instance_columns, *where), sa.select(
            *(_param("instance", instances, name)
              for name in instance_columns), *where.values())
        .where(nodes.c.id == node_id))
    read = sa.select(*(nodes.c[name] for name in nodes_mod.USAGE_COLUMNS)
                     ).where(nodes.c.id == node_id)
    (update, held, made, read), constants = _compile(
        [seen_update(returning=False), held, made, read], dialect)
    text = (
        "BEGIN NOT ATOMIC\n"
        "DECLARE EXIT HANDLER FOR SQLEXCEPTION BEGIN ROLLBACK; RESIGNAL; "
        "END;\n"
        "START TRANSACTION;\n"
        f"{update};\n"
        "IF ROW_COUNT() = 1 THEN\n"
        f"{held};\n{made};\n{read};\n"
        "END IF;\n"
        "COMMIT;\n"
        "END")
    return text, constants


def _compile(statements, dialect):
    """([SQL text of each statement], their constant parameters):
    SQLAlchemy names the constants it binds (deleted = 0 ...) per
    statement, so one name must mean one value across them."""
    texts, constants = [], {}
    for statement in statements:
        compiled = statement.compile(dialect=dialect)
        texts.append(str(compiled))
        for name, value in compiled.params.items():
            if value is not None and \
                    constants.setdefault(name, value) != value:
                raise AssertionError(f"parameter {name} differs between "
                                     f"the claim's statements")
    return texts, constants


def _param(prefix, table, name):
    return sa.bindparam(f"{prefix}_{name}", type_=table.c[name].type)


def one_statement_params(update_params, ledger_row, instance_row):
    """The parameters of ``run_one_statement`` for a claim."""
    params = dict(update_params)
    for name in _LEDGER_COLUMNS:
        params[f"ledger_{name}"] = ledger_row[name]
    for name, value in instance_row.items():
        params[f"instance_{name}"] = value
    return params


def run_in_transaction(engine, params, ledger_row):
    """SQLite: the claim's UPDATE (returning the node's usage), ledger row
    and INSERT OR IGNORE of the instance row in one BEGIN IMMEDIATE
    transaction on a pooled connection's own cursor. The node's usage as
    stored (``nodes.UsageRow``), or None when it wrote nothing: the node
    moved on, the instance row exists already, or the driver failed (the
    caller then claims the ordinary way, which reads the node, decides
    and reports exactly as it would have)."""
    plan = _sqlite_plan(engine.dialect, tuple(
        name[len("instance_"):] for name in params
        if name.startswith("instance_")), tuple(ledger_row))
    values = dict(params)
    values.update((f"ledger_{name}", value)
                  for name, value in ledger_row.items())
    values["ledger_created_at"] = db_api.utcnow()
    connection = engine.raw_connection()
    try:
        cursor = connection.cursor()
        try:
            return _claim_on_cursor(cursor, plan, values)
        finally:
            db_engine.close_cursor(cursor)
    except engine.dialect.loaded_dbapi.Error:
        return None
    finally:
        connection.close()


def _claim_on_cursor(cursor, plan, values):
    update, ledger, instance, results = plan
    cursor.execute("BEGIN IMMEDIATE")
    try:
        cursor.execute(update.sql, update.bind(values))
        stored = cursor.fetchone()
        if stored is None:
            cursor.execute("ROLLBACK")
            return None
        stored = nodes_mod.UsageRow(
            (name, value if convert is None else convert(value))
            for (name, convert), value in zip(results, stored))
        values.update(_node_id=stored["id"], _host=stored["host"],
                      _launched_on=stored["host"],
                      _node=stored["hypervisor_hostname"])
        cursor.execute(ledger.sql, ledger.bind(values))
        cursor.execute(instance.sql, instance.bind(values))
        if cursor.rowcount != 1:        # the instance row exists
            cursor.execute("ROLLBACK")
            return None
        cursor.execute("COMMIT")
        return stored
    except BaseException:
        cursor.execute("ROLLBACK")
        raise


class _Compiled:
    """One statement's SQL for the driver, and its parameters in order
    (qmark style), each through its type's bind processor."""

    def __init__(self, statement, dialect):
        compiled = statement.compile(dialect=dialect)
        self.sql = str(compiled)
        self.constants = {name: value for name, value
                          in compiled.params.items() if value is not None}
        self.order = [(name, compiled.binds[name].type.bind_processor(
            dialect)) for name in compiled.positiontup]

    def bind(self, values):
        merged = dict(self.constants, **values)
        return [merged[name] if convert is None else convert(merged[name])
                for name, convert in self.order]


def _sqlite_plan(dialect, instance_columns, ledger_columns):
    key = ("sqlite", instance_columns, ledger_columns)
    plan = _BUILT.get(key)
    if plan is None:
        nodes, ledger, instances = (schema.compute_nodes, schema.allocations,
                                    schema.instances)
        columns = {name: _param("ledger", ledger, name)
                   for name in ledger_columns}
        columns["compute_node_id"] = sa.bindparam("_node_id",
                                                  type_=sa.Integer)
        columns["created_at"] = _param("ledger", ledger, "created_at")
        placed = {name: _param("instance", instances, name)
                  for name in instance_columns}
        placed.update(
            host=sa.bindparam("_host", type_=instances.c.host.type),
            node=sa.bindparam("_node", type_=instances.c.node.type),
            compute_id=sa.bindparam("_node_id", type_=sa.Integer),
            launched_on=sa.bindparam("_launched_on",
                                     type_=instances.c.host.type),
            created_at=db_api.server_utcnow())
        results = tuple((name, nodes.c[name].type.result_processor(
            dialect, None)) for name in nodes_mod.USAGE_COLUMNS)
        plan = _BUILT[key] = (
            _Compiled(seen_update(returning=True), dialect),
            _Compiled(sa.insert(ledger).values(columns), dialect),
            _Compiled(sa.insert(instances).values(placed)
                      .prefix_with("OR IGNORE"), dialect),
            results)
    return plan
