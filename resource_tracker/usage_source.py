"""Everything a host's periodic update counts, read in a few queries.

An agent with a thousand nodes must not run a thousand instance queries and
build fifty thousand versioned objects every cycle. This reads the host's
instances as light records (only what the recount reads, documents parsed
once per distinct text: most instances share a few flavors, and records
made only for the nodes whose recount needs them), its ledger rows as
plain tuples and its in-progress migrations, grouped by node; and the
host's node rows as they are stored, so that the agent builds ComputeNode
objects only for rows that changed.
"""
import collections
import collections.abc
import functools
import operator

import sqlalchemy as sa

from hoststate.db import api as db_api
from hoststate.db import schema
from hoststate.objects import base as obj_base
from hoststate.objects import compute_node as cn_obj
from hoststate.objects import fields as hs_fields
from hoststate.objects import indirection
from hoststate.objects import flavor as flavor_obj
from hoststate.objects import instance as instance_obj
from hoststate.objects import migration as migration_obj
from hoststate.objects import migration_context as mc_obj
from hoststate.objects import numa as numa_obj
from hoststate.objects import pci as pci_obj

#: The instance columns read, in the order ``InstanceRecord`` unpacks them
#: (the last four are JSON documents).
_COLUMNS = ("uuid", "host", "node", "vm_state", "task_state", "image_ref",
            "os_type", "project_id", "instance_type_id", "flavor",
            "numa_topology", "pci_requests", "migration_context")
INSTANCE_COLUMNS = _COLUMNS   # what recount_fast reads of the rows


class InstanceRecord:
    """The parts of an instance the recount reads, duck-typed like one."""

    __slots__ = _COLUMNS

    def __init__(self, row, documents):
        """``row`` holds the columns in ``_COLUMNS`` order. One assignment
        per slot, spelt out: a loop over the names cost about three times
        as much, and a recount of many nodes makes many records."""
        (self.uuid, self.host, self.node, self.vm_state, self.task_state,
         self.image_ref, self.os_type, self.project_id,
         self.instance_type_id, flavor, numa_topology, pci_requests,
         migration_context) = row
        load = documents.load
        self.flavor = None if flavor is None else \
            load(flavor_obj.Flavor, flavor)
        self.numa_topology = None if numa_topology is None else \
            load(numa_obj.InstanceNUMATopology, numa_topology)
        self.pci_requests = None if pci_requests is None else \
            load(pci_obj.InstancePCIRequests, pci_requests)
        self.migration_context = None if migration_context is None else \
            load(mc_obj.MigrationContext, migration_context)

    def obj_get(self, name, default=None):
        value = getattr(self, name)
        return default if value is None else value


class DocumentCache:
    """Parse each distinct JSON text once. Parsed objects are shared, so
    callers must not change them (the recount only reads them)."""

    def __init__(self):
        self._parsed = {}

    def load(self, cls, text):
        key = (cls, text)
        if key not in self._parsed:
            self._parsed[key] = _shared_flavor(text) \
                if cls is flavor_obj.Flavor else hs_fields.load_json(cls, text)
        return self._parsed[key]


@functools.lru_cache(maxsize=256)
def _shared_flavor(text):
    """The Flavor stored as ``text``, parsed once per process: a host's
    instances share a few flavors' documents word for word, and every
    agent start and recount cycle parsed them again. Shared as the
    cache's objects are (nobody changes them)."""
    return hs_fields.load_json(flavor_obj.Flavor, text)


class NodeInstances(collections.abc.Sequence):
    """One node's instances as ``read_host`` reads them: the rows (tuples
    in ``_COLUMNS`` order), made into InstanceRecords only when someone
    asks for them, and then once.

    The steady-state check reads ``rows`` as they are (``recount_fast``);
    a cycle that makes no records makes no objects that outlive a node,
    and leaves the garbage collector little to walk."""

    def __init__(self, documents, rows=()):
        self.documents = documents
        self.rows = list(rows)
        self._records = None

    def records(self):
        if self._records is None:
            self._records = [InstanceRecord(row, self.documents)
                             for row in self.rows]
        return self._records

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, index):
        return self.records()[index]

    def __iter__(self):
        return iter(self.records())


#: The ledger columns read, in the table's order.
LEDGER_COLUMNS = tuple(schema.allocations.c.keys())


class LedgerRows(list):
    """One node's ledger rows as ``read_host`` reads them: tuples of every
    ``allocations`` column, in ``COLUMNS`` order.

    ``facts`` picks, by position, what the steady-state check compares;
    ``mappings`` gives the rows as ``periodic.recount`` reads them."""

    COLUMNS = LEDGER_COLUMNS
    facts = operator.itemgetter(*(LEDGER_COLUMNS.index(name) for name in (
        "instance_uuid", "consumer_uuid", "vcpus", "memory_mb", "disk_gb",
        "numa_topology", "pci_allocation")))

    def mappings(self):
        return [dict(zip(self.COLUMNS, row)) for row in self]


