"""``hoststate host-list|host-describe|host-update|host-action``, and what
every view does with a database that has no schema, run in-process on
SQLite and PostgreSQL against the cloud of ``support.view_cloud``."""
import json

import pytest
import sqlalchemy as sa

from hoststate.cli import main as cmd_main
from hoststate.objects import service as service_obj

from support.view_cloud import BACKENDS, run, settings, usage_error, views  # noqa: F401

FAKE = "[DEFAULT]\ncompute_driver = fake\n"


def compute_service(ctx, host):
    return service_obj.Service.get_by_compute_host(ctx, host)


# --- host-list ---------------------------------------------------------------

@BACKENDS
def test_host_list_is_one_row_per_host_and_service(capsys, views):
    assert run(capsys, views, "host-list") == (0, (
        "host_name  service    zone\n"
        "compute-1  compute    nova\n"
        "compute-2  compute    az1\n"
        "compute-3  compute    az1,az2\n"
        "sched-1    scheduler  internal\n"), "")


@BACKENDS
def test_host_list_as_json(capsys, views):
    code, out, err = run(capsys, views, "host-list", "--format", "json")
    assert (code, err) == (0, "")
    assert json.loads(out) == [
        {"host_name": "compute-1", "service": "compute", "zone": "nova"},
        {"host_name": "compute-2", "service": "compute", "zone": "az1"},
        {"host_name": "compute-3", "service": "compute", "zone": "az1,az2"},
        {"host_name": "sched-1", "service": "scheduler", "zone": "internal"}]
    assert out.startswith('[\n  {\n    "host_name": "compute-1",\n')


@BACKENDS
@pytest.mark.parametrize("zone, hosts", [
    ("az1", ["compute-2", "compute-3"]),
    ("az2", ["compute-3"]),
    ("internal", ["sched-1"]),
    ("nova", ["compute-1"]),
])
def test_host_list_zone_keeps_hosts_with_that_zone(capsys, views, zone,
                                                   hosts):
    code, out, _ = run(capsys, views, "host-list", "--zone", zone,
                       "--format", "json")
    assert code == 0
    assert [row["host_name"] for row in json.loads(out)] == hosts


@BACKENDS
def test_host_list_of_an_unknown_zone_is_empty(capsys, views):
    assert run(capsys, views, "host-list", "--zone", "mars") == (
        0, "host_name  service  zone\n", "")
    assert run(capsys, views, "host-list", "--zone", "mars", "--format",
               "json") == (0, "[]\n", "")


@BACKENDS
def test_host_list_default_zone_comes_from_the_configuration(
        capsys, views, tmp_path):
    code, out, _ = run(capsys, views, "host-list", "--zone", "zone-x",
                       config="[DEFAULT]\ndefault_availability_zone = "
                              "zone-x\n", tmp_path=tmp_path)
    assert (code, out.splitlines()[1:]) == (0, [
        "compute-1  compute  zone-x"])


# --- host-describe -------------------------------------------------------------

@BACKENDS
def test_host_describe_totals_usage_and_projects(capsys, views):
    """used_max and the projects count live instances only: p3's deleted
    one is nowhere; disk is root + ephemeral (medium: 40 + 10)."""
    assert run(capsys, views, "host-describe", "compute-1") == (0, (
        "host       project     cpu  memory_mb  disk_gb\n"
        "compute-1  (total)     16   65536      500\n"
        "compute-1  (used_now)  8    16384      90\n"
        "compute-1  (used_max)  8    16384      90\n"
        "compute-1  p1          6    12288      70\n"
        "compute-1  p2          2    4096       20\n"), "")


