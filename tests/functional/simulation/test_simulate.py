"""``hoststate simulate`` end to end: seeded runs whose reports are checked
against the database, on SQLite and PostgreSQL, with each liveness driver."""
import json

import pytest

from hoststate import conf as hs_conf
from hoststate import context as hs_context
from hoststate.cli import main as cmd_main
from hoststate.db import engine as db_engine
from hoststate.db import migration
from hoststate.simulation import runner


@pytest.fixture(autouse=True)
def default_config():
    yield
    hs_conf.load(args=[], config_files=[])


def simulate(capsys, *argv, config=None, database_url=None):
    args = ["--config-file", str(config)] if config else []
    if database_url:
        args += ["--database-url", database_url]
    code = cmd_main.main(args + ["simulate", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def write_conf(tmp_path, text=""):
    path = tmp_path / "nova.conf"
    path.write_text("[DEFAULT]\nreport_interval = 1\nservice_down_time = 3\n"
                    + text)
    return path


def checked(report, requests):
    """The invariants every run must keep, whatever it placed."""
    assert report["overcommit"] == {"overcommitted_nodes": 0,
                                    "usage_mismatched_nodes": 0,
                                    "ledger_mismatched_nodes": 0,
                                    "examples": []}
    assert report["claims"]["placements_equal_claims"] is True
    assert report["claims"]["placed_instance_rows"] == \
        report["placements"] + report["prefilled_instances"]
    assert report["placements"] + report["no_valid_host"] == requests
    assert report["requests_done"] == requests
    assert report["claims"]["living_instances"] == \
        report["placements"] + report["prefilled_instances"] - \
        report["deletes"]
    assert report["background_threads_died"] == []
    return report


def test_a_seeded_run_reports_what_the_database_holds(capsys, tmp_path):
    code, out, err = simulate(capsys, "--nodes", "30", "--requests", "400",
                              "--seed", "3", "--prefill", "0", "--json",
                              config=write_conf(tmp_path))
    report = checked(json.loads(out), 400)
    assert code == 0, err
    assert report["nodes"] == 30 and report["seed"] == 3
    assert report["prefilled_instances"] == 0
    assert report["servicegroup"] == "db"
    assert report["database"].startswith("sqlite:///")
    assert report["deletes"] > 0
    assert 0 < report["select_latency_ms"]["p50"] <= \
        report["select_latency_ms"]["p99"]
    final = report["utilization"]["final"]
    assert set(final) == {"vcpus", "memory_mb", "disk_gb"}
    assert all(0 < value < 1 for value in final.values())
    assert report["liveness"]["killed_agents"] == 0


def test_samples_carry_each_interval(capsys, tmp_path):
    """A crowded pre-filled cloud: every interval's placements and
    refusals add up to the run's, and refusals appear once it is full."""
    code, out, err = simulate(capsys, "--nodes", "6", "--requests", "400",
                              "--prefill", "0.8", "--json",
                              config=write_conf(tmp_path))
    report = checked(json.loads(out), 400)
    assert code == 0, err
    samples = report["samples"]
    assert [s["request"] for s in samples] == list(range(0, 401, 2))
    assert samples[0]["placements"] == 0 and samples[0]["instances"] == \
        report["prefilled_instances"] > 0
    assert sum(s["placements"] for s in samples) == report["placements"]
    refused = {}
    for sample in samples:
        for reason, count in sample["no_valid_host"].items():
            refused[reason] = refused.get(reason, 0) + count
    assert refused == report["no_valid_host_reasons"] and refused
    timed = [s["select_latency_ms"] for s in samples[1:]]
    assert all(0 < t["p50"] <= t["p99"] for t in timed)
    assert samples[-1]["instances"] == \
        report["claims"]["living_instances"]


def test_the_text_report_names_every_figure(capsys, tmp_path):
    code, out, _ = simulate(capsys, "--nodes", "20", "--requests", "200",
                            "--prefill", "0.5", config=write_conf(tmp_path))
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == ("hoststate simulate: 20 nodes, 200 requests, seed 0, "
                        "servicegroup db")
    labels = [line.split()[0] for line in lines[1:] if line.startswith("  ")
              and not line.startswith("    ")]
    assert labels == ["database", "bus", "pre-filled", "setup", "placements",
                      "select", "no", "resource", "over-commit", "claims"]
    assert "  over-commit        0 nodes over capacity, 0 off their " \
           "ledger, 0 with usage not matching their instances" in lines


def test_a_crowded_cloud_refuses_with_reasons(capsys, tmp_path):
    """Five hosts cannot take 400 requests: NoValidHost, each with the
    filter that removed the last hosts, and still no over-commit."""
    code, out, _ = simulate(capsys, "--nodes", "5", "--requests", "400",
                            "--seed", "1", "--prefill", "0", "--json",
                            config=write_conf(tmp_path))
    report = checked(json.loads(out), 400)
    assert code == 0
    assert report["no_valid_host"] > 0
    assert sum(report["no_valid_host_reasons"].values()) == \
        report["no_valid_host"]
    assert any(reason.startswith(("RamFilter", "CoreFilter", "DiskFilter",
                                  "NUMATopologyFilter",
                                  "PciPassthroughFilter"))
               for reason in report["no_valid_host_reasons"])
    # By resource, from the shortfalls the filter that removed the last
    # hosts gives (one per refusal; other reasons name no resource).
    expected = {}
    for reason, count in report["no_valid_host_reasons"].items():
        resource = SHORT_OF.get(reason)
        if resource is not None:
            expected[resource] = expected.get(resource, 0) + count
    assert report["no_valid_host_by_resource"] == expected and expected


#: The resource a refusal by each filter names in its shortfalls.
SHORT_OF = {"RamFilter": "memory_mb", "CoreFilter": "vcpus",
            "DiskFilter": "disk_gb", "NUMATopologyFilter": "numa",
            "PciPassthroughFilter": "pci"}


def _run(context, nodes, requests, seed, kill=0, prefill=0.0):
    conf = hs_conf.CONF
    conf.set_default("enabled_filters", runner.FILTERS, "filter_scheduler")
    conf.set_override("report_interval", 1)
    conf.set_override("service_down_time", 3)
    try:
        return runner.Simulation(context, conf, runner.Options(
            nodes=nodes, requests=requests, seed=seed,
            kill_agents=kill, prefill=prefill)).run()
    finally:
        conf.clear_default("enabled_filters", "filter_scheduler")
        conf.clear_override("report_interval")
        conf.clear_override("service_down_time")


def _fresh_context(tmp_path, name):
    engine = db_engine.create_engine(f"sqlite:///{tmp_path}/{name}.sqlite")
    migration.sync(engine)
    return hs_context.get_admin_context(engine=engine)


def test_the_same_seed_gives_the_same_placements(tmp_path):
    first = _run(_fresh_context(tmp_path, "a"), 15, 150, seed=11, prefill=0.5)
    second = _run(_fresh_context(tmp_path, "b"), 15, 150, seed=11,
                  prefill=0.5)
    other = _run(_fresh_context(tmp_path, "c"), 15, 150, seed=12, prefill=0.5)
    assert first.placements > 120 and first.prefilled > 150
    assert (first.placements, first.prefilled) == \
        (second.placements, second.prefilled)
    assert first.placements_digest.hexdigest() == \
        second.placements_digest.hexdigest()
    assert first.placements_digest.hexdigest() != \
        other.placements_digest.hexdigest()


@pytest.mark.slow
def test_killed_agents_are_seen_down_and_never_chosen_after(tmp_path):
    context = _fresh_context(tmp_path, "kill")
    result = _run(context, 30, 1500, seed=5, kill=4)
    assert len(result.victims) == 4
    assert sorted(result.detected) == result.victims
    assert all(0 < seconds < 15 for seconds in result.detected.values())
    assert result.chosen_after_detection == 0


@pytest.mark.parametrize("empty_database", ["postgresql", "mysql"],
                         indirect=True)
def test_simulates_on_a_database_server(capsys, tmp_path, empty_database):
    code, out, err = simulate(capsys, "--nodes", "30", "--requests", "300",
                              "--json", database_url=empty_database.url,
                              config=write_conf(tmp_path))
    assert code == 0, err
    report = checked(json.loads(out), 300)
    assert report["database"].startswith(empty_database.backend)
    assert report["prefilled_instances"] > 0


@pytest.mark.slow
def test_memcached_liveness_detects_killed_agents(capsys, tmp_path):
    code, out, err = simulate(capsys, "--nodes", "20", "--requests", "800",
                              "--servicegroup", "mc", "--kill-agents", "2",
                              "--prefill", "0", "--json",
                              config=write_conf(tmp_path))
    report = checked(json.loads(out), 800)
    assert code == 0, err
    assert report["servicegroup"] == "mc"
    assert report["liveness"]["detected"] == 2
    assert report["liveness"]["chosen_after_detection"] == 0


@pytest.mark.slow
def test_zookeeper_liveness_detects_killed_agents(
        capsys, tmp_path, zookeeper_server):
    config = write_conf(tmp_path, f"[zookeeper]\naddress = "
                                  f"{zookeeper_server.address}\n"
                                  f"recv_timeout = 2000\n")
    code, out, err = simulate(capsys, "--nodes", "20", "--requests", "800",
                              "--servicegroup", "zk", "--kill-agents", "2",
                              "--prefill", "0", "--json", config=config)
    report = checked(json.loads(out), 800)
    assert code == 0, err
    assert report["liveness"]["detected"] == 2
    assert report["liveness"]["chosen_after_detection"] == 0


def test_plot_draws_the_series(capsys, tmp_path):
    target = tmp_path / "utilization.png"
    code, out, _ = simulate(capsys, "--nodes", "10", "--requests", "100",
                            "--plot", str(target), config=write_conf(tmp_path))
    assert code == 0
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert out.splitlines()[-1] == f"  plot               {target}"


def test_a_json_report_names_its_plot(capsys, tmp_path):
    target = tmp_path / "run.svg"
    code, out, _ = simulate(capsys, "--nodes", "5", "--requests", "30",
                            "--plot", str(target), "--json",
                            config=write_conf(tmp_path))
    assert code == 0
    assert json.loads(out)["plot"] == str(target)
    assert target.read_text().lstrip().startswith("<?xml")


def test_more_victims_than_nodes_is_refused(capsys):
    code, out, err = simulate(capsys, "--nodes", "3", "--kill-agents", "4")
    assert (code, out) == (1, "")
    assert err == "hoststate: --kill-agents 4 is more than --nodes 3\n"


def test_a_database_holding_a_cloud_is_refused(capsys, tmp_path):
    url = f"sqlite:///{tmp_path}/cloud.sqlite"
    config = write_conf(tmp_path)
    assert simulate(capsys, "--nodes", "2", "--requests", "5",
                    database_url=url, config=config)[0] == 0
    code, out, err = simulate(capsys, "--nodes", "2", "--requests", "5",
                              database_url=url, config=config)
    assert (code, out) == (1, "")
    assert err == (f"hoststate: {url} already holds 2 compute nodes; "
                   f"hoststate simulate needs an empty database\n")
