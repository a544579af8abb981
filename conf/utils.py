"""Small helpers shared by the option modules of :mod:`hoststate.conf`."""

from oslo_config import cfg
from oslo_config import types

#: What oslo-config-generator writes for an option whose default is None.
#: Admins often uncomment such a line unchanged (``memcached_servers =
#: <None>``); oslo.config itself would read it as the literal string
#: ``'<None>'`` (or the list ``['<None>']`` for a ListOpt).
NONE_PLACEHOLDER = types.ConfigType.NONE_DEFAULT

_NULLABLE_TYPES = {}


class _NonePlaceholderMixin:
    """Turns ``<None>`` into None before the real type converts a value."""

    def __call__(self, value, *args, **kwargs):
        if isinstance(value, str) and value.strip() == NONE_PLACEHOLDER:
            return None
        return super().__call__(value, *args, **kwargs)


def _nullable_type(base):
    try:
        return _NULLABLE_TYPES[base]
    except KeyError:
        sub = type('Nullable' + base.__name__,
                   (_NonePlaceholderMixin, base), {'__module__': __name__})
        _NULLABLE_TYPES[base] = sub
        return sub


def accept_none_placeholder(opts):
    """Let every option of ``opts`` whose default is None read ``<None>``.

    The option keeps its class (StrOpt, ListOpt ...) and its type's settings
    (choices, bounds); only the value converter learns that ``<None>`` means
    "unset". Options with a real default are left alone, so ``<None>`` there
    stays an invalid value. Idempotent. Returns ``opts``.
    """
    for opt in opts:
        if opt.default is not None:
            continue
        base = type(opt.type)
        if issubclass(base, _NonePlaceholderMixin):
            continue
        opt.type.__class__ = _nullable_type(base)
    return opts


def register_group_opts(conf, group, opts):
    """Register ``opts`` in ``group`` on ``conf``, through a group object of
    its own.

    oslo.config keeps a shallow copy of a registered OptGroup, so two
    ConfigOpts given the same module-level group share one option table,
    and an override set on one shows through the other. A fresh group per
    ConfigOpts keeps them apart.
    """
    if group.name not in conf:
        conf.register_group(cfg.OptGroup(name=group.name, title=group.title,
                                         help=group.help))
    conf.register_opts(opts, group=group.name)
