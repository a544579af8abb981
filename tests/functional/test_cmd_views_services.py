"""``hoststate service-list|hypervisor-list|hypervisor-show|
hypervisor-stats``, in-process on SQLite and PostgreSQL, against the cloud
of ``support.view_cloud``: compute-1 heartbeats, compute-2 is forced down
(and disabled), compute-3's last heartbeat is two hours old (the db
driver's service_down_time is 60 s), compute-4's service was deleted."""
import json

import pytest
import sqlalchemy as sa

from hoststate.db import schema

from support import view_cloud
from support.view_cloud import BACKENDS, run, settings, usage_error, views  # noqa: F401

pytestmark = BACKENDS
UNKNOWN_LIVENESS = ("hoststate: warning: Service liveness unknown: the mc "
                    "backend is unavailable: ")


# --- service-list --------------------------------------------------------------

def test_service_list_shows_status_and_liveness(capsys, views):
    assert run(capsys, views, "service-list") == (0, (
        "id  binary          host       zone      status    state  "
        "updated_at           disabled_reason     forced_down\n"
        "1   nova-compute    compute-1  nova      enabled   up     "
        "2024-05-01T12:00:00  -                   False\n"
        "2   nova-compute    compute-2  az1       disabled  down   "
        "2024-05-01T12:00:00  maintenance window  True\n"
        "3   nova-compute    compute-3  az1,az2   enabled   down   "
        "2024-05-01T12:00:00  -                   False\n"
        "5   nova-scheduler  sched-1    internal  enabled   up     "
        "2024-05-01T12:00:00  -                   False\n"), "")


def test_service_list_as_json(capsys, views):
    code, out, err = run(capsys, views, "service-list", "--host",
                         "compute-2", "--format", "json")
    assert (code, err) == (0, "")
    assert out == """[
  {
    "id": 2,
    "binary": "nova-compute",
    "host": "compute-2",
    "zone": "az1",
    "status": "disabled",
    "state": "down",
    "updated_at": "2024-05-01T12:00:00",
    "disabled_reason": "maintenance window",
    "forced_down": true
  }
]
"""


@pytest.mark.parametrize("argv, hosts", [
    (("--binary", "nova-compute"), ["compute-1", "compute-2", "compute-3"]),
    (("--binary", "nova-scheduler"), ["sched-1"]),
    (("--host", "compute-3"), ["compute-3"]),
    (("--host", "compute-3", "--binary", "nova-scheduler"), []),
    (("--host", "compute-4"), []),
    (("--binary", "nova-conductor"), []),
])
def test_service_list_filters(capsys, views, argv, hosts):
    code, out, _ = run(capsys, views, "service-list", *argv, "--format",
                       "json")
    assert (code, [row["host"] for row in json.loads(out)]) == (0, hosts)


def test_service_list_with_liveness_unreachable_says_unknown(
        capsys, views, tmp_path):
    """A forced-down service is down whatever the backend says; the others
    cannot be known, and the listing still shows them."""
    code, out, err = run(capsys, views, "service-list", "--format", "json",
                         config=view_cloud.unreachable_memcached_conf(),
                         tmp_path=tmp_path)
    assert code == 0
    assert [row["state"] for row in json.loads(out)] == [
        "unknown", "down", "unknown", "unknown"]
    assert err.startswith(UNKNOWN_LIVENESS + "are_up of 3 services: ")
    assert err.endswith("; state shown as unknown\n")
    assert err.count("\n") == 1


def test_service_list_of_an_empty_cloud_is_the_header(capsys, database):
    assert run(capsys, database, "service-list") == (
        0, "id  binary  host  zone  status  state  updated_at  "
           "disabled_reason  forced_down\n", "")


# --- hypervisor-list -----------------------------------------------------------

def test_hypervisor_list_leaves_out_nodes_without_service(capsys, views):
    assert run(capsys, views, "hypervisor-list") == (0, (
        "id  hypervisor_hostname  state  status    host       "
        "hypervisor_type\n"
        "1   node-1               up     enabled   compute-1  fake\n"
        "2   node-2a              down   disabled  compute-2  fake\n"
        "3   node-2b              down   disabled  compute-2  fake\n"
        "4   node-3               down   enabled   compute-3  fake\n"), "")


def test_hypervisor_list_as_json(capsys, views):
    code, out, _ = run(capsys, views, "hypervisor-list", "--format", "json")
    assert code == 0
    assert json.loads(out)[0] == {
        "id": 1, "hypervisor_hostname": "node-1", "state": "up",
        "status": "enabled", "host": "compute-1", "hypervisor_type": "fake"}
    assert len(json.loads(out)) == 4


def test_hypervisor_list_with_liveness_unreachable_says_unknown(
        capsys, views, tmp_path):
    code, out, err = run(capsys, views, "hypervisor-list", "--format", "json",
                         config=view_cloud.unreachable_memcached_conf(),
                         tmp_path=tmp_path)
    assert code == 0
    assert [row["state"] for row in json.loads(out)] == [
        "unknown", "down", "down", "unknown"]
    assert err.startswith(UNKNOWN_LIVENESS + "are_up of 2 services: ")


# --- hypervisor-show -----------------------------------------------------------

