"""``hoststate simulate`` refusing early and failing loudly: bounded
arguments, a plot or a database that cannot be used refused before any
work, exit status 3 for a broken invariant or a background thread that
died, and threads that do not stop."""
import json
import sys
import threading
import uuid

import pytest

from hoststate import conf as hs_conf
from hoststate.cli import main as cmd_main
from hoststate.db import engine as db_engine
from hoststate.resource_tracker import agent as agent_mod
from hoststate.servicegroup.drivers import db_bulk
from hoststate.simulation import fleet as fleet_mod
from hoststate.simulation import runner
from hoststate.simulation import threads
from support import servers
from support.view_cloud import closed_port

from .test_simulate import simulate, write_conf


@pytest.fixture(autouse=True)
def default_config():
    yield
    hs_conf.load(args=[], config_files=[])


# --- arguments ------------------------------------------------------------------

@pytest.mark.parametrize("argv, message", [
    (["--nodes", "0"],
     "--nodes must be an integer from 1 to 100,000, not '0'"),
    (["--nodes", "10000000000000000000000"],
     "--nodes must be an integer from 1 to 100,000, not "
     "'10000000000000000000000'"),
    (["--requests", "x"],
     "--requests must be an integer from 1 to 1,000,000, not 'x'"),
    (["--requests", "1000001"],
     "--requests must be an integer from 1 to 1,000,000, not '1000001'"),
    (["--requests", "2.5"],
     "--requests must be an integer from 1 to 1,000,000, not '2.5'"),
    (["--kill-agents", "-1"],
     "--kill-agents must be an integer from 0 to 100,000, not '-1'"),
    (["--seed", "9" * 5000],
     "--seed must be an integer from 0 to 9,223,372,036,854,775,807, not "
     "'9999999999999999999999999999999999999...'"),
    (["--prefill", "nan"], "--prefill must be a number from 0 to 0.95, "
                           "not 'nan'"),
    (["--prefill", "inf"], "--prefill must be a number from 0 to 0.95, "
                           "not 'inf'"),
    (["--prefill", "1"], "--prefill must be a number from 0 to 0.95, "
                         "not '1'"),
    (["--servicegroup", "redis"],
     "argument --servicegroup: invalid choice: 'redis' (choose from 'db', "
     "'zk', 'mc')"),
])
def test_bad_arguments_are_usage_errors(capsys, argv, message):
    with pytest.raises(SystemExit) as done:
        cmd_main.main(["simulate", *argv])
    assert done.value.code == 2
    assert capsys.readouterr() == (
        "", f"hoststate simulate: {message}; see hoststate simulate --help\n")


# --- refused before any work ---------------------------------------------------

@pytest.mark.parametrize("name, reason", [
    ("missing/plot.png", "directory {tmp}/missing does not exist"),
    ("plot.xyz", "unknown file type .xyz; name a file ending in one of "),
    ("plot", "no file type; name a file ending in one of "),
    ("folder.png", "is a directory"),
])
def test_a_plot_that_cannot_be_written_is_refused_at_once(
        capsys, tmp_path, name, reason):
    database = tmp_path / "never.sqlite"
    target = tmp_path / name
    if name == "folder.png":
        target.mkdir()
    code, out, err = simulate(capsys, "--plot", str(target),
                              database_url=f"sqlite:///{database}")
    assert (code, out) == (1, "")
    assert err.startswith(f"hoststate: --plot {target}: "
                          f"{reason.format(tmp=tmp_path)}")
    assert len(err.splitlines()) == 1
    assert not database.exists()


def test_a_plot_without_matplotlib_says_how_to_install_it(
        capsys, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)   # import fails
    code, out, err = simulate(capsys, "--plot", str(tmp_path / "p.png"))
    assert (code, out) == (1, "")
    assert err == ("hoststate: --plot needs matplotlib, which is not "
                   "installed: pip install 'hoststate[plot]'\n")


@pytest.mark.parametrize("url, start", [
    ("postgresql://nobody@127.0.0.1:1/none",
     "hoststate: cannot reach database postgresql+psycopg://nobody@"
     "127.0.0.1:1/none: "),
    ("sqlite:///{tmp}/missing/sim.sqlite",
     "hoststate: database sqlite:///{tmp}/missing/sim.sqlite: directory "
     "{tmp}/missing does not exist; "),
])
def test_a_database_that_cannot_be_used_is_one_line(capsys, tmp_path, url,
                                                    start):
    code, out, err = simulate(capsys, "--nodes", "2", "--requests", "5",
                              database_url=url.format(tmp=tmp_path))
    assert (code, out) == (1, "")
    assert err.startswith(start.format(tmp=tmp_path))
    assert len(err.splitlines()) == 1


@pytest.mark.parametrize("backend, says", [
    ("postgresql", 'FATAL: database "{name}" does not exist'),
    ("mysql", "(1049, \"Unknown database '{name}'\")"),
])
def test_a_database_that_does_not_exist_is_to_be_created_no_more(
        capsys, backend, says):
    """simulate creates the schema itself: the advice ends at CREATE
    DATABASE, without db explain_error's "then run hoststate db sync"."""
    admin = servers.require(backend)
    name = f"hs_missing_{uuid.uuid4().hex[:8]}"
    url = db_engine.normalize_url(admin).set(database=name)
    code, out, err = simulate(capsys, "--nodes", "2", "--requests", "5",
                              database_url=url.render_as_string(False))
    assert (code, out) == (1, "")
    assert err.startswith(f"hoststate: database {db_engine.shown(url)} "
                          f"does not exist: ")
    assert err.endswith(f"{says.format(name=name)}; create it (CREATE "
                        f"DATABASE)\n")
    assert err.count("\n") == 1


