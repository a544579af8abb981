"""MigrationContext: what a move claimed at its destination, and what the
instance held before it.

Kept on the instance (the ``instances.migration_context`` column) for the
length of a move, so that confirm drops the ``old_`` side, revert drops the
``new_`` side, and the periodic update counts the right flavor on each node.
"""

from hoststate.objects import base
from hoststate.objects import fields


# Version 1.0: initial
@base.HoststateObjectRegistry.register
class MigrationContext(base.HoststateObject):
    VERSION = "1.0"

    fields = {
        "instance_uuid": fields.UUIDField(),
        "migration_id": fields.IntegerField(),
        "old_flavor": fields.ObjectField("Flavor", nullable=True),
        "new_flavor": fields.ObjectField("Flavor", nullable=True),
        "old_numa_topology": fields.ObjectField("InstanceNUMATopology",
                                                nullable=True),
        "new_numa_topology": fields.ObjectField("InstanceNUMATopology",
                                                nullable=True),
        "old_pci_requests": fields.ObjectField("InstancePCIRequests",
                                               nullable=True),
        "new_pci_requests": fields.ObjectField("InstancePCIRequests",
                                               nullable=True),
    }

    def side(self, prefix):
        """The flavor, NUMA topology and PCI requests of "old" or "new"."""
        return (self.obj_get(f"{prefix}_flavor"),
                self.obj_get(f"{prefix}_numa_topology"),
                self.obj_get(f"{prefix}_pci_requests"))
