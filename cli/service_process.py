"""Running a long-lived RPC service (``hoststate scheduler``,
``conductor``): its servers, its worker processes, its signals and its
logging, the way Nova's services behave under systemd.

    serve(conf, name, make_servers, workers, debug=False) -> exit status

* ``make_servers()`` builds the process's oslo.messaging servers, not
  started (a list), and whatever they need: its own transport (through
  :mod:`hoststate.rpc`) and its own database engine. It is called in the
  process that serves: this one when ``workers`` is 1, else each worker
  after the fork, so no connection is ever shared between processes.
* ``workers`` > 1 forks that many workers; the parent only supervises:
  SIGTERM or SIGINT is passed on to every worker as SIGTERM, SIGHUP as
  SIGHUP; a worker that dies while the service is not stopping is started
  again, unless it died within :data:`RESPAWN_AFTER_S` of its start (a
  setup that fails, such as a database that does not answer), which stops
  the service with status 1. The parent returns 0 once every worker
  exited after a stop (1 if one of them failed).
* SIGTERM or SIGINT: each server stops taking calls, finishes those in
  progress (``stop()``, ``wait()``), the transports close
  (``rpc.cleanup()``) and ``serve`` returns 0. A second signal to a
  single process or to the parent ends it at once (the parent kills its
  workers first); a worker takes repeated signals as one (Ctrl-C reaches
  the whole process group, and the parent passes it on too).
* SIGHUP re-reads the configuration files (``conf.mutate_config_files()``)
  as Nova's services do: options marked mutable take their new value, the
  others keep theirs (oslo.config logs a warning for those); logging is set
  up again if ``debug`` or ``log_config_append`` changed.
* Logging goes through oslo.log with Nova's options (``debug``,
  ``log_file``, ``log_dir``, ``use_journal``, ``use_stderr``,
  ``log_config_append``, ``default_log_levels`` ...; registered by
  :mod:`hoststate.conf.logging`); ``debug=True`` (the command's
  ``--debug``) overrides the files' ``debug``, as a command-line option
  does in Nova. Everything is put back as it was when ``serve`` returns.
* The in-process bus (``transport_url`` unset) is refused: no other
  process could reach a service on it.
"""
import contextlib
import logging
import os
import queue
import signal
import sys
import time

from oslo_log import log as oslo_log

from hoststate import exception
from hoststate import rpc
from hoststate.cli import common
from hoststate import version

LOG = logging.getLogger(__name__)

#: a worker that dies sooner than this after its start is not restarted
RESPAWN_AFTER_S = 10.0
#: how often a waiting process looks at its workers / its parent
POLL_S = 0.5
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
#: options whose change on SIGHUP sets logging up again
_LOGGING_OPTIONS = {(None, "debug"), (None, "log_config_append")}


def serve(conf, name, make_servers, workers=1, debug=False):
    """Serve until SIGTERM or SIGINT (see the module docstring); returns
    the exit status."""
    _refuse_in_process_bus(conf, name)
    if debug:
        conf.set_override("debug", True)
    try:
        with service_logging(conf):
            if workers <= 1:
                return _serve_here(conf, name, make_servers,
                                   repeat_ends=True)
            return _Supervisor(conf, name, make_servers, workers).run()
    finally:
        if debug:
            conf.clear_override("debug")


def _refuse_in_process_bus(conf, name):
    if rpc.is_in_process(conf):
        raise exception.ConfigInvalid(
            group="DEFAULT", option="transport_url",
            value=conf.transport_url,
            reason=f"the {name} service needs a message broker "
                   f"(rabbit://...): on the in-process bus no other "
                   f"process can reach it")


# --- logging -------------------------------------------------------------

