"""``hoststate simulate`` costs: seeding a pre-filled cloud, and a short
run of the main loop (placements, deletes, adoptions) on SQLite.

CI runs each once (``--benchmark-disable``); run
``pytest benchmarks/bench_simulate.py --benchmark-enable`` for timings.
The default run itself (100 nodes, 3,000 requests) is measured by hand:
see the README's "hoststate simulate" example. The run at 1,000 nodes
(issue 14's target: 1,000 placements/s end to end) places 4,000
requests in full mode, 200 in CI, and reports placements/s.
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
from run_mode import full_mode

#: the 1,000-node run: requests in full mode and in CI
THOUSAND_NODES_REQUESTS = (4000, 200)


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


def test_a_run_of_1000_nodes(benchmark, fresh_context, simulation_conf,
                             request):
    """Seed 1,000 pre-filled nodes, then place the stream with the
    database claim, agents adopting and deleting (issue 14)."""
    requests = THOUSAND_NODES_REQUESTS[0 if full_mode(request.config)
                                       else 1]

    def run():
        return runner.Simulation(fresh_context(), simulation_conf,
                                 runner.Options(nodes=1000,
                                                requests=requests)).run()
    result = benchmark.pedantic(run, rounds=1, iterations=1)
    assert result.placements + result.no_valid_host == requests
    benchmark.extra_info.update(
        placements_per_second=round(result.placements / result.run_seconds,
                                    1),
        setup_seconds=round(result.setup_seconds, 2),
        run_seconds=round(result.run_seconds, 2))