NODE_3 = f"""\
field                    value
id                       4
uuid                     {view_cloud.NODE_UUIDS["node-3"]}
hypervisor_hostname      node-3
state                    down
status                   enabled
host_ip                  192.0.2.10
hypervisor_type          fake
hypervisor_version       1000
vcpus                    4
vcpus_used               0
memory_mb                8192
memory_mb_used           0
free_ram_mb              8192
local_gb                 100
local_gb_used            0
free_disk_gb             100
disk_available_least     90
running_vms              0
current_workload         0
cpu_info                 {{"arch":"x86_64","vendor":"Intel"}}
traits                   []
cpu_allocation_ratio     4.0
ram_allocation_ratio     1.0
disk_allocation_ratio    1.0
service_host             compute-3
service_id               3
service_disabled_reason  -
"""


@pytest.mark.parametrize("key", ["node-3", "4", view_cloud.NODE_UUIDS[
    "node-3"]], ids=["name", "id", "uuid"])
def test_hypervisor_show_by_name_id_or_uuid(capsys, views, key):
    assert run(capsys, views, "hypervisor-show", key) == (0, NODE_3, "")


def test_hypervisor_show_as_json(capsys, views):
    code, out, err = run(capsys, views, "hypervisor-show", "node-2b",
                         "--format", "json")
    assert (code, err) == (0, "")
    shown = json.loads(out)
    assert list(shown) == [line.split()[0]
                           for line in NODE_3.splitlines()[1:]]
    assert shown["cpu_info"] == {"arch": "x86_64", "vendor": "Intel"}
    assert {key: shown[key] for key in (
        "id", "state", "status", "vcpus", "vcpus_used", "memory_mb_used",
        "free_ram_mb", "local_gb_used", "free_disk_gb",
        "disk_available_least", "running_vms", "service_host",
        "service_id", "service_disabled_reason")} == {
        "id": 3, "state": "down", "status": "disabled", "vcpus": 8,
        "vcpus_used": 2, "memory_mb_used": 4096, "free_ram_mb": 28672,
        "local_gb_used": 20, "free_disk_gb": 180,
        "disk_available_least": None, "running_vms": 1,
        "service_host": "compute-2", "service_id": 2,
        "service_disabled_reason": "maintenance window"}


def test_hypervisor_show_reads_unset_ratios_from_the_configuration(
        capsys, views, tmp_path):
    nodes = schema.compute_nodes
    with views.engine.begin() as conn:
        conn.execute(sa.update(nodes).where(nodes.c.id == 4).values(
            cpu_allocation_ratio=0.0, ram_allocation_ratio=None))
    code, out, _ = run(capsys, views, "hypervisor-show", "node-3", "--format",
                       "json", config="[DEFAULT]\ncpu_allocation_ratio = 8.0"
                                      "\ninitial_ram_allocation_ratio = 1.5\n",
                       tmp_path=tmp_path)
    shown = json.loads(out)
    assert (code, shown["cpu_allocation_ratio"],
            shown["ram_allocation_ratio"]) == (0, 8.0, 1.5)


@pytest.mark.parametrize("key, message", [
    ("node-9", "hypervisor node-9 not found"),
    ("99", "hypervisor 99 not found"),
    ("99999999999", "hypervisor 99999999999 not found"),
    ("node-4", "hypervisor node-4 not found: its host compute-4 has no "
               "nova-compute service"),
])
def test_hypervisor_show_of_an_unknown_node_is_exit_1(capsys, views, key,
                                                      message):
    assert run(capsys, views, "hypervisor-show", key) == (
        1, "", f"hoststate: {message}\n")


def test_hypervisor_show_of_an_ambiguous_name_is_exit_1(capsys, views):
    """Two hosts may each have a node of one name (Ironic rebalances)."""
    nodes = schema.compute_nodes
    with views.engine.begin() as conn:
        conn.execute(sa.update(nodes).where(nodes.c.id == 2).values(
            hypervisor_hostname="node-3"))
    assert run(capsys, views, "hypervisor-show", "node-3") == (
        1, "", "hoststate: hypervisor node-3 matches nodes 2, 4; give the "
               "id or uuid of one\n")


def test_hypervisor_show_needs_a_node(capsys, views):
    assert "the following arguments are required: NODE" in usage_error(
        capsys, views, "hypervisor-show")


# --- hypervisor-stats ----------------------------------------------------------

def test_hypervisor_stats_sum_the_enabled_hypervisors(capsys, views):
    """node-1 and node-3: compute-2 is disabled, node-4's service gone.
    free_ram_mb = (65536 - 16384) + 8192; disk_available_least: node-1
    reports none, node-3 90."""
    assert run(capsys, views, "hypervisor-stats") == (0, (
        "field                 value\n"
        "count                 2\n"
        "vcpus                 20\n"
        "vcpus_used            8\n"
        "memory_mb             73728\n"
        "memory_mb_used        16384\n"
        "free_ram_mb           57344\n"
        "local_gb              600\n"
        "local_gb_used         90\n"
        "free_disk_gb          510\n"
        "disk_available_least  90\n"
        "running_vms           3\n"
        "current_workload      0\n"), "")


def test_hypervisor_stats_of_an_empty_cloud_are_zeros(capsys, database):
    code, out, _ = run(capsys, database, "hypervisor-stats", "--format",
                       "json")
    assert (code, json.loads(out)) == (0, dict.fromkeys((
        "count", "vcpus", "vcpus_used", "memory_mb", "memory_mb_used",
        "free_ram_mb", "local_gb", "local_gb_used", "free_disk_gb",
        "disk_available_least", "running_vms", "current_workload"), 0))
    assert out.startswith('{\n  "count": 0,\n  "vcpus": 0,\n')