def read_host(context, host, mirror=None):
    """({nodename: NodeInstances}, [Migration in progress], {uuid:
    instance of a migration that lives on another host}, {node id:
    LedgerRows}); from the database, or from a conductor when this
    process has none: only what changed since the last read when the
    agent keeps a ``mirror`` (``hoststate.resource_tracker.host_rows``)."""
    if indirection.is_remote():
        from hoststate.resource_tracker import host_rows
        read = mirror.usage(context) if mirror is not None else \
            host_rows.usage_of_host(context, host)
    else:
        read = read_host_rows(context, host)
    return _grouped(*read)


def read_host_rows(context, host):
    """(instance rows, ledger rows, [Migration in progress], {uuid:
    instance of such a migration living on another host})."""
    with db_api.reading(context) as conn:
        instances = list(_plain_rows(conn, _built("instances of host"),
                                     {"host": host}))
        ledger = list(_plain_rows(conn, _built("ledger of host"),
                                  {"host": host}))
    uuid_at = _COLUMNS.index("uuid")
    migrations, others = migrations_of_host(
        context, host, {row[uuid_at] for row in instances})
    return instances, ledger, migrations, others


def migrations_of_host(context, host, local=()):
    """([Migration in progress with ``host`` at an end], {uuid: instance
    of such a migration living on another host}). ``local``: uuids known
    to be the host's live instances (not looked up again)."""
    migrations = list(migration_obj.MigrationList.get_in_progress_by_host(
        context, host))
    wanted = sorted({m.instance_uuid for m in migrations} - set(local))
    found = instance_obj.InstanceList.get_by_uuids(context, wanted) \
        if wanted else ()
    return migrations, {i.uuid: i for i in found if i.host != host}


def _grouped(instances, ledger_rows, migrations, others):
    cache = DocumentCache()
    by_node = collections.defaultdict(lambda: NodeInstances(cache))
    ledger = collections.defaultdict(LedgerRows)
    node_of_instance = _COLUMNS.index("node")
    node_of_row = LedgerRows.COLUMNS.index("compute_node_id")
    for row in instances:
        by_node[row[node_of_instance]].rows.append(row)
    for row in ledger_rows:
        ledger[row[node_of_row]].append(row)
    return by_node, migrations, others, ledger


def _plain_rows(conn, query, params, batch=100):
    """The rows of ``query`` as plain tuples, fetched a batch at a time:
    a SQLAlchemy row is an object the garbage collector tracks, a tuple
    of strings and numbers is not, and a hundred thousand rows kept for
    a cycle made it walk them over and over."""
    for part in conn.execute(query, params).partitions(batch):
        yield from map(tuple, part)


_BUILT = {}


def _built(name, read_deleted="no"):
    """One of the statements an agent's start and every periodic update
    run, ``host`` a parameter, built once (building cost more than
    running them): the live instances of a host (``_COLUMNS``), the
    ledger rows of its live nodes, its nodes (as ``read_deleted`` says)
    in id order."""
    query = _BUILT.get((name, read_deleted))
    if query is None:
        instances, ledger = schema.instances, schema.allocations
        nodes = schema.compute_nodes
        host = sa.bindparam("host", type_=nodes.c.host.type)
        query = _BUILT[name, read_deleted] = {
            "instances of host": lambda: sa.select(
                *(instances.c[column] for column in _COLUMNS)).where(
                    instances.c.host == host, instances.c.deleted == 0),
            "ledger of host": lambda: sa.select(ledger).join(
                nodes, nodes.c.id == ledger.c.compute_node_id).where(
                    nodes.c.host == host, nodes.c.deleted == 0),
            "nodes of host": lambda: sa.select(nodes).where(
                db_api.not_deleted(nodes, read_deleted),
                nodes.c.host == host).order_by(nodes.c.id),
        }[name]()
    return query


def read_nodes(context, host, mirror=None):
    """The host's live ``compute_nodes`` rows (what ``ComputeNodeList.
    get_all_by_host`` reads), as SQLAlchemy rows (or rows alike, from a
    conductor, through the agent's ``mirror`` when it keeps one): an
    agent compares them with the rows its nodes were built from, and
    builds objects only for the rows that changed."""
    if indirection.is_remote():
        from hoststate.resource_tracker import host_rows
        if mirror is not None and context.read_deleted == "no":
            return mirror.node_rows(context)
        return host_rows.nodes_of_host(context, host)
    with db_api.reading(context) as conn:
        return conn.execute(_built("nodes of host", context.read_deleted),
                            {"host": host}).all()


def nodes_of_rows(context, rows):
    """ComputeNodes of ``compute_nodes`` rows, as the object list reads
    them."""
    return list(obj_base.ovo_base.obj_make_list(
        context, cn_obj.ComputeNodeList(context),
        [row._mapping for row in rows]))
