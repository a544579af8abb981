"""A compute host's raw rows, for an agent whose database is a conductor.

An agent reads its host's node rows, instances and ledger with raw
queries (:mod:`hoststate.resource_tracker.usage_source`): building tens of
thousands of objects per cycle cost more than the rest of the update. An
agent without database access asks a conductor for the same rows with one
remotable call each (:class:`ComputeHostRows`), and gets them as plain
lists; :class:`WireRow` gives a node row back the attribute and
``_mapping`` access of the SQLAlchemy row the local read returns, so the
agent's code is the same either way.

Over a real broker the rows travel as JSON: a time stamp arrives as its
ISO text. The agent only compares rows with rows read the same way and
loads them into objects, whose fields parse that text.
"""
import datetime
import threading

from hoststate.objects import base
from hoststate.objects import indirection
from hoststate.objects import instance as instance_obj
from hoststate.objects import migration as migration_obj
from hoststate.resource_tracker import host_deltas
from hoststate.resource_tracker import usage_source


class WireRow(tuple):
    """A row of named columns that came over the bus."""

    __slots__ = ()
    #: column name -> position; set per subclass by ``row_type``
    _index = {}

    def __getattr__(self, name):
        try:
            return self[self._index[name]]
        except KeyError:
            raise AttributeError(name) from None

    @property
    def _mapping(self):
        return dict(zip(self._index, self))


_ROW_TYPES = {}


def row_type(columns):
    """The WireRow class of ``columns`` (one per distinct column list)."""
    columns = tuple(columns)
    cls = _ROW_TYPES.get(columns)
    if cls is None:
        cls = _ROW_TYPES[columns] = type(
            "WireRow", (WireRow,),
            {"__slots__": (), "_index": {c: i for i, c in
                                         enumerate(columns)}})
    return cls


def rows_of(columns, values):
    cls = row_type(columns)
    return [cls(row) for row in values]


@base.HoststateObjectRegistry.register
class ComputeHostRows(base.HoststateObject):
    """Remotable reads of one host's rows, answered as plain values."""

    # Version 1.0: nodes_of_host, usage_of_host, placed_instance,
    #              changes_of_host
    # Version 1.1: take_build
    VERSION = "1.1"
    fields = {}

    @classmethod
    @base.remotable
    def nodes_of_host(cls, context, host):
        """{"columns": [...], "rows": [[...]]}: the host's node rows."""
        rows = usage_source.read_nodes(context, host)
        columns = list(rows[0]._fields) if rows else []
        return {"columns": columns, "rows": [list(row) for row in rows]}

    @classmethod
    @base.remotable
    def usage_of_host(cls, context, host):
        """What the periodic update counts, as plain rows and lists."""
        instances, ledger, migrations, others = \
            usage_source.read_host_rows(context, host)
        return {"instances": [list(row) for row in instances],
                "ledger": [list(row) for row in ledger],
                "migrations": migration_obj.MigrationList(
                    objects=migrations),
                "others": instance_obj.InstanceList(
                    objects=list(others.values()))}

    @classmethod
    @base.remotable
    def changes_of_host(cls, context, host, known, since):
        """What changed on ``host`` since ``since`` for an agent holding
        ``known`` ([[node id, generation]]): ``host_deltas.changes``."""
        answer = host_deltas.changes(context, host, dict(known),
                                     _as_datetime(since))
        answer["migrations"] = migration_obj.MigrationList(
            objects=answer["migrations"])
        answer["others"] = instance_obj.InstanceList(
            objects=list(answer["others"].values()))
        return answer

    @classmethod
    @base.remotable
    def placed_instance(cls, context, instance_uuid):
        """{"instance": Instance, "held": [its ledger rows]}: what an agent
        adopting a claim is handed (``instance.get_placed``)."""
        instance, held = instance_obj.get_placed(context, instance_uuid)
        return {"instance": instance, "held": [dict(row) for row in held]}

    @classmethod
    @base.remotable
    def take_build(cls, context, instance_uuid, host, nodename):
        """``placed_instance``'s answer once ``host``'s agent has taken
        the build (``instance.take_build``); {"instance": None} when the
        build no longer stands. A write: only ``host`` itself may ask
        (``conductor.policy``)."""
        taken = instance_obj.take_build(context, instance_uuid, host,
                                        nodename)
        if taken is None:
            return {"instance": None, "held": []}
        instance, held = taken
        return {"instance": instance, "held": [dict(row) for row in held]}


