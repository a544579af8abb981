"""[metrics] options of the metrics weigher."""

from oslo_config import cfg

from hoststate.conf import utils

metrics_group = cfg.OptGroup(
    'metrics',
    title='Metrics weigher options',
    help='How the scheduler weighs hosts by the metrics they report.')

metrics_weight_opts = [
    cfg.FloatOpt(
        'weight_multiplier',
        default=1.0,
        help="""
Multiplier of the metrics weight. Positive values favour hosts with
a larger weighted sum of metrics, negative values hosts with a
smaller one, and 0 disables the weigher.
"""),
    cfg.ListOpt(
        'weight_setting',
        default=[],
        help="""
Metrics to weigh and their factors, as ``name=ratio`` pairs, for
example ``cpu.frequency=1.0, cpu.percent=-0.5``. A host's metrics
weight is the sum of each metric value times its ratio.
"""),
    cfg.BoolOpt(
        'required',
        default=True,
        help="""
What to do when a host lacks a metric listed in weight_setting: if
true the weigher raises an error, if false the host gets
weight_of_unavailable as its metrics weight.
"""),
    cfg.FloatOpt(
        'weight_of_unavailable',
        default=-10000.0,
        help="""
Metrics weight of a host missing one of the configured metrics, used
only when ``required`` is false.
"""),
]


def register_opts(conf):
    utils.register_group_opts(conf, metrics_group, metrics_weight_opts)


def list_opts():
    return {metrics_group.name: metrics_weight_opts}
