"""Registering a compute host's nodes: ``ComputeAgent.start`` (service,
bulk registration, first update) for many fake nodes, on each database.

CI runs the short form once (300 nodes, ``--benchmark-disable``). The full
figure, 3,000 nodes as ``hoststate compute --fake-nodes 3000`` registers:

    pytest benchmarks/bench_cli_compute.py --benchmark-enable

or the whole command as a process, with the machine's load beside it:

    python benchmarks/bench_cli_compute.py [--nodes 3000] [--rounds 3]
        [--database-url postgresql://postgres@127.0.0.1/postgres]

(the script makes and drops a database of its own on that server).
Nothing here asserts a time: a busy machine is slow, not wrong.
"""
import argparse
import os
import statistics
import subprocess
import sys
import time
import uuid

import sqlalchemy as sa

from hoststate.resource_tracker import agent as agent_mod
from hoststate.resource_tracker import fake_driver
from run_mode import full_mode

SHORT_NODES, FULL_NODES = 300, 3000
SHAPE = dict(vcpus=64, memory_mb=256 * 1024, local_gb=2000)
LAUNCH = "import sys; from hoststate.cli.main import main; sys.exit(main())"


def node_count(config):
    """The full count when timings are asked for (as pytest-benchmark
    decides whether it is enabled), else the short one."""
    return FULL_NODES if full_mode(config) else SHORT_NODES


def test_register_nodes(benchmark, request, database, ctx):
    """Every round registers a new host of N new nodes."""
    count = node_count(request.config)
    hosts = iter(range(1_000_000))

    def new_host():
        host = f"bench-{next(hosts)}"
        driver = fake_driver.FakeDriver.uniform(count, prefix=f"{host}-n",
                                                **SHAPE)
        return (agent_mod.ComputeAgent(ctx, driver, host=host),), {}

    def start(agent):
        assert agent.start() == {}

    benchmark.pedantic(start, setup=new_host, rounds=3, iterations=1)
    with database.engine.connect() as conn:
        stored = conn.execute(sa.text(
            "SELECT count(*) FROM compute_nodes")).scalar()
    assert stored % count == 0 and stored >= count


# --- by hand: the whole command as a process --------------------------------------

def _scratch_database(server_url):
    from hoststate.db import engine as db_engine
    url = db_engine.normalize_url(server_url)
    name = f"hs_bench_{uuid.uuid4().hex[:10]}"
    admin = db_engine.create_engine(url, poolclass=sa.pool.NullPool,
                                    isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    return admin, name, url.set(database=name).render_as_string(
        hide_password=False)


def _drop(admin, name):
    force = " WITH (FORCE)" if admin.dialect.name == "postgresql" else ""
    with admin.connect() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}{force}")


def _hoststate(url, *argv):
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", LAUNCH, "--database-url", url,
                    *argv], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=FULL_NODES)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--database-url",
                        default="postgresql://postgres@127.0.0.1/postgres")
    options = parser.parse_args()
    print(f"load average before: {os.getloadavg()}")
    first, again = [], []
    for round_ in range(options.rounds):
        admin, name, url = _scratch_database(options.database_url)
        try:
            _hoststate(url, "db", "sync")
            argv = ("compute", "--once", "--host", f"bench{round_}",
                    "--fake-nodes", str(options.nodes))
            first.append(_hoststate(url, *argv))
            again.append(_hoststate(url, *argv))
        finally:
            _drop(admin, name)
    for what, times in (("first start", first), ("restart", again)):
        print(f"hoststate compute --once --fake-nodes {options.nodes}, "
              f"{what}: min {min(times):.2f} s  median "
              f"{statistics.median(times):.2f} s")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
