"""A child cell's instance sync up to the top: one mechanism for live
changes and for catching up after an outage.

Every ``[cells] instance_sync_interval`` the cells service reads its
instances changed since its *watermark* (:mod:`hoststate.cells.
instance_feed`: created, changed or deleted, by change stamp) and sends
them to its parent in messages of at most
``instance_update_sync_database_limit`` rows, which relays them to the
top. The watermark moves only once the top has the rows, so a parent
that is down, or a message lost, only delays them.

At start the watermark is the top's (``sync_watermark``: the newest
change of this cell the top holds), so a restarted cell resends what
changed while it or its parent was away, and nothing older. The top
stores by uuid and keeps the newest change (``instance_store.
apply_changes``), so whatever is sent twice is stored once.

A change is re-read for ``instance_feed.OVERLAP_S`` after its stamp (a
transaction that commits late carries an earlier stamp); what the top
already acknowledged within that window is not sent again.

Instances the top refuses (another cell owns them: a build this cell
made after its parent stopped waiting for it) are deleted here.
"""
import logging

from hoststate.cells import instance_feed
from hoststate.objects import indirection

LOG = logging.getLogger(__name__)

#: the watermark before the top has said it
UNKNOWN = object()


class InstanceSync:
    def __init__(self, service):
        self.service = service
        self.watermark = UNKNOWN
        #: {uuid: changed_at} acknowledged within the overlap window
        self._acked = {}
        #: rows the top has taken since start (tests and reports read it)
        self.sent = 0

    def run_once(self):
        """One sync: what changed since the watermark, sent up. Returns
        the number of rows sent (0 with no parent, or none changed)."""
        service = self.service
        parent = service.parent_api()
        path = service.path
        if parent is None or path is None:
            return 0
        if self.watermark is UNKNOWN:
            self.watermark = parent.sync_watermark(service.context, path)
        limit = service.conf.cells.instance_update_sync_database_limit
        since = instance_feed.rewound(self.watermark)
        sent = 0
        while True:
            with indirection.serving_locally():
                rows, since = instance_feed.changes_since(
                    service.context, since, limit)
            sent += self._send(parent, path, rows)
            if rows:
                self.watermark = since
            if len(rows) < limit:
                break
        self._forget_acked_before(instance_feed.rewound(self.watermark))
        self.sent += sent
        return sent

    def _send(self, parent, path, rows):
        fresh = [row for row in rows
                 if self._acked.get(row["uuid"]) != row["changed_at"]]
        if not fresh:
            return 0
        refused = set(parent.sync_instances(self.service.context, path,
                                            fresh))
        # a copy already deleted here needs nothing more
        self._deleted_here([row["uuid"] for row in fresh
                            if row["uuid"] in refused
                            and not row["deleted"]])
        for row in fresh:
            self._acked[row["uuid"]] = row["changed_at"]
        return len(fresh)

    def _forget_acked_before(self, start):
        if start is None:
            return
        oldest = instance_feed.iso(start)
        self._acked = {uuid: stamp for uuid, stamp in self._acked.items()
                       if stamp >= oldest}

    def _deleted_here(self, uuids):
        for uuid in uuids:
            LOG.warning("instance %s is held by another cell; deleting "
                        "this cell's copy", uuid)
            try:
                self.service.conductor(
                    self.service.conf.rpc_response_timeout).delete_instance(
                        self.service.context, uuid)
            except Exception:   # noqa: BLE001 - the next sync tries again
                LOG.exception("could not delete instance %s", uuid)
