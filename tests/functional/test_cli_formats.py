"""The views' output options, as the OpenStack client's: ``-f table|json|
yaml|csv|value``, ``-c`` (select and order), ``--sort-column`` with
``--sort-ascending/--sort-descending`` and csv's ``--quote``, on the cloud
of ``support.view_cloud`` (SQLite: the rendering is the same whatever the
database)."""
import json

import pytest
import yaml

from hoststate.objects import service as service_obj

from support.view_cloud import run, settings, views  # noqa: F401

pytestmark = pytest.mark.parametrize("empty_database", ["sqlite"],
                                     indirect=True)


# --- listings ----------------------------------------------------------------

@pytest.mark.parametrize("quote, text", [
    ([], '"host_name","service","zone"\n'
         '"compute-1","compute","nova"\n'
         '"compute-2","compute","az1"\n'
         '"compute-3","compute","az1,az2"\n'
         '"sched-1","scheduler","internal"\n'),
    (["--quote", "minimal"], 'host_name,service,zone\n'
                             'compute-1,compute,nova\n'
                             'compute-2,compute,az1\n'
                             'compute-3,compute,"az1,az2"\n'
                             'sched-1,scheduler,internal\n'),
    (["--quote", "none"], 'host_name,service,zone\n'
                          'compute-1,compute,nova\n'
                          'compute-2,compute,az1\n'
                          'compute-3,compute,az1\\,az2\n'
                          'sched-1,scheduler,internal\n'),
], ids=["nonnumeric", "minimal", "none"])
def test_csv_quotes_as_asked(capsys, views, quote, text):
    assert run(capsys, views, "host-list", "-f", "csv", *quote) == (
        0, text, "")


def test_csv_leaves_numbers_unquoted_and_missing_values_empty(capsys,
                                                              views):
    code, out, _ = run(capsys, views, "service-list", "-f", "csv",
                       "--host", "compute-2")
    assert (code, out) == (0, (
        '"id","binary","host","zone","status","state","updated_at",'
        '"disabled_reason","forced_down"\n'
        '2,"nova-compute","compute-2","az1","disabled","down",'
        '"2024-05-01T12:00:00","maintenance window",True\n'))
    code, out, _ = run(capsys, views, "service-list", "-f", "csv",
                       "--quote", "all", "-c", "id", "-c", "disabled_reason",
                       "--host", "compute-1")
    assert (code, out) == (0, '"id","disabled_reason"\n"1",""\n')


def test_value_is_cells_without_header(capsys, views):
    assert run(capsys, views, "host-list", "-f", "value") == (0, (
        "compute-1 compute nova\n"
        "compute-2 compute az1\n"
        "compute-3 compute az1,az2\n"
        "sched-1 scheduler internal\n"), "")


def test_yaml_is_the_json_data(capsys, views):
    code, out, _ = run(capsys, views, "service-list", "-f", "yaml",
                       "--host", "compute-2")
    assert (code, out) == (0, (
        "- id: 2\n"
        "  binary: nova-compute\n"
        "  host: compute-2\n"
        "  zone: az1\n"
        "  status: disabled\n"
        "  state: down\n"
        "  updated_at: '2024-05-01T12:00:00'\n"
        "  disabled_reason: maintenance window\n"
        "  forced_down: true\n"))
    _, as_json, _ = run(capsys, views, "service-list", "-f", "json")
    _, as_yaml, _ = run(capsys, views, "service-list", "-f", "yaml")
    assert yaml.safe_load(as_yaml) == json.loads(as_json)


def test_columns_select_and_order(capsys, views):
    assert run(capsys, views, "host-list", "-c", "zone", "-c",
               "host_name", "--zone", "az1") == (0, (
                   "zone     host_name\n"
                   "az1      compute-2\n"
                   "az1,az2  compute-3\n"), "")
    code, out, _ = run(capsys, views, "hypervisor-list", "--column", "host",
                       "--column", "id", "-f", "json")
    assert code == 0
    assert out.startswith('[\n  {\n    "host": "compute-1",\n    "id": 1\n')


