"""[metrics] options of the metrics weigher."""

from oslo_config import cfg
from oslo_config import types

from hoststate.conf import limits
from hoststate.conf import utils

metrics_group = cfg.OptGroup(
    'metrics',
    title='Metrics weigher options',
    help='How the scheduler weighs hosts by the metrics they report.')

class WeightSettingEntry(types.String):
    """A ``name=ratio`` entry of weight_setting whose ratio, when it is a
    number, is a finite one (``cpu.percent=nan`` would make every host's
    weight NaN). An entry that is not ``name=number`` at all is left to
    the weigher, which ignores it with a warning, as Nova does."""

    def __call__(self, value):
        entry = super().__call__(value)
        _name, separator, ratio = entry.partition('=')
        try:
            number = float(ratio)
        except ValueError:
            return entry
        if separator:
            utils.check_finite(number)
        return entry


metrics_weight_opts = [
    utils.float_opt(
        'weight_multiplier',
        default=1.0,
        min=-limits.MAX_WEIGHT,
        max=limits.MAX_WEIGHT,
        help="""
Multiplier of the metrics weight. Positive values favour hosts with
a larger weighted sum of metrics, negative values hosts with a
smaller one, and 0 disables the weigher. A finite number of at most
1e9 either way (see hoststate.conf.limits.MAX_WEIGHT).
"""),
    cfg.ListOpt(
        'weight_setting',
        default=[],
        item_type=WeightSettingEntry(),
        help="""
Metrics to weigh and their factors, as ``name=ratio`` pairs, for
example ``cpu.frequency=1.0, cpu.percent=-0.5``. A host's metrics
weight is the sum of each metric value times its ratio, which must be
a finite number.
"""),
    cfg.BoolOpt(
        'required',
        default=True,
        help="""
What to do when a host lacks a metric listed in weight_setting: if
true the weigher raises an error, if false the host gets
weight_of_unavailable as its metrics weight.
"""),
    utils.float_opt(
        'weight_of_unavailable',
        default=-10000.0,
        min=-limits.MAX_WEIGHT,
        max=limits.MAX_WEIGHT,
        help="""
Metrics weight of a host missing one of the configured metrics, used
only when ``required`` is false. A finite number of at most 1e9 either
way.
"""),
]


def register_opts(conf):
    utils.register_group_opts(conf, metrics_group, metrics_weight_opts)


def list_opts():
    return {metrics_group.name: metrics_weight_opts}
