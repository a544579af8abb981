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
from hoststate.objects import base
from hoststate.objects import indirection
from hoststate.objects import instance as instance_obj
from hoststate.objects import migration as migration_obj
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

    # Version 1.0: nodes_of_host, usage_of_host, placed_instance
    VERSION = "1.0"
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
    def placed_instance(cls, context, instance_uuid):
        """{"instance": Instance, "held": [its ledger rows]}: what an agent
        adopting a claim is handed (``instance.get_placed``)."""
        instance, held = instance_obj.get_placed(context, instance_uuid)
        return {"instance": instance, "held": [dict(row) for row in held]}


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
