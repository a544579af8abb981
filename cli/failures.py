"""What the ``hoststate`` command says when it fails, in one place.

An *expected* failure (bad configuration, a database or liveness backend
that cannot be used, a driver that refuses, a file that cannot be
written, an interruption) is one line on stderr,

    hoststate: <what was wrong>; <what to do>

(the second half where there is something to do), and an exit status.
A usage error (argparse's, see ``main.OneLineParser``) is one line too,
naming the command whose help explains the arguments:

    hoststate db sync: <what was wrong>; see hoststate db sync --help

The exit statuses:

=======  ==============================================================
status   meaning
=======  ==============================================================
0        success
1        an expected failure (database, ZooKeeper, memcached, driver,
         file, not found ...)
2        a usage error (argparse) or a configuration error
3        ``simulate`` found its invariants broken (see its section)
128+N    interrupted by signal N and cleaned up: 130 for Ctrl-C
         (SIGINT), 143 for SIGTERM
=======  ==============================================================

Anything else is a bug in hoststate, and keeps its traceback. ``--debug``
shows the traceback of an expected failure too.

Third-party exception classes are recognised without importing their
packages: a class from a package that was never imported cannot have been
raised.
"""
import dataclasses
import signal
import sys

from hoststate import exception

EXIT_FAILURE = 1
EXIT_CONFIG = 2
#: 128 + signal number, the shell's convention for a signal's end
EXIT_SIGNAL_BASE = 128

#: (module, class names) of database errors: SQLAlchemy's and the DBAPI
#: drivers' own, which can escape unwrapped from a migration tool
_DATABASE_ERRORS = (
    ("sqlalchemy.exc", ("OperationalError", "InterfaceError",
                        "ProgrammingError", "ArgumentError")),
    ("psycopg", ("OperationalError", "InterfaceError")),
    ("pymysql.err", ("OperationalError", "InterfaceError")),
    ("sqlite3", ("OperationalError",)),
)
#: the classes SQLite's "file is not a database" comes in; they hold bugs
#: too (an IntegrityError is one), so only that message makes one expected
#: (see db.engine.is_unusable_sqlite_file)
_SQLITE_FILE_ERRORS = (("sqlalchemy.exc", ("DatabaseError",)),
                       ("sqlite3", ("DatabaseError",)))
#: ZooKeeper connection losses and timeouts, reached from a command
_ZOOKEEPER_ERRORS = (
    ("kazoo.exceptions", ("ConnectionLoss", "SessionExpiredError",
                          "ConnectionClosedError", "OperationTimeoutError")),
    ("kazoo.handlers.threading", ("KazooTimeoutError",)),
)
_MEMCACHED_ERRORS = (("pymemcache.exceptions", ("MemcacheError",)),)
#: the message bus: a call nobody answered in time, and the rest
_BUS_TIMEOUTS = (("oslo_messaging.exceptions", ("MessagingTimeout",)),)
_BUS_ERRORS = (("oslo_messaging.exceptions", ("MessagingException",)),)
#: configuration files oslo.config could not read (until hoststate.conf
#: says ConfigFileInvalid itself, see common.load_conf)
_CONFIG_ERRORS = (("oslo_config.cfg", ("Error",)),)


class UsageError(exception.HoststateError, ValueError):
    """A command line argparse accepted but the command cannot (an unknown
    column, say): exit status 2, as argparse's own usage errors."""


@dataclasses.dataclass(frozen=True)
class Failure:
    """The line to print (without the ``hoststate: `` prefix; None for
    nothing) and the exit status."""

    line: str | None
    status: int


def classes(table):
    """The exception classes of ``table`` whose modules are imported."""
    found = []
    for module_name, names in table:
        module = sys.modules.get(module_name)
        found += [getattr(module, name) for name in names
                  if module is not None and hasattr(module, name)]
    return tuple(found)


def explain(exc):
    """The Failure for ``exc``, or None when it is not an expected one."""
    for test, describe in _RULES:
        if test(exc):
            return describe(exc)
    return None


