"""The client of a cells service, on the bus of the cell it serves.

A cells service listens on its own cell's bus (``[DEFAULT]
transport_url``), topic ``cells``. Its parent reaches it with the URL
the parent's ``cells`` table records for it, and it reaches its parent
the same way: every client here is made for one URL.

Calls between cells wait ``[cells] call_timeout`` at most (a build may
pass a shorter budget: see :mod:`hoststate.cells.routing`); the
broadcast up is a cast, so a parent that is down never holds a child
back.
"""
from hoststate import rpc
from hoststate.cells import rows

TOPIC = "cells"

#: the cells API's RPC version; history:
#: 1.0 - hello, path, report_state, build_instances, sync_watermark,
#:       sync_instances, delete_instance, instance_states, view
#: 1.1 - capacities
API_VERSION = "1.1"
#: what a call is sent as unless its method is newer: a 1.1 service
#: answers a 1.0 one's calls
BASE_VERSION = "1.0"


class CellsAPI:
    """What one cell's cells service answers (``url``: its bus; None:
    this process's own bus, ``conf.transport_url``)."""

    def __init__(self, conf, url=None, timeout=None):
        self.url = url
        self._client = rpc.get_client(
            conf, TOPIC, BASE_VERSION, url=url,
            timeout=timeout or conf.cells.call_timeout)

    def _call(self, context, method, timeout=None, **kwargs):
        client = self._client if timeout is None else \
            self._client.prepare(timeout=timeout)
        return client.call(context, method, **kwargs)

    @rpc.errors_as_sent
    def hello(self, context, timeout=None):
        """{name, path, parent}: who serves there (``path`` None while
        it has not heard it; ``parent`` the name its table gives)."""
        return self._call(context, "hello", timeout)

    @rpc.errors_as_sent
    def path(self, context, timeout=None):
        """The cell's path from the top (``api!child1``)."""
        return self._call(context, "path", timeout)

    def report_state(self, context, path, capabilities, capacity):
        """A child's broadcast: its subtree's capabilities and capacity
        (primitives of :mod:`hoststate.cells.capabilities` and
        :mod:`hoststate.cells.capacity`)."""
        self._client.cast(context, "report_state", path=path,
                          capabilities=capabilities, capacity=capacity)

    @rpc.errors_as_sent
    def build_instances(self, context, request_spec, instance_uuids,
                        path=None, hops=0, budget_s=None, expires_at=None):
        """[[uuid, qualified host, node]] where the cell's subtree cast
        each build; NoValidHost (with every cell's reason) when no cell
        of it can. ``expires_at``: wall-clock seconds after which the
        cell drops the request unanswered (its caller has given up)."""
        return self._call(context, "build_instances", budget_s,
                          request_spec=request_spec,
                          instance_uuids=list(instance_uuids), hops=hops,
                          budget_s=budget_s, expires_at=expires_at)

    def schedule_and_build_instances(self, context, request_spec,
                                     instance_uuids):
        """``build_instances`` from the top, as the conductor's method of
        this name is called (``hoststate boot`` talks to either)."""
        return self.build_instances(context, request_spec, instance_uuids)

    @rpc.errors_as_sent
    def sync_watermark(self, context, path):
        """The newest change of ``path``'s instances the top holds
        (ISO text, or None): where a restarted child resumes."""
        return self._call(context, "sync_watermark", path=path)

    @rpc.errors_as_sent
    def sync_instances(self, context, path, rows):
        """Send ``rows`` (changes of ``path``'s instances) up to the top;
        returns the uuids the top refused because another cell owns them
        (the sender deletes them: an instance lives in one cell)."""
        return self._call(context, "sync_instances", path=path, rows=rows)

    @rpc.errors_as_sent
    def delete_instance(self, context, instance_uuid, owner=None, hops=0):
        """Delete the instance in the cell ``owner`` (a path in the
        subtree; None: ask the top's records); returns its node, or
        None."""
        return self._call(context, "delete_instance",
                          instance_uuid=instance_uuid, owner=owner,
                          hops=hops)

    @rpc.errors_as_sent
    def instance_states(self, context, instance_uuids):
        """{uuid: {vm_state, task_state, host, node, reasons}}, as the
        conductor's method of this name, from the top's records."""
        return self._call(context, "instance_states",
                          instance_uuids=list(instance_uuids))

    @rpc.errors_as_sent
    def capacities(self, context):
        """[rows.CellCapacity] the cell's service holds: its own nodes,
        each child's last report, the subtree's sum it sends up."""
        client = self._client.prepare(version="1.1")
        return [rows.CellCapacity(**row)
                for row in client.call(context, "capacities")]

    @rpc.errors_as_sent
    def view(self, context, kind, options, path=None, hops=0,
             budget_s=None):
        """[{path, state, rows}] of every cell of the subtree, for the
        listing ``kind`` (:mod:`hoststate.cells.views`)."""
        return self._call(context, "view", budget_s, kind=kind,
                          options=options, path=path, hops=hops,
                          budget_s=budget_s)
