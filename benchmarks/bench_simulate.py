"""``hoststate simulate`` costs: seeding a pre-filled cloud, and a short
run of the main loop (placements, deletes, adoptions) on SQLite.

CI runs each once (``--benchmark-disable``); run
``pytest benchmarks/bench_simulate.py --benchmark-enable`` for timings.
The default run itself (100 nodes, 3,000 requests) is measured by hand:
see the README's "hoststate simulate" example.
"""
import itertools

import pytest

from hoststate import conf as hs_conf
from hoststate import context as hs_context
from hoststate.db import engine as db_engine
from hoststate.db import migration
from hoststate.simulation import cloud
from hoststate.simulation import fleet as fleet_mod
from hoststate.simulation import runner


@pytest.fixture
def fresh_context(tmp_path):
    """A new SQLite database with the schema for each call."""
    names = itertools.count()
    engines = []

    def make():
        engine = db_engine.create_engine(
            f"sqlite:///{tmp_path}/bench{next(names)}.sqlite")
        migration.sync(engine)
        engines.append(engine)
        return hs_context.get_admin_context(engine=engine)
    yield make
    for engine in engines:
        engine.dispose()


@pytest.fixture
def simulation_conf():
    conf = hs_conf.CONF
    conf.set_override("enabled_filters", runner.FILTERS, "filter_scheduler")
    conf.set_override("report_interval", 1)
    yield conf
    conf.clear_override("enabled_filters", "filter_scheduler")
    conf.clear_override("report_interval")


def test_seed_a_prefilled_cloud_of_1000_hosts(benchmark, fresh_context,
                                              simulation_conf):
    hosts = cloud.build_hosts(1000)

    def seed():
        fleet = fleet_mod.Fleet(fresh_context(), simulation_conf, hosts)
        return fleet.seed(prefill=runner.DEFAULT_PREFILL)
    assert benchmark.pedantic(seed, rounds=1, iterations=1) > 20000


def test_a_short_run_of_the_default_cloud(benchmark, fresh_context,
                                          simulation_conf):
    def run():
        return runner.Simulation(fresh_context(), simulation_conf,
                                 runner.Options(requests=300)).run()
    result = benchmark.pedantic(run, rounds=1, iterations=1)
    assert result.placements + result.no_valid_host == 300
    benchmark.extra_info["placements_per_second"] = round(
        result.placements / result.run_seconds, 1)
