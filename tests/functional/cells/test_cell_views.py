"""``host-list``, ``service-list``, ``hypervisor-list``,
``hypervisor-stats``, ``boot`` and ``delete`` at the top of a tree of
real cells (support/cells.py: each cell its own database and RabbitMQ
vhost, its real services, fake hypervisors), run in-process with a
configuration that names the top's bus and ``[cells] enable = true``.

The views' tree (one per module and backend, only read):

    api (no hosts) ─┬─ c1 (c1-h1, c1-h2) ── g1 (g1-h1)
                    └─ c10 (c10-h1)

Each fake node: 8 vCPUs, 16384 MiB, 200 GiB; every node keeps
``reserved_host_memory_mb`` (512 MiB, the default) as used memory.
"""
import json
import re

import pytest

from hoststate import conf as hs_conf
from hoststate import rpc
from hoststate.cells import neighbours
from hoststate.cli import cell_listing
from hoststate.cli import main as cmd_main
from support.cells import InProcessCell, link, stop_all, wait_until

pytestmark = pytest.mark.slow

#: the listings' queries are each backend's in tests/functional/
#: test_cmd_views*.py; here what matters is the way across cells
BACKENDS = ["sqlite"]
HOST_HEADER = "cell       host_name  service  zone"


def up_at(cell, *names):
    def check():
        children = {c.cell.name: c
                    for c in cell.service.neighbours.children()}
        return all(name in children and
                   cell.service.neighbours.is_up(children[name])
                   for name in names)
    return check


class Tree:
    """Cells started and linked; ``run`` runs a command at the top."""

    def __init__(self, backend, tmp_path, vhosts):
        self.backend, self.tmp_path, self.vhosts = backend, tmp_path, vhosts
        self.cells = {}

    def cell(self, name, hosts=0):
        self.cells[name] = InProcessCell(name, self.vhosts(name),
                                         self.backend, self.tmp_path,
                                         hosts=hosts)
        return self.cells[name]

    def start(self, links):
        for parent, child in links:
            link(self.cells[parent], self.cells[child])
        for cell in self.cells.values():
            cell.start()
        for parent, child in links:
            wait_until(up_at(self.cells[parent], child),
                       f"{child} up at {parent}")
        top = self.cells["api"]
        self.config = self.tmp_path / "api.conf"
        self.config.write_text(
            f"[DEFAULT]\ntransport_url = {top.bus_url}\n"
            f"[cells]\nenable = true\nname = api\ncall_timeout = 10\n")
        return self

    def run(self, capsys, *argv, config=True):
        files = ["--config-file", str(self.config)] if config else []
        code = cmd_main.main([*files, "--database-url",
                              self.cells["api"].database.url, *argv])
        out, err = capsys.readouterr()
        return code, out, err

    def stop(self):
        made = list(self.cells.values())
        stop_all(made)
        rpc.cleanup()
        for cell in made:
            cell.drop()


@pytest.fixture(autouse=True)
def default_config():
    """Commands load files into the global CONF; leave it at defaults."""
    yield
    hs_conf.load(args=[], config_files=[])


@pytest.fixture(scope="class", params=BACKENDS)
def views(request, tmp_path_factory, rabbitmq_module_vhosts):
    """The views' tree, read only. Class-scoped, and its tests in one
    class: it is stopped before tree2's tests run, whose teardown closes
    every transport of the process (rpc.cleanup)."""
    tree = Tree(request.param, tmp_path_factory.mktemp("views"),
                rabbitmq_module_vhosts)
    tree.cell("api")
    tree.cell("c1", hosts=2)
    tree.cell("g1", hosts=1)
    tree.cell("c10", hosts=1)
    try:
        yield tree.start([("api", "c1"), ("c1", "g1"), ("api", "c10")])
    finally:
        tree.stop()


@pytest.fixture(params=BACKENDS)
def tree2(request, tmp_path, rabbitmq_vhosts):
    """api ─ c1 (2 hosts), api ─ c2 (1 host), for what changes a tree."""
    tree = Tree(request.param, tmp_path, rabbitmq_vhosts)
    tree.cell("api")
    tree.cell("c1", hosts=2)
    tree.cell("c2", hosts=1)
    try:
        yield tree.start([("api", "c1"), ("api", "c2")])
    finally:
        tree.stop()