@pytest.mark.parametrize("driver, conf, reason, remedy", [
    ("zk", "[zookeeper]\naddress = 127.0.0.1:{port}\n",
     "not connected to ZooKeeper at 127.0.0.1:{port} (session ",
     "check that ZooKeeper is running at [zookeeper] address"),
    ("mc", "[DEFAULT]\nmemcached_servers = 127.0.0.1:{port}\n",
     "are_up of 1 services: ConnectionRefusedError: ",
     "check that memcached is running at [DEFAULT] memcached_servers"),
])
def test_an_unreachable_liveness_backend_is_refused_before_the_run(
        capsys, tmp_path, monkeypatch, driver, conf, reason, remedy):
    """Without the check every host was "unknown", nothing was placed and
    the run exited 0."""
    started = []
    monkeypatch.setattr(runner.Simulation, "run",
                        lambda self: started.append(self))
    config = tmp_path / "nova.conf"
    port = closed_port()
    config.write_text(conf.format(port=port))
    database = tmp_path / "sim.sqlite"
    code, out, err = simulate(capsys, "--servicegroup", driver, "--nodes",
                              "2", "--requests", "5", config=config,
                              database_url=f"sqlite:///{database}")
    assert (code, out, started) == (1, "", [])
    assert err.startswith(f"hoststate: simulate: servicegroup_driver "
                          f"{driver} cannot say which hosts are up: "
                          f"{reason.format(port=port)}")
    assert "Connection refused" in err and err.endswith(f"; {remedy}\n")
    assert err.count("\n") == 1


# --- exit status 3 ---------------------------------------------------------------

def test_a_broken_invariant_exits_3(capsys, tmp_path, monkeypatch):
    """An agent that deletes instances without giving their usage back
    (a bug injected here) leaves nodes whose usage does not match."""
    def delete_forgetting_usage(self, instance_uuid):
        instance, _ = self.instances.pop(instance_uuid)
        instance.destroy()
        return True
    monkeypatch.setattr(fleet_mod.Fleet, "delete", delete_forgetting_usage)
    code, out, err = simulate(capsys, "--nodes", "4", "--requests", "150",
                              "--prefill", "0", config=write_conf(tmp_path))
    assert code == 3
    mismatched = [line for line in out.splitlines()
                  if line.startswith("  over-commit")]
    assert mismatched and not mismatched[0].endswith(
        "0 with usage not matching their instances")
    assert err.startswith("hoststate: simulate: ")
    assert "nodes with usage not matching their instances (compute" in err
    assert len(err.splitlines()) == 1


def test_a_dead_heartbeat_thread_stops_the_run_and_exits_3(
        capsys, tmp_path, monkeypatch):
    def beat(self, keys=None):
        raise OverflowError("timeout value is too large")
    monkeypatch.setattr(db_bulk.BulkReporter, "beat", beat)
    code, out, err = simulate(capsys, "--nodes", "3", "--requests", "100000",
                              "--prefill", "0", "--json",
                              config=write_conf(tmp_path))
    assert code == 3
    report = json.loads(out)
    assert report["requests_done"] < 100000
    assert report["background_threads_died"] == [{
        "thread": "hoststate-bulk-heartbeat-3",
        "error": "OverflowError: timeout value is too large"}]
    assert err == ("hoststate: simulate: background thread "
                   "hoststate-bulk-heartbeat-3 died: OverflowError: timeout "
                   "value is too large\n")


def test_a_dead_periodic_thread_exits_3(capsys, tmp_path, monkeypatch):
    recount = agent_mod.ComputeAgent.update_available_resource

    def fails_in_the_background(self):
        if threading.current_thread().name == "simulation-periodic-updates":
            raise RuntimeError("recount failed")
        return recount(self)
    monkeypatch.setattr(agent_mod.ComputeAgent, "update_available_resource",
                        fails_in_the_background)
    config = write_conf(tmp_path, "update_resources_interval = 1\n")
    code, out, err = simulate(capsys, "--nodes", "2", "--requests", "100000",
                              "--prefill", "0", config=config)
    assert code == 3
    assert "  background         thread simulation-periodic-updates died: " \
           "RuntimeError: recount failed" in out.splitlines()
    assert err == ("hoststate: simulate: background thread "
                   "simulation-periodic-updates died: RuntimeError: recount "
                   "failed\n")


# --- stopping --------------------------------------------------------------------

def test_a_recount_that_does_not_stop_is_never_read_around(monkeypatch):
    """The report must not read while a recount may still write: a fleet
    whose periodic thread is stuck says so instead of returning."""
    monkeypatch.setattr(threads, "STOP_TIMEOUT_S", 0.05)
    release = threading.Event()
    fleet = fleet_mod.Fleet(None, hs_conf.CONF, [])
    fleet._periodic = threading.Thread(target=release.wait, daemon=True,
                                       name="simulation-periodic-updates")
    fleet._periodic.start()
    try:
        assert fleet.stop() == ["simulation-periodic-updates"]
    finally:
        release.set()
    fleet._periodic.join()
    assert fleet.stop() == []
