"""MetricsWeigher: weigh hosts by the metrics their monitors report.

``[metrics] weight_setting`` lists ``name=ratio`` pairs; a host's raw
weight is the sum of ``value * ratio`` over them. A host that lacks one of
the metrics cannot be compared fairly, so either the request fails
(``[metrics] required``, raising MetricNotFound) or the host gets ``[metrics]
weight_of_unavailable`` (very negative by default, so it comes last). A
missing metric whose ratio, or the host's multiplier, is 0 could not change
the weight, so it is skipped instead.

The multiplier is ``[metrics] weight_multiplier``, overridden per host by
the aggregate metadata key ``metrics_weight_multiplier`` (Nova's name).
"""
import logging

import numpy as np

from hoststate import exception
from hoststate.scheduler.weights import BaseHostWeigher

LOG = logging.getLogger(__name__)


def parse_weight_setting(entries):
    """[(name, ratio)] from ``name=ratio`` strings, in order.

    An entry without ``=``, with an empty name or a ratio that is not a
    number is left out (and logged), so one typo does not stop the
    scheduler; the remaining metrics still weigh.
    """
    good, bad = [], []
    for entry in entries or ():
        name, separator, ratio = str(entry).partition("=")
        name = name.strip()
        try:
            ratio = float(ratio)
        except ValueError:
            ratio = None
        if name and separator and ratio is not None:
            good.append((name, ratio))
        else:
            bad.append(entry)
    if bad:
        LOG.warning("Ignoring invalid [metrics] weight_setting entries: %s",
                    ", ".join(map(str, bad)))
    return good


class MetricsWeigher(BaseHostWeigher):
    """Weighted sum of the configured metrics (see the module docstring)."""

    multiplier_option = "metrics_weight_multiplier"
    weighs_when_multiplier_zero = True

    def __init__(self, conf):
        super().__init__(conf)
        self.setting = parse_weight_setting(conf.metrics.weight_setting)

    def config_multiplier(self):
        return float(self.conf.metrics.weight_multiplier)

    def applies(self, request):
        """Without a weight setting every host weighs 0: nothing to add,
        and no metric that could be missing."""
        return bool(self.setting)

    def raw_weights(self, table, rows, request):
        if not self.setting:
            return np.zeros(len(rows))
        values = np.array([table.metric(name)[rows]
                           for name, _ in self.setting]).reshape(
                               len(self.setting), len(rows))
        missing = np.isnan(values)
        if missing.any() and self.conf.metrics.required:
            self._raise_missing(table, rows, missing)
        ratios = np.array([ratio for _, ratio in self.setting])[:, None]
        total = np.where(missing, 0.0, values * ratios).sum(axis=0)
        return np.where(self._unavailable(table, rows, request, missing,
                                          ratios),
                        float(self.conf.metrics.weight_of_unavailable), total)

    def _unavailable(self, table, rows, request, missing, ratios):
        """Rows lacking a metric that would have counted (its ratio and the
        row's multiplier both non-zero)."""
        if not missing.any():
            return np.zeros(len(rows), dtype=bool)
        multipliers = self.multipliers(table, rows, request)
        counts = (ratios * multipliers[None, :]) != 0
        return (missing & counts).any(axis=0)

    def _raise_missing(self, table, rows, missing):
        """Name the first candidate lacking a metric, and the first metric
        it lacks (the one a host-by-host walk would stop at)."""
        column = int(np.flatnonzero(missing.any(axis=0))[0])
        name = self.setting[int(np.flatnonzero(missing[:, column])[0])][0]
        raise exception.MetricNotFound(host=table.host_of(rows[column]),
                                       name=name)
