"""The metrics filter: hosts reporting every metric the weigher uses.

``[metrics] weight_setting`` lists ``name=ratio`` pairs; the MetricsWeigher
sums each metric times its ratio and cannot weigh a host lacking one. This
filter drops such hosts first.
"""
from hoststate.scheduler.filters import BaseHostFilter
from hoststate.scheduler.filters import all_rows_pass


def parse_weight_setting(entries):
    """``[metrics] weight_setting`` as a list of (name, ratio).

    Nova's rule: an entry is ``name=ratio`` with a float ratio and a
    non-empty name (the name is stripped after that check); other entries
    are ignored rather than refused, as Nova only logs them.
    """
    parsed = []
    for entry in entries:
        name, separator, value = entry.partition("=")
        try:
            ratio = float(value)
        except ValueError:
            continue
        if name and separator:
            parsed.append((name.strip(), ratio))
    return parsed


class MetricsFilter(BaseHostFilter):
    """Hosts whose metrics include every name in ``weight_setting``."""

    RUN_ON_REBUILD = False

    def __init__(self, conf):
        super().__init__(conf)
        # As Nova, the setting is read when the filter is loaded.
        self.names = frozenset(
            name for name, _ in
            parse_weight_setting(conf.metrics.weight_setting))

    def filter_mask(self, table, rows, request):
        if not self.names:
            return all_rows_pass(rows)
        names = self.names
        column = table.interned["metrics"]
        reports_all = column.map(lambda metrics: names <= metrics.keys(),
                                 dtype=bool, key=("reports_metrics", names))
        return reports_all[column.codes[rows]]

    def explain(self, table, removed_rows, request):
        wanted = ", ".join(sorted(self.names))
        return f"no host reports every metric of weight_setting ({wanted})"
