"""``hoststate host-update HOST --trait T --no-trait U`` and the traits in
``hypervisor-show``, run in-process against the cloud of
``support.view_cloud`` on SQLite, PostgreSQL and MariaDB."""
import json

import pytest

from hoststate.objects import compute_node as cn_obj
from hoststate.objects import service as service_obj
from support.databases import snapshot
from support.view_cloud import run, settings, usage_error, views  # noqa: F401

AVX = "HW_CPU_X86_AVX"


def _operator_traits(ctx, host):
    return {node.hypervisor_hostname: node.operator_traits
            for node in cn_obj.ComputeNodeList.get_all_by_host(ctx, host)}


def test_traits_are_added_to_every_node_of_the_host(capsys, views, ctx):
    assert run(capsys, views, "host-update", "compute-2", "--trait",
               "CUSTOM_SSD", "--trait", AVX) == (0, (
                   "field             value\n"
                   "host              compute-2\n"
                   "status            -\n"
                   "maintenance_mode  -\n"
                   'operator_traits   ["CUSTOM_SSD","HW_CPU_X86_AVX"]\n'),
        "")
    assert _operator_traits(ctx, "compute-2") == {
        "node-2a": ["CUSTOM_SSD", AVX], "node-2b": ["CUSTOM_SSD", AVX]}
    assert _operator_traits(ctx, "compute-1") == {"node-1": []}

    code, out, _ = run(capsys, views, "host-update", "compute-2",
                       "--no-trait", "CUSTOM_SSD", "--format", "json")
    assert (code, json.loads(out)) == (0, {
        "host": "compute-2", "status": None, "maintenance_mode": None,
        "operator_traits": [AVX]})
    assert _operator_traits(ctx, "compute-2") == {"node-2a": [AVX],
                                                  "node-2b": [AVX]}


def test_traits_go_with_a_status_change(capsys, views, ctx):
    code, out, _ = run(capsys, views, "host-update", "compute-1", "--status",
                       "disable", "--trait", "CUSTOM_X", "-f", "json")
    assert (code, json.loads(out)) == (0, {
        "host": "compute-1", "status": "disabled", "maintenance_mode": None,
        "operator_traits": ["CUSTOM_X"]})
    assert service_obj.Service.get_by_compute_host(ctx, "compute-1").disabled


def test_hypervisor_show_has_the_nodes_traits(capsys, views):
    run(capsys, views, "host-update", "compute-1", "--trait", "CUSTOM_X")
    code, out, _ = run(capsys, views, "hypervisor-show", "node-1", "-f",
                       "value", "-c", "traits")
    assert (code, out) == (0, '["CUSTOM_X"]\n')


@pytest.mark.parametrize("argv, message", [
    (("--trait", "avx"), "--trait cannot be 'avx': not a standard trait "
                         "(os-traits) nor a custom one (CUSTOM_...)"),
    (("--trait", "CUSTOM_OK", "--no-trait", "CUSTOM_bad"),
     "--no-trait cannot be 'CUSTOM_bad': a custom trait is CUSTOM_ followed "
     "by upper-case letters, digits and _ only"),
    (("--trait", "CUSTOM_X", "--no-trait", "CUSTOM_X"),
     "--no-trait cannot be 'CUSTOM_X': it is given to --trait too"),
])
def test_a_bad_trait_is_one_line_exit_2_and_writes_nothing(
        capsys, views, argv, message):
    before = snapshot(views.engine)
    err = usage_error(capsys, views, "host-update", "compute-1", *argv)
    assert err == (f"hoststate host-update: {message}; see hoststate "
                   f"host-update --help\n")
    assert snapshot(views.engine) == before


@pytest.mark.parametrize("host, message", [
    ("compute-9", "host compute-9 not found"),
    ("sched-1", "host sched-1 has no nova-compute service"),
    ("compute-5", "host compute-5 has no compute node to take traits"),
])
def test_a_host_that_cannot_take_traits_is_one_line_exit_1(
        capsys, views, ctx, host, message):
    service_obj.Service(ctx, host="compute-5", binary="nova-compute",
                        topic="compute").create()
    before = snapshot(views.engine)
    assert run(capsys, views, "host-update", host, "--trait", "CUSTOM_X") \
        == (1, "", f"hoststate: {message}\n")
    assert snapshot(views.engine) == before
