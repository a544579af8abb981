"""README's tree of cells, as separate processes on one machine: a top
cell (its cells service only) and two children, each a whole cloud
(scheduler, conductor, a compute agent without database access, cells
service), each cell its own SQLite database and its own RabbitMQ vhost.
The commands are the ones README gives; ``boot``, ``host-list`` and
``delete`` run at the top. Then the ``cells`` process of one child is
killed: the top marks it down and builds go to the other; restarted, the
child is back and its instances at the top once."""
import json
import signal
import subprocess
import sys
import time

import pytest

from support.services import LAUNCH, services  # noqa: F401

pytestmark = pytest.mark.slow

TIMEOUT_S = 90
#: every cell's [cells] options: broadcasts every second, down after 3
CELLS = {"enable": "true", "broadcast_interval": 1, "call_timeout": 15,
         "instance_sync_interval": 1}


def run(tmp_path, *argv):
    done = subprocess.run([sys.executable, "-c", LAUNCH, *map(str, argv)],
                          cwd=tmp_path, capture_output=True, text=True,
                          timeout=TIMEOUT_S, stdin=subprocess.DEVNULL)
    return done.returncode, done.stdout, done.stderr


def wait_for(check, what):
    deadline = time.monotonic() + TIMEOUT_S
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            pytest.fail(f"not within {TIMEOUT_S} s: {what}")
        time.sleep(0.5)


class Cell:
    def __init__(self, tmp_path, services, name, url, hosts=()):
        self.name, self.url, self.tmp_path = name, url, tmp_path
        self.services = services
        self.database_url = f"sqlite:///{tmp_path / (name + '.sqlite')}"
        self.sections = {"cells": dict(CELLS, name=name)}
        self.hosts = hosts
        assert run(tmp_path, "--database-url", self.database_url, "db",
                   "sync")[0] == 0
        self.cells = None

    def start(self):
        if self.hosts:
            for binary in ("scheduler", "conductor"):
                self.services(f"{self.name}-{binary}", self.url,
                              [binary, "--workers", "1"], self.database_url)
            for host in self.hosts:
                self.services(host, self.url, ["compute", "--host", host,
                                               "--fake-nodes", "1",
                                               "--fake-node-shape",
                                               "8,16384,200"])
        self.start_cells()
        return self

    def start_cells(self):
        self.cells = self.services(f"{self.name}-cells", self.url, ["cells"],
                                   self.database_url, sections=self.sections)
        self.cells.wait_for_log("cells serving")
        return self.cells

    def command(self, *argv):
        """A command run at this cell (its configuration, its database)."""
        return run(self.tmp_path, "--config-file", self.cells.conf_path,
                   "--database-url", self.database_url, *argv)


def children_held(cell):
    """{path: (state, nodes)} of the children in what ``cell``'s cells
    service holds ({} while it does not answer)."""
    code, out, _ = cell.command("cell-capacities", "-f", "json")
    return {r["path"]: (r["state"], r["nodes"]) for r in json.loads(out)
            if r["role"] == "child"} if code == 0 else {}


def test_a_tree_of_cells_as_processes(tmp_path, services,
                                      rabbitmq_vhosts):
    top = Cell(tmp_path, services, "api", rabbitmq_vhosts("api")).start()
    children = [Cell(tmp_path, services, name, rabbitmq_vhosts(name),
                     hosts=[f"{name}-1"]).start() for name in ("c1", "c2")]
    for child in children:
        code, _, err = top.command("cell-add", child.name, "--child",
                                   "--transport-url", child.url)
        assert (code, err) == (0, ""), err
        code, _, err = child.command("cell-add", "api", "--parent",
                                     "--transport-url", top.url)
        assert (code, err) == (0, ""), err

    # both children up at the top, with a node each, in what the top's
    # cells service chooses from and in the listings
    wait_for(lambda: children_held(top) == {"api!c1": ("up", 1),
                                            "api!c2": ("up", 1)},
             "both children's reports at the top")

    def listed():
        code, out, err = top.command("hypervisor-stats", "-f", "json")
        stats = json.loads(out) if code == 0 else {}
        return stats if stats.get("count") == 2 else None
    stats = wait_for(listed, "both children's nodes at the top")
    assert (stats["vcpus"], stats["cells_down"]) == (16, [])

    code, out, err = top.command("boot", "--flavor", "2,1024,10", "--hint",
                                 "target_cell=api!c2", "--wait")
    assert (code, err) == (0, ""), err
    [sent, ended] = out.splitlines()
    instance = sent.split()[0]
    assert ended.split()[:3] == [instance, "active", "api!c2@c2-1"]

    code, out, _ = top.command("host-list", "-f", "value", "-c", "cell",
                               "-c", "host_name", "-c", "service")
    assert ("api!c1 c1-1 compute" in out.splitlines()
            and "api!c2 c2-1 compute" in out.splitlines()), out

    # the c2 cells process dies: c2 is down at the top, builds go to c1
    c2 = children[1]
    c2.cells.kill()
    wait_for(lambda: children_held(top).get("api!c2", ("",))[0] == "down",
             "c2 down at the top")
    code, out, err = top.command("hypervisor-stats", "-f", "json")
    assert (code, json.loads(out)["cells_down"]) == (0, ["api!c2"]), err
    code, out, err = top.command("boot", "--flavor", "2,1024,10", "--wait")
    assert code == 0, err
    assert out.splitlines()[1].split()[2] == "api!c1@c1-1"

    # c2 back: up again, and its instance at the top once
    c2.start_cells()
    wait_for(lambda: json.loads(top.command(
        "hypervisor-stats", "-f", "json")[1] or "{}").get("count") == 2,
        "c2 up again")
    code, out, err = top.command("delete", instance)
    assert (code, err) == (0, ""), err

    for service in [*[c.cells for c in children], top.cells]:
        assert service.stop(signal.SIGTERM) == 0, service.log
