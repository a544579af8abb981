"""Selection: one node the scheduler chose, and how to claim it.

``select_destinations`` returns, per instance, a chosen Selection and its
alternates; the conductor tries them in order. Each names the node both by
(host, nodename) and by uuid, the cell whose database holds it, and the
limits the filters worked out so the claim on the node enforces the same
numbers.
"""
from oslo_serialization import jsonutils

from hoststate.conf import limits
from hoststate.objects import base
from hoststate.objects import fields
from hoststate.objects import request_spec  # noqa: F401 (SchedulerLimits)


# Version 1.0: service_host, nodename, compute_node_uuid, cell_uuid, limits,
#              allocation_request, allocation_request_version
# Version 1.1: added availability_zone
@base.HoststateObjectRegistry.register
class Selection(fields.DefaultsOnInit, base.HoststateObject):
    """A chosen (or alternate) compute node for one instance.

    ``allocation_request`` is JSON text (the claim the scheduler made, in
    the format ``allocation_request_version`` names), kept as text so it
    travels unchanged.
    """

    VERSION = "1.1"
    FIELDS_ADDED = {"availability_zone": "1.1"}

    fields = {
        "service_host": fields.StringField(),
        "nodename": fields.StringField(),
        "compute_node_uuid": fields.UUIDField(),
        "cell_uuid": fields.UUIDField(),
        "limits": fields.ObjectField("SchedulerLimits", nullable=True,
                                     default=None),
        "allocation_request": fields.StringField(
            length=limits.DOCUMENT_LENGTH, nullable=True, default=None),
        "allocation_request_version": fields.StringField(nullable=True,
                                                         default=None),
        "availability_zone": fields.StringField(nullable=True, default=None),
    }

    @classmethod
    def from_node(cls, service_host, nodename, compute_node_uuid, cell_uuid,
                  limits=None, allocation_request=None,
                  allocation_request_version=None, availability_zone=None):
        """A Selection from plain values (no host-state object needed).

        ``allocation_request`` may be given as a dict; it is stored as its
        JSON text.
        """
        if isinstance(allocation_request, dict):
            allocation_request = jsonutils.dumps(allocation_request,
                                                 sort_keys=True)
        selection = cls()
        selection.update({
            "service_host": service_host, "nodename": nodename,
            "compute_node_uuid": compute_node_uuid, "cell_uuid": cell_uuid,
            "limits": limits, "allocation_request": allocation_request,
            "allocation_request_version": allocation_request_version,
            "availability_zone": availability_zone,
        })
        return selection

    def to_dict(self):
        """The legacy host dict older callers expect:
        ``{"host", "nodename", "limits"}`` with limits as a dict."""
        limits = self.limits.to_dict() if self.limits is not None else {}
        return {"host": self.service_host, "nodename": self.nodename,
                "limits": limits}
