"""The db driver's heartbeat of one member, from a thread of its own.

What ``DbDriver.join`` starts: Nova's way, for one service per process. The
member's Service object gets ``report_count + 1`` and is saved every
``report_interval``; the save (a compare-and-swap) stamps ``last_seen_up``
on the database server's clock. It works through a conductor too, since it
only calls the object's remotable methods.

A reporter has the interface of ``db_bulk.BulkReporter`` (``heartbeat``,
``disconnected``, ``drop``, ``stop`` per ``(member, group)`` key), so the
driver treats a singly joined member and one of a batch alike.
"""
import logging
import threading

from hoststate import exception
from hoststate.servicegroup.drivers import db_bulk

#: The db driver's logger: its heartbeat logs come under one name.
LOG = logging.getLogger("hoststate.servicegroup.drivers.db")


class MemberReporter(db_bulk.Beater):
    """One joined member: its heartbeat thread and how its last beat went."""

    def __init__(self, conf, member, group, service, context, initial_delay):
        super().__init__(conf, initial_delay,
                         name=f"hoststate-heartbeat-{group}-{member}")
        self.member, self.group = member, group
        self.service = service
        self.context = context
        self.lock = threading.Lock()  # the thread and heartbeat() share it
        self._disconnected = False
        # The reporter heartbeats on its own copy of the row, read at the
        # first beat and again after any failure: a failed or conflicting
        # save leaves the copy unsure of what the row holds.
        self.stale = True

    def drop(self, key):
        """Stop reporting the (only) member: nothing is left."""
        return True

    def disconnected(self, key):
        return self._disconnected

    def heartbeat(self, key):
        return self.beat()

    def beat(self):
        """One heartbeat; never raises; True when it was saved. Logs the
        first failure of a run of failures and the recovery, once each."""
        with self.lock:
            try:
                self._report()
            except Exception as exc:  # nothing may stop the service's heartbeat
                self.stale = True
                if not self._disconnected:
                    self._disconnected = True
                    LOG.error("Heartbeat of %s %s failed; reporting it as "
                              "disconnected until a heartbeat succeeds "
                              "(further failures are not logged): %s",
                              self.group, self.member, exc, exc_info=True)
                return False
            if self._disconnected:
                self._disconnected = False
                LOG.info("Heartbeat of %s %s recovered", self.group,
                         self.member)
            return True

    def _report(self):
        """report_count + 1, saved. An operator's write in between (enable,
        disable) moves the generation: re-read and try once more."""
        if self.stale:
            self.service = self._reread()
            self.stale = False
        try:
            _increment(self.service)
        except exception.GenerationConflict:
            self.service = self._reread()
            _increment(self.service)

    def _reread(self):
        # imported here: the versioned objects (and oslo.messaging behind
        # them) cost a reader such as `hoststate service-list` 0.3 s
        from hoststate.objects import service as service_obj
        return service_obj.Service.get_by_id(self.context, self.service.id)


def _increment(service):
    service.report_count += 1
    service.save()
