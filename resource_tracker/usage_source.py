"""Everything a host's periodic update counts, read in two queries.

An agent with a thousand nodes must not run a thousand instance queries and
build fifty thousand versioned objects every cycle. This reads the host's
instances as light records (only what the recount reads, documents parsed
once per distinct text: most instances share a few flavors) and its
in-progress migrations, grouped by node.
"""
import collections

import sqlalchemy as sa

from hoststate.db import api as db_api
from hoststate.db import schema
from hoststate.objects import fields as hs_fields
from hoststate.objects import flavor as flavor_obj
from hoststate.objects import instance as instance_obj
from hoststate.objects import migration as migration_obj
from hoststate.objects import migration_context as mc_obj
from hoststate.objects import numa as numa_obj
from hoststate.objects import pci as pci_obj

_COLUMNS = ("uuid", "host", "node", "vm_state", "task_state", "image_ref",
            "os_type", "project_id", "instance_type_id", "flavor",
            "numa_topology", "pci_requests", "migration_context")

_DOCUMENTS = {
    "flavor": flavor_obj.Flavor,
    "numa_topology": numa_obj.InstanceNUMATopology,
    "pci_requests": pci_obj.InstancePCIRequests,
    "migration_context": mc_obj.MigrationContext,
}


class InstanceRecord:
    """The parts of an instance the recount reads, duck-typed like one."""

    __slots__ = _COLUMNS

    def __init__(self, row, documents):
        """``row`` holds the columns in ``_COLUMNS`` order."""
        for name, value in zip(_COLUMNS, row):
            cls = _DOCUMENTS.get(name)
            setattr(self, name, value if cls is None or value is None
                    else documents.load(cls, value))

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
            self._parsed[key] = hs_fields.load_json(cls, text)
        return self._parsed[key]


def read_host(context, host):
    """({nodename: [InstanceRecord]}, [Migration in progress], {uuid:
    instance of a migration that lives on another host})."""
    cache = DocumentCache()
    table = schema.instances
    query = (sa.select(*(table.c[name] for name in _COLUMNS))
             .where(table.c.host == host, table.c.deleted == 0))
    by_node = collections.defaultdict(list)
    with db_api.transaction(context) as conn:
        for row in conn.execute(query):
            record = InstanceRecord(row, cache)
            by_node[record.node].append(record)
    migrations = list(migration_obj.MigrationList.get_in_progress_by_host(
        context, host))
    local = {r.uuid for records in by_node.values() for r in records}
    remote = sorted({m.instance_uuid for m in migrations} - local)
    others = {i.uuid: i for i in instance_obj.InstanceList.get_by_uuids(
        context, remote)} if remote else {}
    return by_node, migrations, others