@BACKENDS
def test_host_describe_sums_nodes_and_shows_no_project_as_null(capsys,
                                                              views):
    code, out, err = run(capsys, views, "host-describe", "compute-2",
                         "--format", "json")
    assert (code, err) == (0, "")
    row = {"host": "compute-2", "cpu": 2, "memory_mb": 4096, "disk_gb": 20}
    assert json.loads(out) == [
        {"host": "compute-2", "project": "(total)", "cpu": 16,
         "memory_mb": 65536, "disk_gb": 400},
        {**row, "project": "(used_now)"}, {**row, "project": "(used_max)"},
        {**row, "project": None}]
    assert list(json.loads(out)[0]) == ["host", "project", "cpu",
                                        "memory_mb", "disk_gb"]


@BACKENDS
def test_host_describe_of_a_host_without_nodes_is_zeros(capsys, views):
    assert run(capsys, views, "host-describe", "sched-1") == (0, (
        "host     project     cpu  memory_mb  disk_gb\n"
        "sched-1  (total)     0    0          0\n"
        "sched-1  (used_now)  0    0          0\n"
        "sched-1  (used_max)  0    0          0\n"), "")


@BACKENDS
def test_host_describe_of_an_unknown_host_is_exit_1(capsys, views):
    assert run(capsys, views, "host-describe", "compute-9") == (
        1, "", "hoststate: host compute-9 not found\n")


# --- host-update ---------------------------------------------------------------

@BACKENDS
def test_host_update_disables_then_enables_the_compute_service(
        capsys, views, ctx):
    assert run(capsys, views, "host-update", "compute-1", "--status",
               "disable", "--reason", "bad disk") == (0, (
                   "field             value\n"
                   "host              compute-1\n"
                   "status            disabled\n"
                   "maintenance_mode  -\n"
                   "operator_traits   -\n"), "")
    service = compute_service(ctx, "compute-1")
    assert (service.disabled, service.disabled_reason) == (True, "bad disk")

    code, out, _ = run(capsys, views, "host-update", "compute-1", "--status",
                       "enable", "--format", "json")
    assert (code, json.loads(out)) == (0, {
        "host": "compute-1", "status": "enabled", "maintenance_mode": None,
        "operator_traits": None})
    service = compute_service(ctx, "compute-1")
    assert (service.disabled, service.disabled_reason) == (False, None)


@BACKENDS
def test_host_update_maintenance_goes_through_the_driver(
        capsys, views, tmp_path):
    code, out, err = run(
        capsys, views, "host-update", "compute-1", "--maintenance", "enable",
        "--status", "disable", "--format", "json", config=FAKE,
        tmp_path=tmp_path)
    assert (code, err) == (0, "")
    assert out == ('{\n  "host": "compute-1",\n  "status": "disabled",\n'
                   '  "maintenance_mode": "on_maintenance",\n'
                   '  "operator_traits": null\n}\n')


@BACKENDS
def test_host_update_maintenance_unsupported_changes_nothing(
        capsys, views, ctx):
    assert run(capsys, views, "host-update", "compute-1", "--status",
               "disable", "--maintenance", "enable") == (
        1, "", "hoststate: maintenance mode of host compute-1 is not "
               "supported by the linux driver (compute_driver = linux); "
               "nothing was changed\n")
    assert compute_service(ctx, "compute-1").disabled is False


@BACKENDS
def test_host_update_retries_a_status_lost_to_a_heartbeat(
        capsys, views, ctx, monkeypatch):
    """A heartbeat saved between the read and the write: the write
    conflicts, is read again and applied."""
    beats = heartbeat_after_reads(ctx, monkeypatch, times=1)
    code, _, _ = run(capsys, views, "host-update", "compute-1", "--status",
                     "disable")
    service = compute_service(ctx, "compute-1")
    assert (code, beats, service.disabled) == (0, [1], True)


@BACKENDS
def test_host_update_gives_up_after_three_conflicts(capsys, views, ctx,
                                                   monkeypatch):
    beats = heartbeat_after_reads(ctx, monkeypatch, times=3)
    code, out, err = run(capsys, views, "host-update", "compute-1",
                         "--status", "disable")
    assert (code, out, beats) == (1, "", [1, 2, 3])
    assert err.startswith("hoststate: services row 1 is no longer at "
                          "generation ")
    assert compute_service(ctx, "compute-1").disabled is False


