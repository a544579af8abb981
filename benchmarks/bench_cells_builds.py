"""End-to-end builds through a cells v1 tree on RabbitMQ (issue 16): a
top and 4 children, each its own SQLite database and its own vhost of
the broker (made and deleted by the run), boots sent back to back at the
top's cells service (``hoststate simulate --cells 4``'s run).

Reports instances/s and where a build's time goes, from the run's probes
(:class:`hoststate.simulation.cells_report.Probes`, wrappers installed
for the run, no change to the cells code): the top's cell choice, the
forward to a child (its whole call, all below included), the child's
own choice, its conductor call (its scheduler's choice and the cast to
the agent) and the agent's build (claim to ACTIVE, after the answer:
the cast is asynchronous). What the forward adds to the child's
conductor call is the two buses' hops and the child's cells service.

CI runs it once, small (``--benchmark-disable``); the figures come from

    pytest benchmarks/bench_cells_builds.py --benchmark-enable -s

with the load average at the start in ``benchmark.extra_info``.
"""
import os

import pytest

from hoststate.simulation import cells_report
from hoststate.simulation import cells_run
from run_mode import full_mode
from support import rabbitmq

CHILDREN = 4
FULL = dict(nodes=64, requests=1000)
SHORT = dict(nodes=8, requests=20)


@pytest.fixture
def broker():
    rabbitmq.require()
    return rabbitmq.url_of("")


def test_builds_through_four_cells_on_rabbitmq(benchmark, broker, request):
    sizes = FULL if full_mode(request.config) else SHORT
    options = cells_run.Options(cells=CHILDREN, transport_url=broker,
                                **sizes)
    load = os.getloadavg()
    found = {}

    def once():
        found["report"] = cells_report.build(cells_run.run(options))

    benchmark.pedantic(once, rounds=1, iterations=1)
    report = found["report"]
    assert report["placements"]["placed"] == sizes["requests"]
    assert cells_report.broken(report) == []
    assert sum(1 for c in report["placements"]["per_cell"].values()
               if c["built"]) >= 1
    benchmark.extra_info.update(
        load=load, builds_per_second=report["builds_per_second"],
        latency_ms=report["latency_ms"])
    print(f"\n{CHILDREN} cells, {sizes['nodes']} nodes, "
          f"{sizes['requests']} builds: {report['builds_per_second']} "
          f"builds/s (load {load[0]:.2f} {load[1]:.2f} {load[2]:.2f})")
    print(cells_report.format_text(report))
