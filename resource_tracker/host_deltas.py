"""What changed on a host since an agent last asked: the conductor's side
of an agent's periodic reads.

An agent with a database reads all of its host's nodes, instances and
ledger rows every cycle: local queries, cheap. Through a conductor that
would send a thousand node rows and fifty thousand instance rows over the
bus each cycle. Instead the agent keeps what it read (``host_rows.
HostMirror``) and asks only for what changed:

* **nodes**: the agent sends the generation of each node it holds; every
  write of a node moves its generation (a claim, a release and a ledger
  change do too), so only the rows whose generation differs travel, and
  the ids of the nodes no longer live on the host;
* **instances and ledger of a changed node**: all of them, replacing what
  the agent holds for that node (a claim, a release or a move changes the
  node's ledger, hence its generation, in the same transaction);
* **other instance changes** (a state change, a soft delete): the rows of
  the host's instances stamped since the agent's last read, less an
  overlap that covers clock skew between the writers (``OVERLAP``);
  deleted ones as uuids to drop.

The first read (nothing known) is the whole host, as a local read.
"""
import datetime

import sqlalchemy as sa

from hoststate.db import api as db_api
from hoststate.db import schema
from hoststate.resource_tracker import usage_source

#: How far before its last read an agent's next read looks for changed
#: instances. Instance rows are stamped by the clocks of the processes that
#: write them (conductors, schedulers); the delta is taken on the database
#: server's clock, so any skew between them up to this much is covered.
#: Rows changed in the overlap are sent twice, which is harmless.
OVERLAP = datetime.timedelta(seconds=30)
#: ids per IN list
_CHUNK = 500


def changes(context, host, known, since):
    """The host's changes since ``since`` (the ``now`` of the agent's last
    read, or None for everything) given ``known`` ({node id: generation}
    of the nodes the agent holds). A dict of plain values (see the module
    docstring); ``now`` is the server's time of this read."""
    nodes = schema.compute_nodes
    with db_api.reading(context) as conn:
        now = conn.execute(sa.select(db_api.server_utcnow())).scalar_one()
        live = conn.execute(
            sa.select(nodes.c.id, nodes.c.generation,
                      nodes.c.hypervisor_hostname)
            .where(nodes.c.host == host, nodes.c.deleted == 0)).all()
        changed = [row for row in live
                   if known.get(row.id) != row.generation]
        node_rows = _node_rows(conn, [row.id for row in changed])
        names = [row.hypervisor_hostname for row in changed]
        instances, removed = _instances(conn, host, names, since)
        ledger = _ledger(conn, [row.id for row in changed])
    migrations, others = usage_source.migrations_of_host(context, host)
    return {"now": now, "live": [row.id for row in live],
            "changed": [row.id for row in changed],
            "changed_names": names, "node_columns": list(nodes.c.keys()),
            "nodes": node_rows, "instances": instances, "removed": removed,
            "ledger": ledger, "migrations": migrations, "others": others}


def _node_rows(conn, ids):
    nodes = schema.compute_nodes
    rows = []
    for start in range(0, len(ids), _CHUNK):
        rows += conn.execute(sa.select(nodes).where(
            nodes.c.id.in_(ids[start:start + _CHUNK]))).all()
    return sorted((list(row) for row in rows), key=lambda row: row[0])


def _instances(conn, host, changed_names, since):
    """(rows of the host's live instances on a changed node or stamped
    since ``since``, uuids of its instances deleted since)."""
    table = schema.instances
    columns = [table.c[name] for name in usage_source.INSTANCE_COLUMNS]
    on_host = sa.and_(table.c.host == host, table.c.deleted == 0)
    if since is None:
        return [list(r) for r in conn.execute(
            sa.select(*columns).where(on_host))], []
    after = since - OVERLAP
    rows = {}
    for start in range(0, len(changed_names), _CHUNK):
        for row in conn.execute(sa.select(*columns).where(
                on_host, table.c.node.in_(
                    changed_names[start:start + _CHUNK]))):
            rows[row[0]] = list(row)
    stamped = sa.or_(table.c.updated_at >= after,
                     table.c.created_at >= after)
    for row in conn.execute(sa.select(*columns).where(on_host, stamped)):
        rows[row[0]] = list(row)
    removed = conn.execute(sa.select(table.c.uuid).where(
        table.c.host == host, table.c.deleted != 0,
        table.c.deleted_at >= after)).scalars().all()
    return list(rows.values()), [u for u in removed if u not in rows]


def _ledger(conn, node_ids):
    ledger = schema.allocations
    rows = []
    for start in range(0, len(node_ids), _CHUNK):
        rows += [list(row) for row in conn.execute(sa.select(ledger).where(
            ledger.c.compute_node_id.in_(node_ids[start:start + _CHUNK])))]
    return rows