@BACKENDS
def test_host_update_says_what_was_applied_when_the_status_fails(
        capsys, views, ctx, monkeypatch, tmp_path):
    """Maintenance goes first; a status that then cannot be written is
    reported beside the maintenance mode already set."""
    heartbeat_after_reads(ctx, monkeypatch, times=3)
    code, out, err = run(capsys, views, "host-update", "compute-1",
                         "--maintenance", "enable", "--status", "disable",
                         config=FAKE, tmp_path=tmp_path)
    assert (code, out) == (1, "")
    assert err.startswith("hoststate: host compute-1 is now on_maintenance, "
                          "but its status was not changed: services row 1 "
                          "is no longer at generation ")


def heartbeat_after_reads(ctx, monkeypatch, times):
    """Make the first ``times`` reads of a service by id be followed by a
    heartbeat of that service (another writer); returns the beats made."""
    read = service_obj.Service.get_by_id.__func__
    beats = []

    def get_by_id(cls, context, service_id):
        found = read(cls, context, service_id)
        if len(beats) < times:
            other = read(cls, ctx, service_id)
            other.report_count += 1
            other.save()
            beats.append(len(beats) + 1)
        return found

    monkeypatch.setattr(service_obj.Service, "get_by_id",
                        classmethod(get_by_id))
    return beats


@BACKENDS
@pytest.mark.parametrize("argv, message", [
    ((), "give --status, --maintenance, --trait or --no-trait"),
    (("--maintenance", "enable", "--reason", "x"),
     "--reason goes with --status disable"),
    (("--status", "enable", "--reason", "x"),
     "--reason goes with --status disable"),
    (("--status", "disable", "--reason", "x" * 256),
     "--reason is 256 characters long; at most 255"),
    (("--status", "off"), "argument --status: invalid choice: 'off'"),
])
def test_host_update_usage_errors_are_exit_2(capsys, views, argv, message):
    err = usage_error(capsys, views, "host-update", "compute-1", *argv)
    assert err.startswith(f"hoststate host-update: {message}")
    assert err.endswith("; see hoststate host-update --help\n")
    assert err.count("\n") == 1


@BACKENDS
@pytest.mark.parametrize("host, message", [
    ("compute-9", "host compute-9 not found"),
    ("compute-4", "host compute-4 not found"),
    ("sched-1", "host sched-1 has no nova-compute service"),
])
def test_host_update_of_a_host_without_compute_service_is_exit_1(
        capsys, views, host, message):
    assert run(capsys, views, "host-update", host, "--status", "disable") \
        == (1, "", f"hoststate: {message}\n")


# --- host-action ---------------------------------------------------------------

@BACKENDS
def test_host_action_runs_the_driver(capsys, views, tmp_path):
    assert run(capsys, views, "host-action", "compute-1", "reboot",
               config=FAKE, tmp_path=tmp_path) == (0, (
                   "field         value\n"
                   "host          compute-1\n"
                   "power_action  reboot\n"), "")
    code, out, _ = run(capsys, views, "host-action", "compute-1", "shutdown",
                       "--format", "json", config=FAKE, tmp_path=tmp_path)
    assert (code, json.loads(out)) == (0, {"host": "compute-1",
                                           "power_action": "shutdown"})


@BACKENDS
@pytest.mark.parametrize("option", ["linux", "libvirt.LibvirtDriver"])
def test_host_action_unsupported_by_the_driver_is_exit_1(
        capsys, views, tmp_path, option):
    assert run(capsys, views, "host-action", "compute-1", "reboot",
               config=f"[DEFAULT]\ncompute_driver = {option}\n",
               tmp_path=tmp_path) == (
        1, "", f"hoststate: reboot of host compute-1 is not supported by "
               f"the linux driver (compute_driver = {option}); nothing was "
               f"changed\n")


