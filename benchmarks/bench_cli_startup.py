"""How long read-only ``hoststate`` commands take to start and finish, as a
process (the user's wait): ``--version``, ``--help`` and the views on a
small SQLite cloud.

CI runs each command once (``--benchmark-disable``). For timings:

    pytest benchmarks/bench_cli_startup.py --benchmark-enable

or, hyperfine-like, with the machine's load printed beside the figures
(``--pythonpath DIR`` times another checkout, e.g. an older release
unpacked as ``DIR/hoststate``):

    python benchmarks/bench_cli_startup.py [--rounds 10] [--pythonpath DIR]

Nothing here asserts a time: a busy machine is slow, not wrong.
"""
import argparse
import os
import statistics
import subprocess
import sys
import time

import pytest

#: the read-only commands timed (the database ones get --database-url)
COMMANDS = (
    ("--version",),
    ("--help",),
    ("config", "show"),
    ("host-list",),
    ("service-list",),
    ("hypervisor-list",),
    ("hypervisor-stats",),
)
LAUNCH = "import sys; from hoststate.cli.main import main; sys.exit(main())"
#: rounds of pytest-benchmark's timings (--benchmark-enable)
ROUNDS = 5


def command_line(argv, database_url):
    """The process to run for ``argv``: the installed entry point's code
    under this interpreter, with the database for the views."""
    needs_database = argv[0] not in ("--version", "--help")
    extra = ["--database-url", database_url] if needs_database else []
    return [sys.executable, "-c", LAUNCH, *extra, *argv]


def run_once(argv, database_url, env=None):
    """Seconds from start to exit of one ``hoststate ARGV`` process."""
    started = time.perf_counter()
    done = subprocess.run(command_line(argv, database_url), env=env,
                          stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"hoststate {' '.join(argv)} exited "
                           f"{done.returncode}: {done.stderr.decode()}")
    return elapsed


def small_cloud(path, env=None):
    """An SQLite database with the schema and one compute host of two
    nodes; returns its URL."""
    url = f"sqlite:///{path}"
    for argv in (("db", "sync"),
                 ("compute", "--once", "--fake-nodes", "2", "--host", "c1")):
        subprocess.run([sys.executable, "-c", LAUNCH, "--database-url", url,
                        *argv], env=env, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return url


@pytest.fixture(scope="module")
def cloud_url(tmp_path_factory):
    return small_cloud(tmp_path_factory.mktemp("startup") / "cloud.sqlite")


@pytest.mark.parametrize("argv", COMMANDS, ids=" ".join)
def test_startup(benchmark, cloud_url, argv):
    benchmark.pedantic(run_once, args=(argv, cloud_url), rounds=ROUNDS,
                       iterations=1)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--pythonpath",
                        help="put DIR first on PYTHONPATH (another checkout)")
    options = parser.parse_args()
    env = dict(os.environ)
    if options.pythonpath:
        env["PYTHONPATH"] = options.pythonpath
    import tempfile
    with tempfile.TemporaryDirectory() as scratch:
        url = small_cloud(os.path.join(scratch, "cloud.sqlite"), env)
        print(f"load average before: {os.getloadavg()}")
        for argv in COMMANDS:
            run_once(argv, url, env)                     # warm the caches
            times = [run_once(argv, url, env) for _ in range(options.rounds)]
            print(f"hoststate {' '.join(argv):<18} min {min(times):.3f} s  "
                  f"median {statistics.median(times):.3f} s  "
                  f"max {max(times):.3f} s")
        print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