@contextlib.contextmanager
def service_logging(conf):
    """oslo.log's handlers on the root logger within the block; the root
    logger's handlers and every logger's level come back after."""
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    saved_levels = {name: each.level for name, each in
                    logging.Logger.manager.loggerDict.items()
                    if isinstance(each, logging.Logger)}
    saved_hook = sys.excepthook
    setup_logging(conf)
    try:
        yield
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
            if handler not in saved_handlers:
                handler.close()
        for handler in saved_handlers:
            root.addHandler(handler)
        root.setLevel(saved_level)
        for logger_name, level in saved_levels.items():
            logging.getLogger(logger_name).setLevel(level)
        sys.excepthook = saved_hook


def setup_logging(conf):
    """oslo.log's setup from ``conf``. The levels ``hoststate.cli.logs``
    gave hoststate's and the libraries' loggers are cleared first: the
    root level (``debug``) and ``default_log_levels`` decide."""
    from hoststate.cli import logs
    for logger_name in ("hoststate",) + logs.THIRD_PARTY_LOGGERS:
        logging.getLogger(logger_name).setLevel(logging.NOTSET)
    oslo_log.setup(conf, "hoststate", version=version.version_string(),
                   fix_eventlet=False)


def reload_configuration(conf):
    """SIGHUP: re-read the files; mutable options change. A file that
    became unreadable or invalid is logged and the service goes on."""
    try:
        changed = conf.mutate_config_files()
    except Exception as exc:   # noqa: BLE001 - a reload must not kill it
        LOG.error("configuration not reloaded: %s", exc)
        return {}
    if _LOGGING_OPTIONS & set(changed):
        setup_logging(conf)
    LOG.info("configuration reloaded: %d option(s) changed", len(changed))
    return changed


# --- one process -----------------------------------------------------------

class _Signals:
    """The signals a serving process acts on, queued for its main loop
    (a handler only records them: the loop does the work, outside any
    handler). With ``repeat_ends``, a second stop signal has its default
    action (the process ends at once)."""

    def __init__(self, handled, repeat_ends=False):
        self.handled = handled
        self.repeat_ends = repeat_ends
        self.received = queue.SimpleQueue()     # put() is reentrant
        self._previous = {}

    def __enter__(self):
        for signum in self.handled:
            self._previous[signum] = signal.signal(signum, self._handle)
        # a worker is forked with them blocked (see _Supervisor._spawn):
        # one sent meanwhile arrives now, to this process's handler
        signal.pthread_sigmask(signal.SIG_UNBLOCK, self.handled)
        return self

    def __exit__(self, *exc_info):
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)

    def _handle(self, signum, frame):
        self.received.put(signum)
        if self.repeat_ends and signum in STOP_SIGNALS:
            for each in STOP_SIGNALS:
                signal.signal(each, signal.SIG_DFL)

    def next(self, timeout=POLL_S):
        """The next signal received, or None after ``timeout`` s."""
        try:
            return self.received.get(timeout=timeout)
        except queue.Empty:
            return None


def _serve_here(conf, name, make_servers, repeat_ends, parent=None):
    """Build and start the servers, then wait for a stop signal (or for
    the ``parent`` process to be gone); returns 0 once they stopped."""
    with _Signals(STOP_SIGNALS + (signal.SIGHUP,), repeat_ends) as signals:
        servers = make_servers()
        try:
            for server in servers:
                server.start()
            LOG.info("%s serving (pid %d)", name, os.getpid())
            _wait_for_stop(conf, signals, parent)
            LOG.info("%s (pid %d) stopping", name, os.getpid())
        finally:
            for server in servers:
                server.stop()
            for server in servers:
                server.wait()
            rpc.cleanup()
    LOG.info("%s (pid %d) stopped", name, os.getpid())
    return 0


def _wait_for_stop(conf, signals, parent):
    while True:
        signum = signals.next()
        if signum == signal.SIGHUP:
            reload_configuration(conf)
        elif signum in STOP_SIGNALS:
            LOG.info("%s received", signal.Signals(signum).name)
            return
        elif parent is not None and os.getppid() != parent:
            LOG.warning("parent process %d is gone", parent)
            return


