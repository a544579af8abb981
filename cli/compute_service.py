"""What ``hoststate compute`` adds as a service: builds and deletes served
on a bus, the configuration reloaded on SIGHUP, and oslo.log when Nova's
logging options name a target (see :mod:`hoststate.cli.compute_command`).
"""
import contextlib
import signal
import threading


@contextlib.contextmanager
def builds_served(conf, service):
    """With a bus configured, the agent takes builds and deletes from the
    conductors (``resource_tracker.compute_rpc``) while it runs."""
    if not conf.transport_url or service.stopping:
        yield
        return
    from hoststate.conductor import rpcapi
    from hoststate.resource_tracker import compute_rpc
    server = compute_rpc.make_server(conf, service.agent,
                                     rpcapi.ComputeTaskAPI(conf))
    server.start()
    try:
        yield
    finally:
        server.stop()
        server.wait()


#: Nova's logging options that send a service's log somewhere of its own
_OSLO_LOG_TARGETS = ("log_file", "log_dir", "use_journal", "use_syslog",
                     "log_config_append")


@contextlib.contextmanager
def service_logging(conf, debug):
    """oslo.log, with Nova's options, when the configuration sends the
    log somewhere (``log_file``, ``log_dir``, ``use_journal``,
    ``use_syslog``, ``log_config_append``), as the other services do;
    otherwise the command's own lines on stderr, as before."""
    if not any(conf[name] for name in _OSLO_LOG_TARGETS):
        yield
        return
    from hoststate.cli import service_process
    if debug:
        conf.set_override("debug", True)
    try:
        with service_process.service_logging(conf):
            yield
    finally:
        if debug:
            conf.clear_override("debug")


@contextlib.contextmanager
def reload_on_sighup(conf):
    """Within the block, SIGHUP re-reads the configuration files (options
    Nova marks mutable take their new value), as nova-compute does; the
    reload runs on a thread of its own, not in the handler."""
    from hoststate.cli import service_process

    def handle(signum, frame):
        threading.Thread(target=service_process.reload_configuration,
                         args=(conf,), name="hoststate-reload",
                         daemon=True).start()
    previous = signal.signal(signal.SIGHUP, handle)
    try:
        yield
    finally:
        signal.signal(signal.SIGHUP, previous)
