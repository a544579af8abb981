"""Allocation: what one consumer holds on one node (a row of the ledger).

The consumer is an instance, or the migration that holds the other side
of the instance's move (the destination of a resize, a cold or live
migration or an evacuation, until the move is confirmed or reverted).
``instance_uuid`` always names the instance, so everything an instance
holds anywhere is one query.

The row is the truth about usage: the counters on ``compute_nodes`` are
reserved + the sum of the node's rows, and giving back returns exactly
what the row says. Rows are written only together with their node's
counters: by ``ComputeNode.save_with_ledger`` (the compute side) and by
the scheduler's claim (``hoststate.scheduler.claims``), each in one
transaction.
"""
from oslo_serialization import jsonutils

from hoststate import exception
from hoststate.conf import limits
from hoststate.db import schema
from hoststate.objects import base
from hoststate.objects import fields
from hoststate.objects import numa as numa_obj


# Version 1.0: initial version
@base.HoststateObjectRegistry.register
class Allocation(base.RowObject, base.HoststateObject,
                 base.TimestampedObject):
    VERSION = "1.0"
    TABLE = schema.allocations
    NOT_FOUND = exception.AllocationNotFound

    fields = {
        "id": fields.IntegerField(read_only=True),
        "consumer_uuid": fields.UUIDField(),
        "instance_uuid": fields.UUIDField(),
        "compute_node_id": fields.IntegerField(),
        "vcpus": fields.NonNegativeIntegerField(),
        "memory_mb": fields.NonNegativeIntegerField(),
        "disk_gb": fields.NonNegativeIntegerField(),
        "numa_topology": fields.ObjectField("InstanceNUMATopology",
                                            nullable=True, default=None),
        # hardware.pci.Allocation.to_dict(): the devices taken, by pool
        "pci_allocation": fields.DictOfStringsField(
            length=limits.DOCUMENT_LENGTH, items=1, nullable=True,
            default=None),
    }

    @staticmethod
    def _from_db_object(context, allocation, row):
        base.load_row(allocation, context, row,
                      skip={"numa_topology", "pci_allocation"})
        allocation.numa_topology = None if row["numa_topology"] is None \
            else fields.load_json(numa_obj.InstanceNUMATopology,
                                  row["numa_topology"])
        allocation.pci_allocation = _pci_field(row["pci_allocation"])
        allocation.obj_reset_changes()
        return allocation

    @classmethod
    def from_row(cls, context, row):
        return cls._from_db_object(context, cls(), row)

    def column_values(self):
        """The row this allocation is stored as (without id)."""
        return {
            "consumer_uuid": self.consumer_uuid,
            "instance_uuid": self.instance_uuid,
            "compute_node_id": self.compute_node_id,
            "vcpus": self.vcpus, "memory_mb": self.memory_mb,
            "disk_gb": self.disk_gb,
            "numa_topology": None if self.obj_get("numa_topology") is None
            else fields.dump_json(self.numa_topology),
            "pci_allocation": pci_text(self.pci_allocation_dict()),
        }

    def pci_allocation_dict(self):
        """The PCI allocation as hardware.pci.Allocation.to_dict() gave it
        (None for no devices)."""
        value = self.obj_get("pci_allocation")
        if not value:
            return None
        return jsonutils.loads(value["document"])

    @classmethod
    @base.remotable
    def get_by_consumer(cls, context, consumer_uuid, compute_node_id):
        """The row of ``consumer_uuid`` on node ``compute_node_id``."""
        return cls._get(context, consumer_uuid, consumer_uuid=consumer_uuid,
                        compute_node_id=compute_node_id)


#: The ledger's columns as a join reads them beside another table's
#: (whose names they share: id, numa_topology...): (column, label).
JOINED_COLUMNS = tuple((name, f"ledger_{name}")
                       for name in schema.allocations.c.keys())


def joined_columns():
    """The ledger's columns, labelled, to select beside another table's."""
    return [schema.allocations.c[name].label(label)
            for name, label in JOINED_COLUMNS]


def joined_rows(rows):
    """The ledger rows (mappings of the table's own column names) in
    ``rows`` read with ``joined_columns`` through an outer join (none
    where the join found no row)."""
    return [{name: row[label] for name, label in JOINED_COLUMNS}
            for row in rows if row["ledger_id"] is not None]


def pci_text(document):
    """The column text of a PCI allocation dict (None for none)."""
    if not document or not document.get("requests"):
        return None
    return jsonutils.dumps(document, sort_keys=True)


def _pci_field(text):
    """The object field of a stored PCI allocation: its JSON text under
    ``document`` (a dict of strings travels over RPC as is)."""
    return None if text is None else {"document": text}


# Version 1.0: initial version
@base.HoststateObjectRegistry.register
class AllocationList(base.RowObjectList, base.HoststateObjectListBase,
                     base.HoststateObject):
    VERSION = "1.0"

    fields = {"objects": fields.ListOfObjectsField("Allocation")}

    @classmethod
    @base.remotable
    def get_by_node(cls, context, compute_node_id):
        return cls._list(context, compute_node_id=compute_node_id)

    @classmethod
    @base.remotable
    def get_by_nodes(cls, context, compute_node_ids):
        """Every row of the nodes, in one query."""
        return cls._list(context, compute_node_id=list(compute_node_ids))

    @classmethod
    @base.remotable
    def get_by_instance(cls, context, instance_uuid):
        """Everything ``instance_uuid`` holds, on every node."""
        return cls._list(context, instance_uuid=instance_uuid)

