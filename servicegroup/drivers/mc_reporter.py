"""The mc driver's heartbeat thread, for one member or a whole batch.

``join`` gives a member a reporter of its own; ``join_many`` gives the whole
batch one, whose beat is a few multi-sets of the liveness keys and one
members-list update per group (see ``MemcachedDriver._beat``), so one
process can report for 100,000 simulated hosts with one thread.
"""
import logging
import threading
import time

from hoststate.servicegroup.drivers.mc_clients import (
    CONNECT_TIMEOUT_S, IO_TIMEOUT_S)

#: The mc driver's logger: its heartbeat logs come under one name.
LOG = logging.getLogger("hoststate.servicegroup.drivers.mc")


class Reporter:
    """The heartbeat thread of ``keys``, a set of ``(group, member)``."""

    def __init__(self, driver, keys):
        self.driver = driver
        self.keys = set(keys)
        self.stop_event = threading.Event()
        self.failing = False
        # held for a whole beat: a member dropped meanwhile waits for it,
        # so no beat revives the key its leave deletes
        self._beat_lock = threading.Lock()
        self.thread = threading.Thread(
            target=self._run, daemon=True, name=f"mc-heartbeat-{self._describe()}")
        self._first_delay = 0.0

    def start(self, first_delay):
        self._first_delay = first_delay
        self.thread.start()

    def stop(self, wait=True):
        """Stop beating; ``wait=False`` only tells the thread, so that
        many reporters stop at once."""
        self.stop_event.set()
        if wait and self.thread.is_alive() and \
                self.thread is not threading.current_thread():
            self.thread.join(timeout=CONNECT_TIMEOUT_S + 2 * IO_TIMEOUT_S)

    def drop(self, key):
        """Stop beating ``key``; True when no member is left."""
        with self._beat_lock:
            self.keys.discard(key)
            return not self.keys

    def beat(self):
        """One heartbeat of every member; never raises (logs the first
        failure and the recovery, once each)."""
        with self._beat_lock:
            what = self._describe()
            try:
                self.driver._beat(set(self.keys), self.stop_event)
            except Exception as exc:  # noqa: BLE001 - nothing reaches the service
                if not self.failing:
                    self.failing = True
                    LOG.warning("heartbeat of %s failed; retrying every %s s: "
                                "%s", what, self.driver.conf.report_interval,
                                exc)
                return
            if self.failing:
                self.failing = False
                LOG.info("heartbeat of %s recovered", what)

    def _describe(self):
        if len(self.keys) == 1:
            group, member = next(iter(self.keys))
            return f"{member} in {group}"
        return f"{len(self.keys)} members"

    def _run(self):
        interval = self.driver.conf.report_interval
        next_at = time.monotonic() + self._first_delay
        while not self.stop_event.wait(max(0.0, next_at - time.monotonic())):
            self.beat()
            next_at += interval
            now = time.monotonic()
            if next_at < now:                  # a slow beat: do not bunch up
                next_at = now + interval