def stats_json(tree, capsys, *argv):
    code, out, err = tree.run(capsys, "hypervisor-stats", "-f", "json",
                              *argv)
    assert (code, err) == (0, "")
    return json.loads(out)


def stats_of(nodes, cells, cells_down=(), vcpus_used=0, memory_used=0,
             disk_used=0, vms=0):
    """hypervisor-stats of ``nodes`` fake nodes: 8 vCPUs, 16384 MiB
    (512 reserved per node, plus what instances use), 200 GiB each."""
    memory_used += 512 * nodes
    return {"count": nodes, "vcpus": 8 * nodes, "vcpus_used": vcpus_used,
            "memory_mb": 16384 * nodes, "memory_mb_used": memory_used,
            "free_ram_mb": 16384 * nodes - memory_used,
            "local_gb": 200 * nodes, "local_gb_used": disk_used,
            "free_disk_gb": 200 * nodes - disk_used,
            "disk_available_least": 0, "running_vms": vms,
            "current_workload": 0, "cells": list(cells),
            "cells_down": list(cells_down)}


# --- the subtree rule, alone ---

@pytest.mark.parametrize("path, subtree, inside", [
    ("api!c1", "api!c1", True),
    ("api!c1!g1", "api!c1", True),
    ("api!c10", "api!c1", False),
    ("api", "api!c1", False),
    ("api!c1", "api", True),
])
def test_a_subtree_is_a_path_and_the_paths_below_it(path, subtree, inside):
    assert cell_listing.in_subtree(path, subtree) is inside


