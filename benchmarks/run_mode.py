"""Whether the benchmarks run for their figures or once each, small.

``pytest`` (CI) runs every benchmark once with small sizes, so it stays
correct and quick (``addopts`` has ``--benchmark-disable``);
``pytest benchmarks --benchmark-enable`` runs them at full size for the
figures the README and closing notes report.
"""


def full_mode(config):
    """Whether pytest runs the benchmarks for their figures
    (``--benchmark-enable``) rather than once each, small, as CI does."""
    options = config.option
    return bool(getattr(options, "benchmark_enable", False)) or \
        not getattr(options, "benchmark_disable", False)