@pytest.mark.parametrize("argv, order", [
    (["--sort-column", "host"], [1, 2, 3, 4]),
    (["--sort-column", "host", "--sort-descending"], [4, 2, 3, 1]),
    (["--sort-column", "status", "--sort-column", "hypervisor_hostname",
      "--sort-descending"], [4, 1, 3, 2]),
    (["--sort-column", "state", "--sort-column", "id",
      "--sort-ascending"], [2, 3, 4, 1]),
])
def test_sort_columns(capsys, views, argv, order):
    code, out, _ = run(capsys, views, "hypervisor-list", "-f", "value",
                       "-c", "id", *argv)
    assert (code, [int(line) for line in out.split()]) == (0, order)


def test_missing_values_sort_last(capsys, views):
    code, out, _ = run(capsys, views, "service-list", "-f", "value", "-c",
                       "host", "--sort-column", "disabled_reason")
    assert (code, out.split()) == (0, ["compute-2", "compute-1",
                                       "compute-3", "sched-1"])


def test_a_column_of_mixed_types_sorts(capsys, views):
    """config show's values are numbers, text, lists and None."""
    code, out, _ = run(capsys, views, "config", "show", "-f", "json",
                       "--sort-column", "value", "--group", "DEFAULT")
    values = [row["value"] for row in json.loads(out)]
    numbers = [v for v in values if isinstance(v, (int, float))]
    assert code == 0
    assert values[:len(numbers)] == sorted(numbers)
    assert values[-1] is None


# --- records -------------------------------------------------------------------

def test_a_record_in_every_format(capsys, views):
    argv = ("hypervisor-stats", "-c", "count", "-c", "vcpus")
    assert run(capsys, views, *argv) == (
        0, "field  value\ncount  2\nvcpus  20\n", "")
    assert run(capsys, views, *argv, "-f", "value") == (0, "2\n20\n", "")
    assert run(capsys, views, *argv, "-f", "csv") == (
        0, '"count","vcpus"\n2,20\n', "")
    assert run(capsys, views, *argv, "-f", "yaml") == (
        0, "count: 2\nvcpus: 20\n", "")
    assert run(capsys, views, *argv, "-f", "json") == (
        0, '{\n  "count": 2,\n  "vcpus": 20\n}\n', "")


def test_a_document_field_in_csv_and_value(capsys, views):
    code, out, _ = run(capsys, views, "hypervisor-show", "node-1", "-c",
                       "cpu_info", "-c", "disk_available_least", "-f", "csv")
    assert (code, out) == (0, '"cpu_info","disk_available_least"\n'
                              '"{""arch"":""x86_64"",""vendor"":""Intel""}",'
                              '""\n')
    code, out, _ = run(capsys, views, "hypervisor-show", "node-1", "-c",
                       "cpu_info", "-c", "disk_available_least", "-f", "value")
    assert (code, out) == (0, '{"arch":"x86_64","vendor":"Intel"}\n-\n')


# --- unknown columns: a usage error, before anything is done --------------------

@pytest.mark.parametrize("option", ["-c", "--sort-column"])
def test_an_unknown_column_is_one_line_exit_2(capsys, views, option):
    assert run(capsys, views, "host-list", option, "host") == (
        2, "", f"hoststate: {'--column' if option == '-c' else option} "
               f"host: no such column; this view has host_name, service, "
               f"zone\n")


def test_an_unknown_column_changes_nothing(capsys, views, ctx):
    code, out, err = run(capsys, views, "host-update", "compute-1",
                         "--status", "disable", "-c", "state")
    assert (code, out) == (2, "")
    assert err == ("hoststate: --column state: no such column; this view "
                   "has host, status, maintenance_mode, operator_traits\n")
    service = service_obj.Service.get_by_compute_host(ctx, "compute-1")
    assert service.disabled is False


def test_host_update_and_action_take_the_options(capsys, views, tmp_path):
    code, out, _ = run(capsys, views, "host-action", "compute-1", "reboot",
                       "-f", "value", "-c", "power_action",
                       config="[DEFAULT]\ncompute_driver = fake\n",
                       tmp_path=tmp_path)
    assert (code, out) == (0, "reboot\n")
    code, out, _ = run(capsys, views, "host-update", "compute-1", "--status",
                       "disable", "-f", "csv")
    assert (code, out) == (0, '"host","status","maintenance_mode",'
                              '"operator_traits"\n'
                              '"compute-1","disabled","",""\n')


def test_an_unknown_format_is_a_usage_error(capsys, views):
    from support.view_cloud import usage_error
    err = usage_error(capsys, views, "host-list", "--format", "xml")
    assert "argument -f/--format: invalid choice: 'xml'" in err