def _as_datetime(value):
    """A time stamp sent back by an agent: a datetime on the in-process
    bus, its ISO text over a broker (JSON)."""
    if value is None or isinstance(value, datetime.datetime):
        return value
    return datetime.datetime.fromisoformat(value)


class HostMirror:
    """What one agent read of its host through a conductor, kept between
    cycles and brought up to date with one ``changes_of_host`` call each
    (see ``host_deltas``): the node rows, the instances, the ledger rows,
    the migrations in progress."""

    _NODE_AT = usage_source.INSTANCE_COLUMNS.index("node")
    _LEDGER_NODE_AT = usage_source.LEDGER_COLUMNS.index("compute_node_id")

    def __init__(self, host):
        self.host = host
        self._lock = threading.Lock()
        self._since = None
        self._nodes = {}         # node id -> WireRow
        self._instances = {}     # uuid -> row tuple
        self._ledger = {}        # node id -> [row tuple]
        self._migrations, self._others = [], {}

    def node_rows(self, context):
        """The host's live node rows, in id order, as of now."""
        with self._lock:
            self._refresh(context)
            return [self._nodes[i] for i in sorted(self._nodes)]

    def usage(self, context):
        """(instance rows, ledger rows, [Migration], {uuid: Instance}) as
        ``usage_source.read_host_rows``, as of now."""
        with self._lock:
            self._refresh(context)
            return (list(self._instances.values()),
                    [row for rows in self._ledger.values() for row in rows],
                    list(self._migrations), dict(self._others))

    def _refresh(self, context):
        known = [[node_id, row.generation]
                 for node_id, row in self._nodes.items()]
        self._merge(ComputeHostRows.changes_of_host(context, self.host,
                                                    known, self._since))

    def _merge(self, answer):
        live = set(answer["live"])
        for node_id in [i for i in self._nodes if i not in live]:
            del self._nodes[node_id]
            self._ledger.pop(node_id, None)
        for row in rows_of(answer["node_columns"], answer["nodes"]):
            self._nodes[row.id] = row
        names = set(answer["changed_names"])
        if names:
            self._instances = {uuid: row for uuid, row in
                               self._instances.items()
                               if row[self._NODE_AT] not in names}
        for row in answer["instances"]:
            self._instances[row[0]] = tuple(row)
        for uuid in answer["removed"]:
            self._instances.pop(uuid, None)
        for node_id in answer["changed"]:
            self._ledger[node_id] = []
        for row in answer["ledger"]:
            self._ledger.setdefault(row[self._LEDGER_NODE_AT], []).append(
                tuple(row))
        self._migrations = list(answer["migrations"])
        self._others = {i.uuid: i for i in answer["others"]}
        self._since = answer["now"]


def nodes_of_host(context, host):
    answer = ComputeHostRows.nodes_of_host(context, host)
    return rows_of(answer["columns"], answer["rows"])


def usage_of_host(context, host):
    """(instance rows, ledger rows, [Migration], {uuid: Instance})."""
    answer = ComputeHostRows.usage_of_host(context, host)
    return ([tuple(row) for row in answer["instances"]],
            [tuple(row) for row in answer["ledger"]],
            list(answer["migrations"]),
            {i.uuid: i for i in answer["others"]})


def placed_instance(context, instance_uuid):
    """(Instance, its ledger rows): from the database, or a conductor."""
    if not indirection.is_remote():
        return instance_obj.get_placed(context, instance_uuid)
    answer = ComputeHostRows.placed_instance(context, instance_uuid)
    return answer["instance"], answer["held"]


def take_build(context, instance_uuid, host, nodename):
    """(Instance, its ledger rows) of the build ``host`` takes, or None
    when it no longer stands: from the database, or a conductor."""
    if not indirection.is_remote():
        return instance_obj.take_build(context, instance_uuid, host,
                                       nodename)
    answer = ComputeHostRows.take_build(context, instance_uuid=instance_uuid,
                                        host=host, nodename=nodename)
    if answer["instance"] is None:
        return None
    return answer["instance"], answer["held"]