class TestEveryCell:
    """The views' tree, through the top's cells service."""

    # --- listings of every cell ---

    def test_host_list_shows_every_cells_hosts_with_their_cell(
            self, views, capsys):
        assert views.run(capsys, "host-list") == (0, "\n".join([
            HOST_HEADER,
            "api!c1     c1-h1      compute  nova",
            "api!c1     c1-h2      compute  nova",
            "api!c1!g1  g1-h1      compute  nova",
            "api!c10    c10-h1     compute  nova"]) + "\n", "")

    def test_host_list_as_json_and_with_chosen_columns(self, views, capsys):
        code, out, err = views.run(capsys, "host-list", "-f", "json",
                                   "--zone", "nova", "--cell", "api!c1")
        assert (code, err) == (0, "")
        assert json.loads(out) == [
            {"cell": "api!c1", "host_name": "c1-h1", "service": "compute",
             "zone": "nova"},
            {"cell": "api!c1", "host_name": "c1-h2", "service": "compute",
             "zone": "nova"},
            {"cell": "api!c1!g1", "host_name": "g1-h1", "service": "compute",
             "zone": "nova"}]
        assert views.run(capsys, "host-list", "-f", "value", "-c", "host_name",
                         "-c", "cell", "--sort-column", "host_name",
                         "--sort-descending") == (
            0, "g1-h1 api!c1!g1\nc10-h1 api!c10\nc1-h2 api!c1\nc1-h1 api!c1\n",
            "")
        # the zone option travels to every cell
        assert views.run(capsys, "host-list", "--zone", "mars") == (
            0, "cell  host_name  service  zone\n", "")

    def test_service_list_shows_every_cells_services(self, views, capsys):
        code, out, err = views.run(capsys, "service-list")
        assert (code, err) == (0, "")
        assert out.splitlines() == [
            "cell       id  binary        host    zone  status   state  "
            "updated_at  disabled_reason  forced_down",
            "api!c1     1   nova-compute  c1-h1   nova  enabled  up     -  "
            "         -                False",
            "api!c1     2   nova-compute  c1-h2   nova  enabled  up     -  "
            "         -                False",
            "api!c1!g1  1   nova-compute  g1-h1   nova  enabled  up     -  "
            "         -                False",
            "api!c10    1   nova-compute  c10-h1  nova  enabled  up     -  "
            "         -                False"]
        assert views.run(capsys, "service-list", "--host", "c1-h2", "-f",
                         "value", "-c", "cell", "-c", "host", "-c", "state") \
            == (0, "api!c1 c1-h2 up\n", "")

    def test_hypervisor_list_shows_every_cells_nodes(self, views, capsys):
        assert views.run(capsys, "hypervisor-list") == (0, "\n".join([
            "cell       id  hypervisor_hostname  state  status   host    "
            "hypervisor_type",
            "api!c1     1   c1-h1-node1          up     enabled  c1-h1   fake",
            "api!c1     2   c1-h2-node1          up     enabled  c1-h2   fake",
            "api!c1!g1  1   g1-h1-node1          up     enabled  g1-h1   fake",
            "api!c10    1   c10-h1-node1         up     enabled  c10-h1  fake",
        ]) + "\n", "")
        code, out, err = views.run(capsys, "hypervisor-list", "-f", "json",
                                   "--cell", "api!c10")
        assert (code, err) == (0, "")
        assert json.loads(out) == [
            {"cell": "api!c10", "id": 1, "hypervisor_hostname": "c10-h1-node1",
             "state": "up", "status": "enabled", "host": "c10-h1",
             "hypervisor_type": "fake"}]

    def test_hypervisor_stats_sums_every_cell(self, views, capsys):
        # 4 nodes: 32 vCPUs, 65536 MiB (2048 reserved), 800 GiB
        assert stats_json(views, capsys) == stats_of(
            4, ["api", "api!c1", "api!c1!g1", "api!c10"])
        code, out, err = views.run(capsys, "hypervisor-stats")
        assert (code, err) == (0, "")
        assert out.splitlines()[0] == "field                 value"
        assert out.splitlines()[-2:] == [
            'cells                 ["api","api!c1","api!c1!g1","api!c10"]',
            "cells_down            []"]
        assert "memory_mb_used        2048" in out.splitlines()

    def test_hypervisor_stats_of_a_subtree_takes_the_cells_below_only(self, 
            views, capsys):
        # api!c1 and api!c1!g1, not api!c10: 3 nodes, 24 vCPUs, 49152 MiB
        assert stats_json(views, capsys, "--cell", "api!c1") == stats_of(
            3, ["api!c1", "api!c1!g1"])
        assert stats_json(views, capsys, "--cell", "api!c1!g1") == stats_of(
            1, ["api!c1!g1"])
        assert views.run(capsys, "hypervisor-stats", "-f", "value", "-c",
                         "count", "-c", "cells", "--cell", "api!c10") == (
            0, '1\n["api!c10"]\n', "")

    # --- refusals ---

    def test_a_cell_not_in_the_tree_is_one_line_exit_1(self, views, capsys):
        assert views.run(capsys, "hypervisor-stats", "--cell", "api!c2") == (
            1, "", "hoststate: cell api!c2 is not in the tree this cell sees; "
                   "its cells are api, api!c1, api!c1!g1, api!c10\n")
        assert views.run(capsys, "host-list", "--cell", "c1")[0] == 1

    @pytest.mark.parametrize("command", [
        "host-list", "service-list", "hypervisor-list", "hypervisor-stats"])
    def test_a_bad_cell_path_is_a_usage_error_naming_it(self, views, capsys,
                                                        command):
        with pytest.raises(SystemExit) as stopped:
            views.run(capsys, command, "--cell", "api!!c1")
        assert stopped.value.code == 2
        out, err = capsys.readouterr()
        assert out == ""
        assert err.startswith(f"hoststate {command}: argument --cell: invalid "
                              f"cell path 'api!!c1': ")

    def test_without_cells_a_cell_option_is_one_line_exit_2(
            self, views, capsys):
        assert views.run(capsys, "host-list", "--cell", "api!c1",
                         config=False) == (
            2, "", "hoststate: --cell api!c1 needs [cells] enable = true "
                   "(this cell lists its own database only)\n")
        assert views.run(capsys, "host-list", "-c", "cell", config=False) == (
            2, "", "hoststate: --column cell: no such column; this view has "
                   "host_name, service, zone\n")
        assert views.run(capsys, "hypervisor-stats", "-c", "cells_down",
                         config=False)[0] == 2

    def test_without_cells_the_listings_read_this_cells_database(self, views,
                                                                 capsys):
        # the top's database has no hosts; no cell column
        assert views.run(capsys, "host-list", config=False) == (
            0, "host_name  service  zone\n", "")
        code, out, _ = views.run(capsys, "hypervisor-stats", "-f", "json",
                                 config=False)
        assert (code, list(json.loads(out))) == (
            0, list(cell_listing.STATS_SUMMED))



