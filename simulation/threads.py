"""The background threads of a simulation: a death is noticed and named.

A simulation runs threads besides its main loop: the heartbeats of the
liveness driver and the agents' periodic recounts. A thread that dies of
an exception would otherwise print a traceback between progress lines
and leave the run going on without it (no heartbeats: every host is soon
seen down; no recounts: the run looks fine and tests nothing). ``Watch``
records each death instead (thread name and error, the traceback in the
debug log), so the run can stop and say so in one line.
"""
import dataclasses
import logging
import threading
import time

from hoststate import exception

LOG = logging.getLogger(__name__)

#: how long stopping waits for a background thread's work in progress
STOP_TIMEOUT_S = 30.0


@dataclasses.dataclass(frozen=True)
class Death:
    thread: str
    error: str

    def __str__(self):
        return f"background thread {self.thread} died: {self.error}"


class ThreadsStuck(exception.HoststateError):
    """Background threads still running after being told to stop: what
    the report would read is still being written."""

    msg_fmt = ("background thread(s) %(names)s did not stop within "
               "%(seconds).0f s; no report, it would read a database they "
               "are still writing")


class Watch:
    """While active (a context manager), every thread of the process that
    dies of an exception is recorded in ``deaths`` instead of printing its
    traceback. (``threading.excepthook`` is the process's: one Watch at a
    time.)"""

    def __init__(self):
        self.deaths = []
        self._previous = None

    def __enter__(self):
        self._previous = threading.excepthook
        threading.excepthook = self._record
        return self

    def __exit__(self, *exc_info):
        threading.excepthook = self._previous

    def _record(self, args):
        if issubclass(args.exc_type, SystemExit):
            return
        name = args.thread.name if args.thread is not None else "(unknown)"
        text = str(args.exc_value).strip().splitlines()
        error = args.exc_type.__name__ + (f": {text[0]}" if text else "")
        LOG.debug("background thread %s died", name, exc_info=(
            args.exc_type, args.exc_value, args.exc_traceback))
        self.deaths.append(Death(name, error))


def stop_all(threads, timeout=None):
    """Join ``threads`` (already told to stop); the names of those still
    alive after ``timeout`` seconds in all (default STOP_TIMEOUT_S)."""
    deadline = time.monotonic() + (STOP_TIMEOUT_S if timeout is None
                                   else timeout)
    for thread in threads:
        if thread is not None and thread is not threading.current_thread():
            thread.join(max(0.0, deadline - time.monotonic()))
    return [t.name for t in threads if t is not None and t.is_alive()]
