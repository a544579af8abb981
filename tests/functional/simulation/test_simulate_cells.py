"""``hoststate simulate --cells K``: a top cell and K children in one
process, each its own SQLite database and bus, boots sent to the top.

Boots are paced (``--rate 5``): a parent hears its children's capacity
once a broadcast interval (1 s), so boots sent faster all see the same
reports and equal cells tie (cell1 would take them all); at 5 a second
the stream spans several broadcasts and the emptier cell wins in turn.
"""
import json
import urllib.parse

import pytest

from hoststate import conf as hs_conf
from hoststate.cli import main as cmd_main
from hoststate.simulation import cell_tree
from support import rabbitmq

NO_PROBLEM = {"instances_in_two_cells": [], "placed_not_active_there": [],
              "active_not_listed_at_top": [],
              "listed_at_top_not_in_cell": [], "settled": True}


@pytest.fixture(autouse=True)
def default_config():
    yield
    hs_conf.load(args=[], config_files=[])


def simulate(capsys, *argv):
    code = cmd_main.main(["simulate", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_two_cells_place_every_request_in_both_cells(capsys):
    code, out, err = simulate(capsys, "--cells", "2", "--nodes", "4",
                              "--requests", "20", "--rate", "5", "--json")
    assert code == 0, err
    report = json.loads(out)
    placements = report["placements"]
    assert (placements["placed"], placements["failed"]) == (20, 0)
    built = {name: c["built"] for name, c in placements["per_cell"].items()}
    assert sorted(built) == ["cell1", "cell2"]
    assert sum(built.values()) == 20
    assert min(built.values()) > 0, built
    assert report["invariants"] == NO_PROBLEM
    assert report["kill"] is None
    assert report["transport"] == "local://"
    run = report["buses"]["api"][len("local:///"):-len("-api")]
    assert report["buses"] == {name: f"local:///{run}-{name}"
                               for name in ("api", "cell1", "cell2")}
    # every build timed at the top, and each stage of it once
    latency = report["latency_ms"]
    assert latency["build"]["count"] == 20
    for stage in ("top_choose", "forward", "child_conductor",
                  "agent_build"):
        assert latency[stage]["count"] == 20, stage


@pytest.mark.parametrize("argv, line", [
    (["--kill-cells", "1"], "--kill-cells needs --cells"),
    (["--rate", "3"], "--rate needs --cells"),
    (["--cells", "2", "--kill-cells", "3"],
     "--kill-cells 3 is more than --cells 2"),
    (["--cells", "2", "--kill-agents", "1"],
     "--cells cannot be combined with --kill-agents"),
    (["--cells", "2", "--prefill", "0.5"],
     "--cells cannot be combined with --prefill"),
    (["--cells", "2", "--keep-database"],
     "--cells cannot be combined with --keep-database"),
    (["--cells", "3", "--nodes", "2"],
     "--nodes 2 is fewer than --cells 3: each child cell needs a node"),
    (["--cells", "2", "--nodes", "1025"],
     "--nodes 1025 is more than 1024 with --cells"),
    (["--cells", "2", "--transport-url", "fake://"],
     "--cells needs --transport-url local:// or rabbit://..., not "
     "'fake://'"),
])
def test_combinations_a_tree_does_not_take_are_one_line_usage_errors(
        capsys, tmp_path, argv, line, monkeypatch):
    monkeypatch.setattr(cell_tree.Cell, "__init__", _never)
    code, out, err = simulate(capsys, *argv)
    assert (code, out, err) == (2, "", f"hoststate: {line}\n")


def test_a_database_url_is_refused_with_cells(capsys, tmp_path,
                                               monkeypatch):
    monkeypatch.setattr(cell_tree.Cell, "__init__", _never)
    url = f"sqlite:///{tmp_path}/x.sqlite"
    code = cmd_main.main(["--database-url", url, "simulate", "--cells",
                          "2"])
    out, err = capsys.readouterr()
    assert (code, out, err) == (
        2, "", "hoststate: --cells cannot be combined with --database-url\n")
    assert list(tmp_path.iterdir()) == []


def test_a_missing_rabbitmqctl_is_one_line_before_anything_runs(
        capsys, monkeypatch):
    monkeypatch.setattr(cell_tree.Cell, "__init__", _never)
    monkeypatch.setattr(cell_tree.shutil, "which", lambda name: None)
    monkeypatch.setattr(cell_tree.os.path, "exists", lambda path: False)
    code, out, err = simulate(capsys, "--cells", "2", "--transport-url",
                              "rabbit://guest:guest@127.0.0.1:5672/")
    assert (code, out) == (1, "")
    assert err == ("hoststate: simulate --cells: cannot make a bus per "
                   "cell on rabbit://guest:***@127.0.0.1:5672/: "
                   "rabbitmqctl is not installed\n")


def _never(*args, **kwargs):
    raise AssertionError("a cell was made")


@pytest.mark.slow
def test_a_killed_cell_is_marked_down_and_builds_go_elsewhere(
        capsys, rabbitmq_url):
    parts = urllib.parse.urlsplit(rabbitmq_url)
    broker = urllib.parse.urlunsplit(parts._replace(path="/"))
    code, out, err = simulate(capsys, "--cells", "2", "--nodes", "4",
                              "--requests", "40", "--rate", "5",
                              "--kill-cells", "1", "--transport-url",
                              broker, "--json")
    assert code == 0, err
    report = json.loads(out)
    made = {urllib.parse.urlsplit(url).path[1:]
            for url in report["buses"].values()}
    assert sorted(report["buses"]) == ["api", "cell1", "cell2"]
    assert len(made) == 3 and not made & rabbitmq.vhosts()
    assert report["invariants"] == NO_PROBLEM
    kill = report["kill"]
    [victim] = kill["victims"]
    [survivor] = {"cell1", "cell2"} - {victim}
    # down once silent for 3 broadcasts of 1 s; its last one came at
    # most 1 s before the kill
    down_s = kill["marked_down_s"][victim]
    assert kill["down_after_s"] == 3.0
    assert 2.0 <= down_s <= 3.0 + 1.0, down_s
    # the boots after the kill (20 of them) went to the survivor, or
    # failed with a reason; none was built in the silent cell
    assert kill["builds_after"] == 20
    assert kill["placed_after"] == {victim: 0,
                                    survivor: 20 - kill["failed_after"]}
    assert kill["placed_elsewhere_after"] == 20 - kill["failed_after"]
    assert sum(kill["failure_reasons"].values()) == kill["failed_after"]


@pytest.mark.slow
def test_ctrl_c_removes_the_runs_vhosts_and_databases(tmp_path,
                                                      rabbitmq_url):
    """A real process on RabbitMQ, signalled once it has shown progress
    (the tree is up and boots are going): one line, exit 130, no vhost
    and no file of the run left."""
    import os
    import signal
    import subprocess
    import sys

    from .test_simulate_signals import WAIT_S, _first_line
    parts = urllib.parse.urlsplit(rabbitmq_url)
    broker = urllib.parse.urlunsplit(parts._replace(path="/"))
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    before = rabbitmq.vhosts()
    process = subprocess.Popen(
        [sys.executable, "-m", "hoststate.cli.main", "simulate", "--cells",
         "2", "--nodes", "4", "--requests", "100000", "--rate", "20",
         "--transport-url", broker], text=True, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, env=dict(os.environ, TMPDIR=str(scratch)),
        cwd=tmp_path)
    try:
        progress = _first_line(process.stderr, WAIT_S)
        while progress and not progress.startswith("hoststate simulate: "):
            progress = _first_line(process.stderr, WAIT_S)   # a warning
        assert progress, "no progress shown"
        made = {v for v in rabbitmq.vhosts() - before
                if v.startswith("hs-sim-")}
        assert len(made) == 3, made          # api, cell1, cell2
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=WAIT_S)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 130, err
    assert out == ""
    said = [line for line in err.splitlines()
            if line.startswith("hoststate: interrupted")]
    assert len(said) == 1 and said[0].endswith(
        " of 100,000 requests; the cells' databases and buses removed")
    assert not made & rabbitmq.vhosts()
    assert list(scratch.iterdir()) == []
