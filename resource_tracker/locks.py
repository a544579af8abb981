"""A fair (first come, first served) lock.

A tracker's lock is held briefly by claims and for longer by the periodic
update. Python's Lock makes no promise about order, so a stream of claims
could starve the update (or the reverse); Nova takes its tracker lock with
``fair=True`` for the same reason. Here waiters are served strictly in the
order they arrived.
"""
import collections
import threading


class FairLock:
    def __init__(self):
        self._mutex = threading.Lock()
        self._waiters = collections.deque()
        self._held = False

    def acquire(self):
        with self._mutex:
            if not self._held and not self._waiters:
                self._held = True
                return True
            turn = threading.Event()
            self._waiters.append(turn)
        turn.wait()
        return True

    def release(self):
        with self._mutex:
            if not self._held:
                raise RuntimeError("release of an unlocked FairLock")
            if self._waiters:
                # Hand the lock over directly: it stays held, so no thread
                # arriving now can jump the queue.
                self._waiters.popleft().set()
            else:
                self._held = False

    def locked(self):
        return self._held

    def __enter__(self):
        self.acquire()
        return self

    def __exit__(self, *exc_info):
        self.release()
