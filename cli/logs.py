"""Where the command's log records and Python warnings go: stderr, one
line each.

A short command (a view, ``db``, ``simulate``) prints records as

    hoststate: warning: <message>

from WARNING up, whichever library logged them (hoststate's, kazoo's,
pymemcache's): third-party loggers never say more than warnings there. A
long-running service (``hoststate compute``) logs with a time stamp,
process id, level and logger name, and hoststate's own INFO records too.
An exception attached to a record is folded into its line (its type and
first line) unless ``--debug`` asks for tracebacks; ``--debug`` also logs
everything from DEBUG up.

:func:`configure` returns a function that puts logging back as it was, so
that the command run in-process (tests, an embedding program) leaves no
handler behind.
"""
import logging
import sys
import warnings

#: Loggers of the libraries a command reaches; WARNING and up only.
THIRD_PARTY_LOGGERS = ("kazoo", "pymemcache", "alembic", "sqlalchemy",
                       "oslo_messaging", "oslo_service", "futurist")
SHORT_FORMAT = "hoststate: %(levelname)s: %(message)s"
SERVICE_FORMAT = "%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"


class OneLineFormatter(logging.Formatter):
    """Puts an exception's type and message on the record's own line: a
    node whose update fails each minute should cost one line a minute.
    With ``lowercase_level`` the level reads ``warning``, not ``WARNING``
    (the style of the command's other messages)."""

    def __init__(self, fmt, lowercase_level=False):
        super().__init__(fmt)
        self.lowercase_level = lowercase_level

    def format(self, record):
        message = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            text = str(exc).strip().splitlines()
            message = f"{message}: {type(exc).__name__}" + (
                f": {text[0]}" if text else "")
        message = " ".join(line.strip() for line in message.splitlines()
                           if line.strip())
        fields = dict(record.__dict__, msg=message, args=None,
                      exc_info=None, exc_text=None, stack_info=None)
        if self.lowercase_level:
            fields["levelname"] = record.levelname.lower()
        return super().format(logging.makeLogRecord(fields))


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time of the record (a
    test's capture, a redirected stream), not the one at set-up."""

    def __init__(self):
        super().__init__(sys.stderr)

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value):
        pass


def _show_warning(message, category, filename, lineno, file=None,
                  line=None):
    """Python warnings as log records of ``py.warnings``, one line each
    (the standard capture adds the source line below)."""
    logging.getLogger("py.warnings").warning("%s: %s", category.__name__,
                                             message)


def configure(debug=False, service=False):
    """Send log records and warnings to stderr (see the module docstring);
    returns a function that undoes it."""
    root = logging.getLogger()
    hoststate = logging.getLogger("hoststate")
    third_party = [logging.getLogger(name) for name in THIRD_PARTY_LOGGERS]
    saved = (root.level, hoststate.level, [each.level for each in third_party],
             warnings.showwarning)

    handler = _StderrHandler()
    if debug:
        handler.setFormatter(logging.Formatter(
            SERVICE_FORMAT if service else SHORT_FORMAT))
    else:
        handler.setFormatter(OneLineFormatter(
            SERVICE_FORMAT if service else SHORT_FORMAT,
            lowercase_level=not service))
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if debug else logging.WARNING)
    hoststate.setLevel(logging.DEBUG if debug else
                       logging.INFO if service else logging.WARNING)
    if not debug:
        for each in third_party:
            each.setLevel(max(each.level, logging.WARNING))
    warnings.showwarning = _show_warning

    def restore():
        root.removeHandler(handler)
        root.setLevel(saved[0])
        hoststate.setLevel(saved[1])
        for each, level in zip(third_party, saved[2]):
            each.setLevel(level)
        warnings.showwarning = saved[3]
    return restore
