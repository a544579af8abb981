"""The operator views of a big cloud: ``hoststate service-list`` and
``hoststate hypervisor-list``, end to end in-process (arguments, schema
check, queries, one bulk liveness call, the printed table), on SQLite and
PostgreSQL.

The cloud is ``support.cloud_mix``'s: one compute service and one node
per host, three zones, a few hosts disabled or forced down. CI runs each
command once on 300 nodes (``--benchmark-disable``); the figure of issue
14 (under 1 s at 50,000 nodes) is

    pytest benchmarks/bench_views.py --benchmark-enable

The load average at the start of each test goes into
``benchmark.extra_info`` beside the figures. Nothing here asserts a time:
a busy machine is slow, not wrong.
"""
import contextlib
import io
import os

import pytest

from hoststate import conf as hs_conf
from hoststate.cli import main as cmd_main

from support import cloud_mix
from support import databases
from run_mode import full_mode

SHORT_NODES, FULL_NODES = 300, 50_000
#: rounds of pytest-benchmark's timings (--benchmark-enable)
ROUNDS = 5
COMMANDS = ("service-list", "hypervisor-list")


def _full(config):
    """Timings asked for (as pytest-benchmark decides it is enabled)."""
    return full_mode(config)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def big_cloud(request, tmp_path_factory):
    """(database, node count) of a cloud built once per backend."""
    nodes = FULL_NODES if _full(request.config) else SHORT_NODES
    database = databases.IsolatedDatabase(
        request.param, tmp_path_factory.mktemp("views"))
    try:
        database.create_schema()
        cloud_mix.populate(database.engine, nodes)
        yield database, nodes
    finally:
        database.drop()
        hs_conf.load(args=[], config_files=[])   # what the commands loaded


def _view(url, command):
    """The stdout of ``hoststate --database-url URL COMMAND``."""
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert cmd_main.main(["--database-url", url, command]) == 0
    return printed.getvalue()


@pytest.mark.parametrize("command", COMMANDS)
def test_view(benchmark, big_cloud, command):
    database, nodes = big_cloud
    benchmark.extra_info.update(backend=database.backend, nodes=nodes,
                                load_average=os.getloadavg())
    printed = benchmark.pedantic(_view, args=(database.url, command),
                                 rounds=ROUNDS, iterations=1,
                                 warmup_rounds=1)
    # a header, then a line per service (service-list) or node
    # (hypervisor-list), in id order: one of each per host here
    lines = printed.splitlines()
    assert (lines[0].split()[0], len(lines)) == ("id", nodes + 1)
    assert [line.split()[0] for line in lines[1:4]] == ["1", "2", "3"]
