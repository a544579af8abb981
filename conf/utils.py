"""Small helpers shared by the option modules of :mod:`hoststate.conf`."""

import math
import reprlib

from oslo_config import cfg
from oslo_config import types

#: What oslo-config-generator writes for an option whose default is None.
#: Admins often uncomment such a line unchanged (``memcached_servers =
#: <None>``); oslo.config itself would read it as the literal string
#: ``'<None>'`` (or the list ``['<None>']`` for a ListOpt).
NONE_PLACEHOLDER = types.ConfigType.NONE_DEFAULT

_SUBTYPES = {}


class _NonePlaceholderMixin:
    """Turns ``<None>`` into None before the real type converts a value."""

    def __call__(self, value, *args, **kwargs):
        if isinstance(value, str) and value.strip() == NONE_PLACEHOLDER:
            return None
        return super().__call__(value, *args, **kwargs)


class _NoEmptyNumberMixin:
    """Refuses the None an empty number (``report_interval =``) reads as.

    oslo.config reads an empty integer or float as None, which an option
    with a real default cannot hold: code multiplies it later and fails.
    """

    def __call__(self, value, *args, **kwargs):
        result = super().__call__(value, *args, **kwargs)
        if result is None:
            raise ValueError("an empty value is not a number (remove the "
                             "line to use the default)")
        return result


def _subtype(prefix, mixin, base):
    try:
        return _SUBTYPES[prefix, base]
    except KeyError:
        sub = type(prefix + base.__name__, (mixin, base),
                   {'__module__': __name__})
        _SUBTYPES[prefix, base] = sub
        return sub


def accept_none_placeholder(opts):
    """Let every option of ``opts`` whose default is None read ``<None>``.

    The option keeps its class (StrOpt, ListOpt ...) and its type's settings
    (choices, bounds); only the value converter learns that ``<None>`` means
    "unset". Options with a real default keep refusing ``<None>``, and
    those that are numbers also refuse an empty value (which oslo.config
    would read as None). Idempotent. Returns ``opts``.
    """
    for opt in opts:
        base = type(opt.type)
        if issubclass(base, (_NonePlaceholderMixin, _NoEmptyNumberMixin)):
            continue
        if opt.default is None:
            opt.type.__class__ = _subtype('Nullable', _NonePlaceholderMixin,
                                          base)
        elif isinstance(opt.type, (types.Integer, types.Float)):
            opt.type.__class__ = _subtype('Required', _NoEmptyNumberMixin,
                                          base)
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


def check_finite(value):
    """``value``, unless it is a float that is NaN or infinite (ValueError).

    oslo.config's Float reads ``nan``, ``inf`` and ``1e999`` as floats, and
    each passes a min/max check it should fail (NaN compares false with
    everything): such a value would be stored and crash the scheduler later.
    """
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("Should be a finite number, not %r" % value)
    return value


class FiniteFloat(types.Float):
    """oslo.config's Float that also refuses NaN and infinities."""

    def __call__(self, value):
        return check_finite(super().__call__(value))


def name_list(max_length):
    """The item type of a ListOpt whose entries are names of at most
    ``max_length`` characters."""
    return types.String(max_length=max_length)


def float_opt(name, min=None, max=None, **kwargs):
    """A FloatOpt whose value must be a finite number in [min, max].

    Still a ``cfg.FloatOpt`` (the sample generator and ``config show``
    treat it as one); only its type also refuses NaN and infinities, also
    when a value is set with ``set_override``.
    """
    opt = cfg.FloatOpt(name, min=min, max=max, **kwargs)
    opt.type = FiniteFloat(min=min, max=max)
    return opt


#: Longest quotation of a value or of a file's content in an error
#: message: a message is one short line even for a megabyte-long value.
MAX_QUOTED = 120


def shorten(text, limit=MAX_QUOTED):
    """``text`` on one line (whitespace runs become one space), each word
    longer than ``limit`` (a quoted value) cut with a note of its length,
    so the words around it, which say what is wrong, stay."""
    return " ".join(
        word if len(word) <= limit
        else "%s... (%d characters)" % (word[:limit], len(word))
        for word in str(text).split())


class ShortRepr:
    """Stands for a value in a ``%r`` format: its repr, abbreviated when
    long (a 10,000-character host name, a list of a million items)."""

    _repr = reprlib.Repr()
    _repr.maxstring = _repr.maxother = MAX_QUOTED
    _repr.maxlong = 40

    def __init__(self, value):
        self.value = value

    def __repr__(self):
        return self._repr.repr(self.value)