def one_line(text):
    """``text`` with its lines joined: a message is one line, always."""
    lines = [line.strip() for line in str(text).splitlines()]
    return " ".join(line for line in lines if line) or "(no message)"


# --- the rules, in order: the first whose test matches explains ------------

def _interrupted(exc):
    return Failure(one_line(exc), EXIT_SIGNAL_BASE + int(exc.signum))


def _keyboard_interrupt(_exc):
    return Failure("interrupted (Ctrl-C)",
                   EXIT_SIGNAL_BASE + int(signal.SIGINT))


def _config(exc):
    text = one_line(exc)
    if not isinstance(exc, exception.ConfigFileInvalid):
        text = f"configuration error: {text}"
    return Failure(text, EXIT_CONFIG)


def _usage(exc):
    return Failure(one_line(exc), EXIT_CONFIG)


def _hoststate_error(exc):
    return Failure(one_line(exc), EXIT_FAILURE)


def _database(exc):
    from hoststate.db import engine as db_engine    # loaded: exc is one
    return Failure(one_line(db_engine.explain_error(exc)), EXIT_FAILURE)


def _unusable_sqlite_file(exc):
    if not isinstance(exc, classes(_SQLITE_FILE_ERRORS)):
        return False
    from hoststate.db import engine as db_engine
    return db_engine.is_unusable_sqlite_file(exc)


def _zookeeper(exc):
    detail = one_line(exc) if str(exc).strip() else type(exc).__name__
    return Failure(f"ZooKeeper cannot be reached: {detail}; check that it "
                   f"is running at [zookeeper] address", EXIT_FAILURE)


def _memcached(exc):
    return Failure(f"memcached failed: {one_line(exc)}; check that it is "
                   f"running at [DEFAULT] memcached_servers", EXIT_FAILURE)


def _bus_timeout(_exc):
    from hoststate.conf import CONF
    return Failure(f"no answer within rpc_response_timeout "
                   f"({CONF.rpc_response_timeout} s); check that a "
                   f"conductor and a scheduler are running on [DEFAULT] "
                   f"transport_url", EXIT_FAILURE)


def _bus(exc):
    return Failure(f"message bus error: {one_line(exc)}; check [DEFAULT] "
                   f"transport_url and the broker", EXIT_FAILURE)


def _broken_pipe(_exc):
    """The reader of stdout went away (``| head``): nothing to tell it."""
    return Failure(None, EXIT_SIGNAL_BASE + int(signal.SIGPIPE))


def _network(exc):
    return Failure(f"cannot connect: {one_line(exc)}; check that the "
                   f"server it names is running", EXIT_FAILURE)


def _file(exc):
    where = exc.filename if exc.filename is not None else "a file"
    reason = exc.strerror or one_line(exc)
    return Failure(f"cannot use {where}: {reason}; check the path and its "
                   f"permissions", EXIT_FAILURE)


_RULES = (
    (lambda e: isinstance(e, exception.Interrupted), _interrupted),
    (lambda e: isinstance(e, KeyboardInterrupt), _keyboard_interrupt),
    (lambda e: isinstance(e, (exception.ConfigInvalid,
                              exception.ConfigFileInvalid)), _config),
    (lambda e: isinstance(e, UsageError), _usage),
    (lambda e: isinstance(e, exception.HoststateError), _hoststate_error),
    (lambda e: isinstance(e, classes(_CONFIG_ERRORS)), _config),
    (lambda e: isinstance(e, classes(_DATABASE_ERRORS)), _database),
    (_unusable_sqlite_file, _database),
    (lambda e: isinstance(e, classes(_ZOOKEEPER_ERRORS)), _zookeeper),
    (lambda e: isinstance(e, classes(_MEMCACHED_ERRORS)), _memcached),
    (lambda e: isinstance(e, classes(_BUS_TIMEOUTS)), _bus_timeout),
    (lambda e: isinstance(e, classes(_BUS_ERRORS)), _bus),
    (lambda e: isinstance(e, BrokenPipeError), _broken_pipe),
    (lambda e: isinstance(e, (ConnectionError, TimeoutError))
     and getattr(e, "filename", None) is None, _network),
    (lambda e: isinstance(e, OSError), _file),
)
