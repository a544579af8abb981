"""Where remotable calls go: the process's indirection API, per thread.

oslo.versionedobjects sends a remotable call to ``indirection_api`` when a
class has one, and runs it locally otherwise. A compute agent without
database access sets the conductor's client here, for the whole process.

One process may also hold both sides: ``hoststate simulate`` on the
in-process bus runs agents and a conductor together, and the conductor's
threads must run the calls they serve against the database, not send them
back onto the bus. :func:`serving_locally` makes the calls of the current
thread local for a while, and :func:`calling` sends them to an API, without
touching any other thread; setting the class attribute, as a bare test
would, is not thread-safe.
"""
import contextlib
import functools
import threading

_process = {"api": None}
_thread = threading.local()


class IndirectionSlot:
    """``HoststateObject.indirection_api``: read by ovo as a class or an
    instance attribute; the current thread's choice wins."""

    def __get__(self, obj, owner=None):
        return _current()


def _current():
    if getattr(_thread, "local", False):
        return None
    api = getattr(_thread, "api", None)
    return api if api is not None else _process["api"]


def set_api(api):
    """Send every remotable call of this process to ``api`` (None: run
    them locally); returns the API it replaces."""
    previous, _process["api"] = _process["api"], api
    return previous


def current_api():
    return _process["api"]


def is_remote():
    """Whether the current thread's remotable calls leave the process
    (code with a faster local path than a remotable method, such as an
    agent's raw reads, asks this to take the remotable one instead)."""
    return _current() is not None


def calling(api):
    """Send the current thread's remotable calls to ``api`` until the block
    ends, whatever the process does (``hoststate simulate`` on a bus: its
    agents' work goes to the conductor, the scheduler's harness does not)."""
    return _this_thread(api=api)


def serving_locally():
    """Run the current thread's remotable calls locally until the block
    ends (a conductor serving a call in a process that also has agents)."""
    return _this_thread(local=True)


def served_locally(function):
    """``function`` run with ``serving_locally``: a conductor's own work
    (its build flow, its watch and sweep threads) always acts with its
    database, whatever the process's API."""
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        with serving_locally():
            return function(*args, **kwargs)
    return wrapper


@contextlib.contextmanager
def _this_thread(**values):
    """The current thread's choice set to ``values`` within the block."""
    before = {name: getattr(_thread, name, None) for name in values}
    for name, value in values.items():
        setattr(_thread, name, value)
    try:
        yield
    finally:
        for name, value in before.items():
            setattr(_thread, name, value)
