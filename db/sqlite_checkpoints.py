"""SQLite's write-ahead log copied back into the database off the writers' path.

In WAL mode SQLite appends every commit to the log and copies the log back
into the database file (a checkpoint, with an fsync of both files) in the
commit that takes the log past ``wal_autocheckpoint`` pages, 1,000 by
default. That commit pays for everybody's: a scheduler's claim that takes
0.4 ms took 5 to 15 ms about once every hundred claims, and in a 1,000-node
simulation those commits were a tenth of the time spent selecting.

Here each file database of an engine gets a daemon thread that checkpoints
every ``INTERVAL_S`` on a connection of its own, as PASSIVE checkpoints:
one never waits for a reader or a writer nor holds one up, it copies what
it can. sqlite3 lets go of the GIL while it works, so with a spare core the
copy costs the writers nothing. The writers' own threshold is raised to
``BACKSTOP_PAGES`` (about 40 MB of log): a commit checkpoints only if the
thread has fallen that far behind (a reader holding an old snapshot for
long, say), so the log stays bounded whatever happens to the thread.

The thread starts with the engine's first connection, stops when the
engine is disposed (and starts again if it is used after that, or in a
forked child, where threads do not survive), and ends by itself once the
engine is garbage.
"""
import atexit
import logging
import sqlite3
import threading
import weakref

import sqlalchemy as sa

LOG = logging.getLogger(__name__)

#: seconds between two background checkpoints
INTERVAL_S = 0.25
#: log pages after which a committing writer checkpoints itself
BACKSTOP_PAGES = 10000
#: name of every checkpoint thread
THREAD_NAME = "hoststate-sqlite-checkpoints"


def install(engine, path):
    """Checkpoint the database file ``path`` of ``engine`` in the
    background from the engine's first connection on."""
    checkpoints = Checkpoints(engine, path)
    sa.event.listen(engine, "connect", checkpoints.on_connect)
    sa.event.listen(engine, "engine_disposed", checkpoints.on_dispose)
    _OF_ENGINE[engine] = checkpoints


def of(engine):
    """The Checkpoints of ``engine`` (None for an in-memory database or
    another backend)."""
    return _OF_ENGINE.get(engine)


_OF_ENGINE = weakref.WeakKeyDictionary()
#: every Checkpoints whose thread may run
_LIVE = weakref.WeakSet()


@atexit.register
def _stop_all():
    """End every thread before the interpreter does: a daemon thread is
    frozen where it stands at exit, and its connection left open would
    leave the log and its index behind next to the database (nothing is
    lost, but the file alone is not the whole database then)."""
    for checkpoints in list(_LIVE):
        checkpoints.stop(timeout=1.0)


class Checkpoints:
    """The background checkpoints of one engine's database file."""

    def __init__(self, engine, path):
        self._engine = weakref.ref(engine)
        self.path = path
        self._lock = threading.Lock()
        self._thread = None
        self._stop = None
        self._done = threading.Condition()
        #: checkpoints the thread has run (what tests wait on)
        self.count = 0

    # --- engine events --------------------------------------------------------

    def on_connect(self, dbapi_connection, _record):
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA wal_autocheckpoint={BACKSTOP_PAGES}")
        finally:
            cursor.close()
        self.start()

    def on_dispose(self, _engine):
        self.stop()

    # --- the thread ---------------------------------------------------------------

    def running(self):
        thread = self._thread
        return thread is not None and thread.is_alive()

    def start(self):
        with self._lock:
            if self.running():
                return
            self._stop = threading.Event()
            self._thread = threading.Thread(
                target=self._run, args=(self._stop,), daemon=True,
                name=THREAD_NAME)
            self._thread.start()
            _LIVE.add(self)

    def stop(self, timeout=5.0):
        """End the thread (it finishes the checkpoint it is in)."""
        with self._lock:
            thread, stop = self._thread, self._stop
            self._thread = None
        if thread is not None:
            stop.set()
            if thread is not threading.current_thread():
                thread.join(timeout)

    def wait_for(self, count, timeout):
        """Whether the thread has run ``count`` checkpoints within
        ``timeout`` seconds."""
        with self._done:
            return self._done.wait_for(lambda: self.count >= count, timeout)

    def _run(self, stop):
        try:
            connection = sqlite3.connect(self.path, isolation_level=None,
                                         check_same_thread=False)
        except sqlite3.Error as exc:
            LOG.warning("no background checkpoints of %s: %s", self.path, exc)
            return
        try:
            connection.execute("PRAGMA synchronous=NORMAL")
            while not stop.wait(INTERVAL_S) and self._engine() is not None:
                self._checkpoint(connection)
        finally:
            connection.close()

    def _checkpoint(self, connection):
        try:
            connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.Error as exc:
            # the file went away, or a writer's backstop checkpoint holds
            # the checkpoint lock: the next round tries again
            LOG.debug("checkpoint of %s: %s", self.path, exc)
        with self._done:
            self.count += 1
            self._done.notify_all()