# --- workers -----------------------------------------------------------------

class _Supervisor:
    """The parent of ``workers`` worker processes (module docstring)."""

    def __init__(self, conf, name, make_servers, workers):
        self.conf = conf
        self.name = name
        self.make_servers = make_servers
        self.workers = workers
        self.children = {}          # pid: monotonic time it started
        self.stopping = False
        self.status = 0

    def run(self):
        with _Signals(STOP_SIGNALS + (signal.SIGHUP,)) as signals:
            for _ in range(self.workers):
                self._spawn()
            LOG.info("%s started %d workers: %s", self.name, self.workers,
                     " ".join(map(str, sorted(self.children))))
            while self.children:
                self._on_signal(signals.next())
                self._reap()
        LOG.info("%s stopped", self.name)
        return self.status

    def _spawn(self):
        """Fork a worker. Signals stay blocked from before the fork until
        the worker has its own handlers (a SIGTERM in between would go
        to the parent's handler, in the worker's copy of the parent)."""
        parent = os.getpid()
        sys.stdout.flush()
        sys.stderr.flush()
        handled = STOP_SIGNALS + (signal.SIGHUP,)
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, handled)
        pid = os.fork()
        if pid == 0:                       # the worker
            os._exit(_worker(self.conf, self.name, self.make_servers,
                             parent))
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        self.children[pid] = time.monotonic()

    def _on_signal(self, signum):
        if signum is None:
            return
        if signum == signal.SIGHUP:
            reload_configuration(self.conf)
            self._send(signal.SIGHUP)
        elif self.stopping:                # a second stop signal
            LOG.warning("%s received again: killing the workers",
                        signal.Signals(signum).name)
            self._send(signal.SIGKILL)
        else:
            LOG.info("%s received: stopping the workers",
                     signal.Signals(signum).name)
            self._stop(0)

    def _stop(self, status):
        self.stopping = True
        self.status = max(self.status, status)
        self._send(signal.SIGTERM)

    def _send(self, signum):
        for pid in self.children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)

    def _reap(self):
        for pid in list(self.children):
            done, wait_status = os.waitpid(pid, os.WNOHANG)
            if not done:
                continue
            started = self.children.pop(pid)
            code = os.waitstatus_to_exitcode(wait_status)
            if self.stopping:
                if code != 0:
                    self.status = 1
                continue
            LOG.error("worker %d exited with status %d", pid, code)
            if time.monotonic() - started < RESPAWN_AFTER_S:
                self._stop(1)
            else:
                self._spawn()


def _worker(conf, name, make_servers, parent):
    """A worker's life, from the fork to its exit status (never returns
    into the parent's code: the caller ``os._exit``s with it)."""
    status = 1
    try:
        status = _serve_here(conf, name, make_servers, repeat_ends=False,
                             parent=parent)
    except BaseException as exc:       # noqa: BLE001 - the exit says it
        from hoststate.cli import failures
        failure = failures.explain(exc) if isinstance(exc, Exception) \
            else None
        if failure is None or conf.debug:
            LOG.exception("%s worker %d failed", name, os.getpid())
        else:
            LOG.error("%s worker %d failed: %s", name, os.getpid(),
                      failure.line)
    finally:
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
    return status


# --- the --workers option ----------------------------------------------------

#: upper bound of --workers: a typo is refused before anything forks
MAX_WORKERS = 1024


def add_workers_option(parser, group):
    """``--workers N`` on a service's command (default ``[group]
    workers``)."""
    parser.add_argument(
        "--workers", metavar="N",
        type=common.int_between(1, MAX_WORKERS, "--workers"),
        help=f"worker processes (default: [{group}] workers; unset means "
             f"one per CPU)")


def workers(given, configured):
    """--workers, else the option, else the CPU count (0 or unset: one
    per CPU, as in Nova)."""
    return given or configured or os.cpu_count() or 1