# --- a cell that is down ---

def test_a_down_cell_is_named_never_counted_as_zeros(tree2, capsys):
    top, c2 = tree2.cells["api"], tree2.cells["c2"]
    c2.stop_cells_service()
    wait_until(lambda: not up_at(top, "c2")(), "c2 down at the top",
               timeout=neighbours.down_after_s(top.conf)
               + top.conf.cells.broadcast_interval + 5)
    warning = "hoststate: warning: cell api!c2 is down: its {} are not " \
              "listed\n"
    assert tree2.run(capsys, "host-list") == (0, "\n".join([
        "cell    host_name  service  zone",
        "api!c1  c1-h1      compute  nova",
        "api!c1  c1-h2      compute  nova"]) + "\n", warning.format("hosts"))
    code, out, err = tree2.run(capsys, "hypervisor-list", "-f", "value",
                               "-c", "cell", "-c", "host")
    assert (code, out, err) == (0, "api!c1 c1-h1\napi!c1 c1-h2\n",
                                warning.format("hypervisors"))
    code, out, err = tree2.run(capsys, "service-list", "-f", "json")
    assert (code, err) == (0, warning.format("services"))
    assert [row["cell"] for row in json.loads(out)] == ["api!c1", "api!c1"]
    # 2 nodes of c1 only
    assert stats_json(tree2, capsys) == stats_of(2, ["api", "api!c1"],
                                                 ["api!c2"])
    assert stats_json(tree2, capsys, "--cell", "api!c2") == stats_of(
        0, [], ["api!c2"])
    assert tree2.run(capsys, "host-list", "--cell", "api!c2") == (
        0, "cell  host_name  service  zone\n", warning.format("hosts"))


# --- boot and delete through the cells service ---

def test_boot_and_delete_go_through_the_cells_service(tree2, capsys):
    c2 = tree2.cells["c2"]
    code, out, err = tree2.run(capsys, "boot", "--flavor", "2,1024,10",
                               "--hint", "target_cell=api!c2", "--wait")
    assert (code, err) == (0, "")
    instance = out.split()[0]
    assert out == (f"{instance} api!c2@c2-h1 c2-h1-node1\n"
                   f"{instance} active api!c2@c2-h1 c2-h1-node1\n")
    assert c2.instances() == {instance: ("active", "c2-h1")}
    # 3 nodes; the instance's 2 vCPUs, 1024 MiB and 10 GiB on c2's
    assert stats_json(tree2, capsys) == stats_of(
        3, ["api", "api!c1", "api!c2"], vcpus_used=2, memory_used=1024,
        disk_used=10, vms=1)

    assert tree2.run(capsys, "delete", instance) == (
        0, f"{instance} deleted c2-h1-node1\n", "")
    wait_until(lambda: c2.instances() == {}, "deleted in c2")

    # without a hint: the roomiest cell, c1
    code, out, err = tree2.run(capsys, "boot", "--flavor", "1,512,1",
                               "--wait")
    assert (code, err) == (0, "")
    placed, final = out.splitlines()
    match = re.fullmatch(r"(\S+) api!c1@(c1-h[12]) (c1-h[12])-node1", placed)
    assert match and match.group(2) == match.group(3)
    instance, host = match.group(1), match.group(2)
    assert final == f"{instance} active api!c1@{host} {host}-node1"


@pytest.mark.parametrize("argv", [
    ["hypervisor-stats"], ["host-list", "--cell", "api"],
    ["boot", "--flavor", "1,512,1"],
    ["delete", "6f1c2f63-2b47-4e0a-9d59-3c1fd0b7a001"]])
def test_a_top_whose_cells_service_does_not_answer_is_one_line_exit_1(
        tmp_path, rabbitmq_vhosts, capsys, argv):
    config = tmp_path / "api.conf"
    config.write_text(f"[DEFAULT]\ntransport_url = {rabbitmq_vhosts('api')}"
                      f"\n[cells]\nenable = true\nname = api\n"
                      f"call_timeout = 1\n")
    try:
        code = cmd_main.main(["--config-file", str(config), *argv])
    finally:
        rpc.cleanup()
    assert (code, *capsys.readouterr()) == (
        1, "", "hoststate: cell api did not answer within 1 s; check that "
               "its cells service runs on [DEFAULT] transport_url\n")