@BACKENDS
def test_host_action_of_an_unknown_host_is_exit_1(capsys, views, tmp_path):
    assert run(capsys, views, "host-action", "compute-9", "startup",
               config=FAKE, tmp_path=tmp_path) == (
        1, "", "hoststate: host compute-9 not found\n")


@BACKENDS
def test_host_action_usage_errors_are_exit_2(capsys, views):
    err = usage_error(capsys, views, "host-action", "compute-1", "explode")
    assert err.startswith("hoststate host-action: argument action: invalid "
                          "choice: 'explode'")
    assert err.count("\n") == 1


@BACKENDS
def test_host_action_with_an_unknown_driver_is_a_configuration_error(
        capsys, views, tmp_path):
    code, out, err = run(capsys, views, "host-action", "compute-1", "reboot",
                         config="[DEFAULT]\ncompute_driver = vmware\n",
                         tmp_path=tmp_path)
    assert (code, out) == (2, "")
    assert err.startswith("hoststate: configuration error: ")
    assert "compute_driver" in err and "'vmware'" in err


# --- every view: the database ------------------------------------------------

VIEWS = [("host-list",), ("host-describe", "compute-1"),
         ("host-update", "compute-1", "--status", "enable"),
         ("host-action", "compute-1", "reboot"), ("service-list",),
         ("hypervisor-list",), ("hypervisor-show", "node-1"),
         ("hypervisor-stats",)]


@BACKENDS
@pytest.mark.parametrize("argv", VIEWS, ids=lambda argv: argv[0])
def test_a_database_without_schema_says_run_db_sync(capsys, empty_database,
                                                    argv):
    with empty_database.engine.connect():
        pass                             # an SQLite file exists, but empty
    shown = empty_database.engine.url.render_as_string(hide_password=True)
    assert run(capsys, empty_database, *argv) == (
        1, "", f"hoststate: database {shown} has no hoststate schema; run "
               f"hoststate db sync\n")


@BACKENDS
@pytest.mark.parametrize("argv", VIEWS, ids=lambda argv: argv[0])
def test_a_database_missing_a_table_says_run_db_sync(capsys, database, argv):
    with database.engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE host_mappings"))
    code, out, err = run(capsys, database, *argv)
    assert (code, out) == (1, "")
    assert err.endswith(" lacks table(s) host_mappings; run hoststate db "
                        "sync\n")


def test_a_missing_sqlite_file_is_not_created(capsys, tmp_path):
    missing = tmp_path / "state.sqlite"
    code = main_with_url(f"sqlite:///{missing}", "host-list")
    assert (code, capsys.readouterr().err) == (
        1, f"hoststate: database sqlite:///{missing} does not exist; run "
           f"hoststate db sync\n")
    assert not missing.exists()


def test_a_missing_sqlite_directory_is_named(capsys, tmp_path):
    missing = tmp_path / "nowhere" / "state.sqlite"
    code = main_with_url(f"sqlite:///{missing}", "host-list")
    assert (code, capsys.readouterr().err) == (
        1, f"hoststate: database sqlite:///{missing}: directory "
           f"{missing.parent} does not exist; create it, or name a file in "
           f"an existing directory with --database-url or [database] "
           f"connection\n")
    assert not missing.parent.exists()


def test_an_unreachable_database_is_exit_1(capsys):
    url = "postgresql://nobody@127.0.0.1:1/nothing"
    code = main_with_url(url, "service-list")
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith("hoststate: cannot reach database "
                          "postgresql+psycopg://nobody@127.0.0.1:1/nothing: ")
    assert err.endswith("; check that the database server is running and "
                        "listening at 127.0.0.1:1\n")
    assert err.count("\n") == 1


def main_with_url(url, *argv):
    return cmd_main.main(["--database-url", url, *argv])

