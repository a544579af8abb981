"""Host weighers: raw weights per candidate row, normalised as Nova does.

A weigher implements ``raw_weights(table, rows, request)`` (a float array,
one per row). The handler min-max normalises them over the candidates (all
zero when every value is equal), multiplies each host's by its multiplier
and sums over weighers. With a single candidate no weigher runs and the
weight is 0.0.

A weigher's ``minval``/``maxval`` (class attributes, None for none) bound
its raw weights as Nova 34's do: each raw weight is clamped into them
first (with ``minval = 0``, a host with negative free RAM, possible with a
RAM ratio above 1, weighs as a host with none), and the range normalised
over is ``minval``..``maxval`` where set, the clamped weights' own
minimum or maximum where not. So with ``minval = 0`` the smallest positive
weight is not forced to 0, and one over-committed host does not change
every other host's normalised weight. (Nova up to Stein widened the range
to a negative weight instead, and kept the widened bound on the weigher
object; Nova 34 does neither.)

The multiplier is ``[filter_scheduler] <multiplier_option>``, overridden by
the aggregate metadata key of the same name: the smallest value among the
host's aggregates wins; if any of them does not parse as a float, the host
gets the configured multiplier (Nova casts them all and falls back on the
first error).
"""
import numpy as np

from hoststate.conf import scheduler as scheduler_conf
from hoststate.scheduler import plugins


class BaseHostWeigher:
    minval = None
    maxval = None
    #: Compute raw weights even when every multiplier is 0.
    weighs_when_multiplier_zero = False
    #: Option of [filter_scheduler] (and aggregate metadata key) holding the
    #: multiplier.
    multiplier_option = None

    def __init__(self, conf):
        self.conf = conf

    @property
    def name(self):
        return type(self).__name__

    #: -1 for a weigher whose configured multiplier is a penalty size
    multiplier_sign = 1.0

    def config_multiplier(self):
        return float(self.conf.filter_scheduler[self.multiplier_option])

    def multipliers(self, table, rows, request):
        """The multiplier of each row: the aggregate override or config."""
        return self.multiplier_sign * aggregate_multipliers(
            table, rows, self.multiplier_option, self.config_multiplier())

    def uniform_multiplier(self, table):
        """The one multiplier of every row when no aggregate overrides it
        (the common case, a number instead of a column), else None."""
        if has_aggregate_override(table, self.multiplier_option):
            return None
        return self.multiplier_sign * self.config_multiplier()

    def applies(self, request):
        """False when every host's raw weight is bound to be equal for
        ``request`` (a group weigher without a group): then it adds 0 and
        is not run at all."""
        return True

    def raw_weights(self, table, rows, request):
        raise NotImplementedError


def normalize(values, minval=None, maxval=None):
    """Nova's normalisation: (v - min) / (max - min), all 0.0 when equal.

    ``minval``/``maxval`` replace the observed minimum/maximum when given.
    """
    values = np.asarray(values, dtype=np.float64)
    if len(values) == 0:
        return values
    low = values.min() if minval is None else float(minval)
    high = values.max() if maxval is None else float(maxval)
    if low == high:
        return np.zeros(len(values))
    return (values - low) / (high - low)


def clamped(values, minval=None, maxval=None):
    """Raw weights clamped into ``minval``..``maxval`` (where set), as
    Nova's weigh_objects does before normalising; the array itself when
    neither is set."""
    if minval is None and maxval is None:
        return values
    return np.clip(values, minval, maxval)


def bounds(values, minval=None, maxval=None):
    """The (low, high) range Nova normalises (clamped) weights over:
    ``minval``/``maxval`` where set, else the weights' own minimum or
    maximum."""
    low = values.min() if minval is None else float(minval)
    high = values.max() if maxval is None else float(maxval)
    return low, high


def _parse_multiplier(value):
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _smallest_of(key):
    def smallest(aggregates):
        found = [_parse_multiplier(a.metadata[key]) for a in aggregates
                 if key in a.metadata]
        if not found or any(v is None for v in found):
            return np.nan
        return min(found)
    return smallest


def has_aggregate_override(table, key):
    """Whether some aggregate of some host sets (a valid) ``key``."""
    by_set = table.per_aggregate_set(_smallest_of(key),
                                     key=("multiplier", key))
    cache = table.__dict__.setdefault("_override_cache", {})
    known = cache.get(key)
    if known is not None and known[0] is by_set:
        return known[1]
    answer = not np.isnan(by_set).all()
    cache[key] = (by_set, answer)
    return answer


def aggregate_multipliers(table, rows, key, default):
    """Per-row multiplier ``key``: the smallest aggregate value, else
    ``default`` (no aggregate sets it, or one sets it to a non-number)."""
    if not has_aggregate_override(table, key):
        return np.full(len(rows), float(default))
    by_set = table.per_aggregate_set(_smallest_of(key),
                                     key=("multiplier", key))
    values = by_set[table.aggregate_codes[rows]]
    return np.where(np.isnan(values), default, values)


def weigh(weighers, table, rows, request):
    """Total weight of each of ``rows`` (zeros when there is one or none).

    A weigher whose multiplier is 0 for every row adds nothing, so its raw
    weights are not computed (unless it sets ``weighs_when_multiplier_zero``,
    as MetricsWeigher does: a required metric that is missing must raise
    whatever the multiplier).
    """
    total = np.zeros(len(rows))
    if len(rows) <= 1:
        return total
    for weigher in weighers:
        if not weigher.applies(request):
            continue
        multipliers = weigher.uniform_multiplier(table)
        if multipliers is None:
            multipliers = weigher.multipliers(table, rows, request)
            silent = not multipliers.any()
        else:
            silent = multipliers == 0
        if silent and not weigher.weighs_when_multiplier_zero:
            continue
        raw = clamped(np.asarray(weigher.raw_weights(table, rows, request),
                                 dtype=np.float64),
                      weigher.minval, weigher.maxval)
        low, high = bounds(raw, weigher.minval, weigher.maxval)
        if low == high:
            continue                # Nova: every normalised weight is 0
        # multipliers * ((raw - low) / (high - low)), in one new array
        normalised = raw - low
        normalised /= high - low
        normalised *= multipliers
        total += normalised
    return total


def load(conf, names=None):
    """The configured weighers (``weight_classes``; ``all`` for every one)."""
    if names is None:
        names = conf.filter_scheduler.weight_classes
    names = list(names)
    if names == [scheduler_conf.ALL_WEIGHERS]:
        names = plugins.weighers.names()
    return plugins.weighers.load(names, conf)
