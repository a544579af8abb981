"""The tracker's lock serves waiters in the order they came."""
import threading
import time

import pytest

from hoststate.resource_tracker import locks


def test_waiters_get_the_lock_in_arrival_order():
    lock = locks.FairLock()
    order = []
    lock.acquire()
    threads = []
    for n in range(8):
        thread = threading.Thread(target=lambda n=n: (lock.acquire(),
                                                      order.append(n),
                                                      lock.release()))
        thread.start()
        threads.append(thread)
        # let each thread reach its wait before the next one arrives
        deadline = time.monotonic() + 5
        while len(lock._waiters) < n + 1 and time.monotonic() < deadline:
            time.sleep(0.001)
    lock.release()
    for thread in threads:
        thread.join()
    assert order == list(range(8))


def test_a_newcomer_cannot_jump_the_queue_while_the_lock_is_handed_over():
    lock = locks.FairLock()
    lock.acquire()
    waiter_in = threading.Event()
    got = []

    def waiter():
        waiter_in.set()
        with lock:
            got.append("waiter")
    thread = threading.Thread(target=waiter)
    thread.start()
    waiter_in.wait()
    while not lock._waiters:
        time.sleep(0.001)
    lock.release()                 # handed to the waiter, still held
    assert lock.locked()
    thread.join()
    assert got == ["waiter"] and not lock.locked()


def test_release_of_an_unlocked_lock_is_an_error():
    with pytest.raises(RuntimeError, match="unlocked FairLock"):
        locks.FairLock().release()
