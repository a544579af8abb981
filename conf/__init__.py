"""Configuration options of hoststate.

Option names, groups and defaults are Nova's, so an existing nova.conf is read
unchanged; options hoststate does not know (``[libvirt]``, ``vif_plugging_timeout``
...) are ignored. One module per group or topic, as in ``nova.conf``.

Public API:

* ``CONF``: the process-wide :class:`oslo_config.cfg.ConfigOpts`, with every
  option registered (like ``nova.conf.CONF``);
* ``register_opts(conf)``: register every option on any ConfigOpts;
* ``list_opts()``: ``[(group_name, [opts])]`` for oslo-config-generator;
* ``load(...)``: parse arguments and files, then validate every value now;
* ``validate(conf)``: the eager validation on its own;
* ``database_url(conf, override=None)``: the cell database URL.
"""

import os

from oslo_config import cfg

import hoststate
from hoststate import exception
from hoststate.conf import availability_zone
from hoststate.conf import cells
from hoststate.conf import compute
from hoststate.conf import database
from hoststate.conf import files
from hoststate.conf import logging as log_conf
from hoststate.conf import metrics
from hoststate.conf import netconf
from hoststate.conf import paths
from hoststate.conf import rpc
from hoststate.conf import scheduler
from hoststate.conf import service
from hoststate.conf import servicegroup
from hoststate.conf import utils
from hoststate.conf import virt
from hoststate.conf import zookeeper
from hoststate.conf.database import database_url

__all__ = ['CONF', 'register_opts', 'list_opts', 'load', 'validate',
           'database_url']

_MODULES = (
    paths,
    netconf,
    service,
    servicegroup,
    compute,
    virt,
    availability_zone,
    zookeeper,
    scheduler,
    metrics,
    database,
    cells,
    rpc,
    log_conf,
)


def register_opts(conf):
    """Register every hoststate group and option on ``conf``.

    Safe to call more than once on the same ConfigOpts.
    """
    for module in _MODULES:
        module.register_opts(conf)


def list_opts():
    """Return ``[(group_name, [opts])]``, ``'DEFAULT'`` first, then groups in
    alphabetical order (the shape oslo-config-generator expects)."""
    grouped = {}
    for module in _MODULES:
        for group, opts in module.list_opts().items():
            grouped.setdefault(group, []).extend(opts)
    names = sorted(grouped, key=lambda name: (name != 'DEFAULT', name))
    return [(name, grouped[name]) for name in names]


# A value of '<None>' (what the sample generator writes for an unset option)
# means None for every option whose default is None.
for _group, _opts in list_opts():
    utils.accept_none_placeholder(_opts)
del _group, _opts

CONF = cfg.ConfigOpts()
register_opts(CONF)


def load(args=None, config_files=None, conf=None, project='hoststate', *,
         use_env=True):
    """Parse the configuration and validate every option value.

    :param args: command-line arguments (``--config-file``, ``--config-dir``
        ...). None means no arguments: unlike oslo.config, ``sys.argv`` is
        never read implicitly, since hoststate is a library; a command passes
        ``sys.argv[1:]`` itself.
    :param config_files: config files read when ``args`` has no
        ``--config-file`` (one given there replaces this whole list, as in
        oslo.config); later files win. None or empty means none: no implicit
        ``/etc/<project>/`` file or ``.conf.d`` directory is ever looked up.
    :param conf: the ConfigOpts to fill; defaults to :data:`CONF`. Every
        hoststate option is registered on it first.
    :param project: project name given to oslo.config.
    :param use_env: whether ``OS_<GROUP>__<OPTION>`` environment variables
        may set values (oslo.config's default, kept).
    :returns: ``conf``, parsed and validated.
    :raises hoststate.exception.ConfigFileInvalid: a configuration file
        (or ``--config-dir``) does not exist, cannot be read, is not UTF-8
        text or is not valid INI; ``path`` names it.
    :raises hoststate.exception.ConfigInvalid: a value is not valid for its
        option (type, min/max, choices, a number that is not finite).
    """
    if conf is None:
        conf = CONF
    register_opts(conf)
    args = list(args) if args is not None else []
    config_files = list(config_files or [])
    try:
        conf(args,
             project=project,
             version=hoststate.__version__,
             default_config_files=config_files,
             default_config_dirs=[],
             validate_default_values=True,
             use_env=use_env)
    except (cfg.Error, OSError, UnicodeDecodeError) as exc:
        invalid = files.explain(exc, files.candidates(args, config_files))
        if invalid is None:
            raise
        raise invalid from exc
    validate(conf)
    return conf


def validate(conf):
    """Read every registered option of every group of ``conf``.

    oslo.config converts and range-checks a value only when it is read; this
    forces that now, also refuses a float that is NaN or infinite (which
    oslo.config's own FloatOpt, registered by other code, accepts), and
    turns the first failure into
    :class:`hoststate.exception.ConfigInvalid` with ``group`` (``'DEFAULT'``
    for the default group), ``option``, ``value`` (the value as written, a
    string for values read from a file, or None if it cannot be recovered)
    and ``reason``.
    """
    for name in list(conf):
        value = _read(conf, None, name)
        if isinstance(value, cfg.ConfigOpts.GroupAttr):
            for opt_name in list(value):
                _read(conf, name, opt_name)
    rpc.validate(conf)


def _read(conf, group, name):
    try:
        value = conf[name] if group is None else conf[group][name]
        # also for options registered elsewhere, with oslo's own FloatOpt
        return utils.check_finite(value)
    except (cfg.Error, ValueError) as exc:
        raise _config_invalid(conf, group, name, exc) from exc


def _config_invalid(conf, group, name, exc):
    value, source = _raw_value(conf, group, name)
    message = str(exc)
    reason = utils.shorten(message.partition(' is not valid: ')[2] or message)
    if source:
        reason = '%s (set in %s)' % (reason, source)
    facts = dict(group=group or 'DEFAULT', option=name, reason=reason)
    # the message quotes a long value abbreviated; .value keeps all of it
    message = exception.ConfigInvalid.msg_fmt % dict(
        facts, value=utils.ShortRepr(value))
    return exception.ConfigInvalid(message, value=value, **facts)


def _raw_value(conf, group, name):
    """Best effort: the unconverted value of an option and where it is set.

    oslo.config has no public way to read a value its type rejects, so this
    looks into its parsed namespace; any failure there just yields None.
    """
    try:
        opt = conf._get_opt_info(name, group)['opt']
        value, loc = opt._get_from_namespace(conf._namespace, group)
        return value, getattr(loc, 'detail', None) or None
    except Exception:  # noqa: BLE001 - private API, purely informative
        pass
    env_name = 'OS_%s__%s' % ((group or 'DEFAULT').upper(), name.upper())
    if env_name in os.environ:
        return os.environ[env_name], env_name
    return None, None
