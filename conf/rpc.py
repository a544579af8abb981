"""The message bus: oslo.messaging's own options, ``[upgrade_levels]`` and
the service worker counts, with Nova's names.

oslo.messaging registers ``[DEFAULT] transport_url``,
``rpc_response_timeout``, ``[oslo_messaging_rabbit]`` and the rest itself
when a transport is made; they are registered here up front too, with
oslo.messaging's own option objects (registering the same object twice is
harmless), so ``hoststate config`` shows them and ``load`` validates them
before a service starts.
"""
import importlib
import re
import warnings

from oslo_config import cfg

from hoststate import exception
from hoststate.conf import limits
from hoststate.conf import utils

with warnings.catch_warnings():   # see hoststate.objects.base
    warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")
    from oslo_messaging import opts as messaging_opts

#: the oslo.messaging groups hoststate documents (Kafka is not offered)
MESSAGING_GROUPS = (None, "oslo_messaging_rabbit",
                    "oslo_messaging_notifications")

#: options oslo.messaging reads but registers on oslo.config's global CONF
#: only (its ConfFixture lists them): (module, list, group)
_GLOBAL_ONLY = (
    ("oslo_messaging._metrics.client", "oslo_messaging_metrics",
     "oslo_messaging_metrics"),
    ("oslo_messaging._tracing.client", "oslo_messaging_tracing",
     "oslo_messaging_tracing"),
)

#: ``[upgrade_levels]`` values: a version ``X.Y`` or "auto"
_VERSION_CAP = re.compile(r"^(auto|\d{1,3}\.\d{1,3})$")

rpc_opts = [
    cfg.IntOpt(
        'long_rpc_timeout', default=1800, min=1, max=limits.ONE_DAY,
        help="""
Seconds to wait for the answer to a call known to take long (the
conductor asking the scheduler for destinations), instead of
``rpc_response_timeout``.
"""),
]

upgrade_levels_group = cfg.OptGroup(
    'upgrade_levels', title='RPC version caps',
    help='The newest RPC API version this process sends to each service, '
         'so a cloud can be upgraded one service at a time.')


def _cap(name, service):
    return cfg.StrOpt(
        name, default=None, regex=_VERSION_CAP.pattern,
        help=f"""
The newest {service} RPC API version this process sends, as ``X.Y``.
Unset sends the newest this release knows. ``auto`` (Nova's: the version
of the oldest {service} service running) is accepted and, in this
release, sends the newest too: the services' records do not carry their
RPC versions yet.
""")


#: ``[upgrade_levels]`` values that mean "no cap" (see ``_cap``)
_NO_CAP = (None, "auto")


def version_cap(conf, service):
    """The newest ``service`` RPC API version this process sends
    (``[upgrade_levels] <service>``), None for no cap."""
    cap = getattr(conf.upgrade_levels, service)
    return None if cap in _NO_CAP else cap


upgrade_levels_opts = [
    _cap('compute', 'compute'),
    _cap('conductor', 'conductor'),
    _cap('scheduler', 'scheduler'),
    _cap('cells', 'cells'),
]

conductor_group = cfg.OptGroup(
    'conductor', title='Conductor options',
    help='The compute proxy that agents without database access call.')

conductor_opts = [
    cfg.IntOpt(
        'workers', default=None, min=1, max=limits.INT32_MAX,
        help="""
Number of conductor worker processes, each serving the same topic.
Unset means one per CPU of the host.
"""),
]


#: oslo.messaging's numbers hoststate relies on, bounded here (the library
#: leaves them open: a timeout of 10**30 s would overflow a thread's wait
#: deep in a call): {(group, option): (lowest, highest)}
LIBRARY_BOUNDS = {
    ('DEFAULT', 'rpc_response_timeout'): (1, limits.ONE_DAY),
    ('DEFAULT', 'executor_thread_pool_size'): (1, 10_000),
    ('oslo_messaging_rabbit', 'heartbeat_timeout_threshold'):
        (0, limits.ONE_DAY),
    ('oslo_messaging_rabbit', 'rpc_conn_pool_size'): (1, 10_000),
    ('oslo_messaging_rabbit', 'rabbit_qos_prefetch_count'): (0, 65_535),
}


def validate(conf):
    """Refuse an oslo.messaging number outside ``LIBRARY_BOUNDS``."""
    for (group, name), (low, high) in LIBRARY_BOUNDS.items():
        value = conf[name] if group == 'DEFAULT' else conf[group][name]
        if value is None or not low <= value <= high:
            # None: written empty, which oslo.config reads as no value
            raise exception.ConfigInvalid(
                group=group, option=name, value=value,
                reason=f'must be a number between {low} and {high}')


def _messaging_opts(groups=MESSAGING_GROUPS):
    found = {}
    for group, opts in messaging_opts.list_opts():
        if groups is None or group in groups:
            found['DEFAULT' if group is None else group] = list(opts)
    return found


def register_opts(conf):
    for group, opts in _messaging_opts(groups=None).items():
        conf.register_opts(opts, group=None if group == 'DEFAULT' else group)
    for module, name, group in _GLOBAL_ONLY:
        opts = getattr(importlib.import_module(module), name, None)
        if opts is not None:
            conf.register_opts(opts, group=group)
    # Unset means the in-process bus (hoststate.rpc), not oslo.messaging's
    # "rabbit://" on localhost: a single process needs no broker.
    conf.set_default('transport_url', None)
    conf.register_opts(rpc_opts)
    utils.register_group_opts(conf, upgrade_levels_group,
                              upgrade_levels_opts)
    utils.register_group_opts(conf, conductor_group, conductor_opts)


def list_opts():
    grouped = _messaging_opts()
    grouped.setdefault('DEFAULT', []).extend(rpc_opts)
    grouped[upgrade_levels_group.name] = upgrade_levels_opts
    grouped[conductor_group.name] = conductor_opts
    return grouped
