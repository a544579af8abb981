"""A named thread that runs one task every ``interval`` seconds.

The cells service's broadcast and instance sync each run on one: a task
that raises is logged and tried again next time (a parent that is down
must not stop a child's loops), and ``stop`` returns once the thread has
ended, so nothing is left running after a service stops.
"""
import logging
import threading

LOG = logging.getLogger(__name__)


class Every:
    def __init__(self, name, interval, task):
        self.name = name
        self.interval = interval
        self._task = task
        self._stopped = threading.Event()
        self._thread = None

    def start(self):
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=self.name,
                                            daemon=True)
            self._thread.start()

    def stop(self):
        self._stopped.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _run(self):
        while not self._stopped.is_set():
            self.run_once()
            self._stopped.wait(self.interval)

    def run_once(self):
        """The task once, its failure logged (the loop goes on)."""
        try:
            self._task()
        except Exception:   # noqa: BLE001 - logged; next round tries again
            LOG.exception("%s failed; trying again in %s s", self.name,
                          self.interval)
