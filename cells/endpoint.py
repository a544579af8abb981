"""What a cells service serves on its cell's bus (topic ``cells``): thin
methods over :mod:`hoststate.cells.routing` and the top's records
(:mod:`hoststate.cells.instance_store`)."""
import dataclasses
import logging

import oslo_messaging as messaging

from hoststate import exception
from hoststate.cells import instance_feed
from hoststate.cells import instance_store
from hoststate.cells import routing
from hoststate.cells import rpcapi
from hoststate.objects import indirection

LOG = logging.getLogger(__name__)


class CellsEndpoint:
    target = messaging.Target(version=rpcapi.API_VERSION)

    def __init__(self, service):
        self.service = service

    @messaging.expose
    def hello(self, context):
        service = self.service
        parent = service.parent
        return {"name": service.name, "path": service.path,
                "parent": None if parent is None else parent.name}

    @messaging.expose
    def path(self, context):
        path = self.service.path
        if path is None:
            path = self.service.learn_path()
        if path is None:
            raise exception.CellPathUnknown(name=self.service.name)
        return path

    @messaging.expose
    def report_state(self, context, path, capabilities, capacity):
        self.service.heard(path, capabilities, capacity)

    @messaging.expose
    @messaging.expected_exceptions(exception.HoststateError)
    def build_instances(self, context, request_spec, instance_uuids,
                        path=None, hops=0, budget_s=None, expires_at=None):
        if path is not None:
            self.service.told_path(path)
        return routing.build(self.service, context, request_spec,
                             instance_uuids, hops, budget_s, expires_at)

    @messaging.expose
    @messaging.expected_exceptions(exception.HoststateError)
    @indirection.served_locally
    def sync_watermark(self, context, path):
        parent = self.service.parent_api()
        if parent is not None:        # only the top keeps the records
            return parent.sync_watermark(self.service.context, path)
        stamp = instance_store.watermark_of(self.service.context, path)
        return None if stamp is None else instance_feed.iso(stamp)

    @messaging.expose
    @messaging.expected_exceptions(exception.HoststateError)
    @indirection.served_locally
    def sync_instances(self, context, path, rows):
        return routing.sync_up(self.service, path, rows)

    @messaging.expose
    @messaging.expected_exceptions(exception.HoststateError)
    @indirection.served_locally
    def delete_instance(self, context, instance_uuid, owner=None, hops=0):
        return routing.delete(self.service, context, instance_uuid, owner,
                              hops)

    @messaging.expose
    @messaging.expected_exceptions(exception.HoststateError)
    @indirection.served_locally
    def instance_states(self, context, instance_uuids):
        return routing.instance_states(self.service, instance_uuids)

    @messaging.expose
    def capacities(self, context):
        return [dataclasses.asdict(row) for row in self.service.capacities()]

    @messaging.expose
    @messaging.expected_exceptions(exception.HoststateError)
    def view(self, context, kind, options, path=None, hops=0,
             budget_s=None):
        if path is not None:
            self.service.told_path(path)
        return routing.view(self.service, context, kind, options, hops,
                            budget_s)
