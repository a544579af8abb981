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
from hoststate.hardware.row_runs import take
from hoststate.scheduler import conf_values
from hoststate.scheduler import derived
from hoststate.scheduler import plugins
from hoststate.scheduler import weight_totals


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
    #: The raw weight of a row reads that row's columns only, never the
    #: request: it is then kept as a derived column (``derived``),
    #: clamped, and the rows' weights are one gather.
    RAW_PER_ROW = False
    #: ``raw_weights`` also takes one int row and gives that row's raw
    #: weight (a number, by the same rule): a derived raw-weight column
    #: then computes again the few rows a usage change touched one by one.
    RAW_OF_ONE_ROW = False

    def raw_reads_usage(self):
        """Whether the raw weights read what a usage change writes (see
        ``derived.USAGE_WRITTEN``)."""
        return True

    def config_multiplier(self):
        """``[filter_scheduler] <multiplier_option>`` as a float, kept
        while oslo.config keeps the option's value (``conf_values``)."""
        return conf_values.kept(
            self.conf, ("weigher multiplier", self.multiplier_option),
            lambda conf: float(conf.filter_scheduler[self.multiplier_option]))

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

    def constant(self, store):
        """True when the raw weights are known to be equal on every
        candidate row of ``store`` (the table's ``derived.Derived``), so
        on any of them: the weigher then adds 0 (Nova's normalisation of
        equal weights) and is not run. By default not known."""
        return False

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
    # what np.clip does with one bound (for floats), without its wrapper
    if maxval is None:
        return np.maximum(values, minval)
    if minval is None:
        return np.minimum(values, maxval)
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
    """Whether some aggregate of some host sets (a valid) ``key``; kept
    per table state (``derived``: aggregates change only with it)."""
    return derived.of(table).value(
        ("aggregate override", key),
        lambda: not np.isnan(_multiplier_by_set(table, key)).all())


def _multiplier_by_set(table, key):
    return table.per_aggregate_set(_smallest_of(key),
                                   key=("multiplier", key))


def aggregate_multipliers(table, rows, key, default):
    """Per-row multiplier ``key``: the smallest aggregate value, else
    ``default`` (no aggregate sets it, or one sets it to a non-number).
    The choice is made per aggregate set, then gathered for the rows."""
    if not has_aggregate_override(table, key):
        return np.full(len(rows), float(default))
    by_set = _multiplier_by_set(table, key)
    by_set = np.where(np.isnan(by_set), default, by_set)
    return by_set[take(table.aggregate_codes, rows)]


def weigh(weighers, table, rows, request, store=None):
    """Total weight of each of ``rows`` (zeros when there is one or none).

    A weigher whose multiplier is 0 for every row adds nothing, so its raw
    weights are not computed (unless it sets ``weighs_when_multiplier_zero``,
    as MetricsWeigher does: a required metric that is missing must raise
    whatever the multiplier); nor are those of a weigher ``constant`` on
    the candidates of ``store`` (given when every row is a candidate).
    With ``store``, raw weights and multipliers are derived columns, and
    when every weigher's raw weights are (``RAW_PER_ROW``) the totals are
    ``weight_totals``' (kept between selects, read-only).
    """
    total = np.zeros(len(rows))
    if len(rows) <= 1:
        return total
    plan = []
    for weigher in weighers:
        if not weigher.applies(request):
            continue
        if store is not None and weigher.constant(store):
            continue                # every normalised weight is 0
        uniform = weigher.uniform_multiplier(table)
        if uniform == 0 and not weigher.weighs_when_multiplier_zero:
            continue                # silent: adds nothing
        plan.append((weigher, uniform))
    if store is not None and plan and \
            all(weigher.RAW_PER_ROW for weigher, _ in plan):
        return weight_totals.totals(store, table, rows, request, plan)
    for weigher, multipliers in plan:
        if multipliers is None:
            multipliers = multipliers_of(weigher, table, rows, request, store)
            silent = not multipliers.any()
        else:
            silent = multipliers == 0
        if silent and not weigher.weighs_when_multiplier_zero:
            continue
        raw, fresh = _clamped_raw(weigher, table, rows, request, store)
        low, high = bounds(raw, weigher.minval, weigher.maxval)
        if low == high:
            continue                # Nova: every normalised weight is 0
        total += part(raw, low, high, multipliers, fresh)
    return total


def part(raw, low, high, multipliers, fresh=False):
    """One weigher's part of the total: multipliers * ((raw - low) /
    (high - low)), in Nova's order of operations, in one new array
    (``raw`` itself when ``fresh``: a copy the caller may change)."""
    if fresh:
        normalised = raw
        if low != 0:                # x - 0.0 is x, bit for bit
            normalised -= low
    else:
        normalised = raw - low
    normalised /= high - low
    normalised *= multipliers
    return normalised


def multipliers_of(weigher, table, rows, request, store):
    """The weigher's multiplier of each row: from a derived column when
    ``store`` is given (aggregates and the configured value change it,
    never usage)."""
    if store is None:
        return weigher.multipliers(table, rows, request)
    column = store.column(
        ("multipliers", weigher.name, weigher.config_multiplier()),
        lambda some: weigher.multipliers(table, some, request),
        dtype=np.float64, fill=np.nan, usage=False)
    return take(column, rows)


def _clamped_raw(weigher, table, rows, request, store):
    """(the weigher's raw weights of ``rows`` clamped into its bounds,
    whether that array is a new copy the caller may change); from a
    derived column when ``store`` is given and the weigher's raw weights
    are per row (``RAW_PER_ROW``)."""
    if store is None or not weigher.RAW_PER_ROW:
        return _clamped(weigher, table, rows, request), False
    column = raw_column(store, table, weigher, request)
    span = getattr(rows, "span", None)
    return (column[rows] if span is None else column[span].copy()), True


def raw_column(store, table, weigher, request):
    """The derived column of a ``RAW_PER_ROW`` weigher's clamped raw
    weights."""
    def compute(some):
        return _clamped(weigher, table, some, request)
    return store.column(
        ("raw weights", weigher.name), compute,
        dtype=np.float64, fill=np.nan, usage=weigher.raw_reads_usage(),
        one_row=compute if weigher.RAW_OF_ONE_ROW else None)


def _clamped(weigher, table, rows, request):
    return clamped(np.asarray(weigher.raw_weights(table, rows, request),
                              dtype=np.float64),
                   weigher.minval, weigher.maxval)


def load(conf, names=None):
    """The configured weighers (``weight_classes``; ``all`` for every one)."""
    if names is None:
        names = conf.filter_scheduler.weight_classes
    names = list(names)
    if names == [scheduler_conf.ALL_WEIGHERS]:
        names = plugins.weighers.names()
    return plugins.weighers.load(names, conf)
