"""``hoststate compute`` run as a real process, on real databases and a real
ZooKeeper, with short intervals (report_interval 1 s, service_down_time
3 s, update_resources_interval 1 s). Waits are generous (busy machines);
nothing asserts how long anything took."""
import logging
import signal
import subprocess
import sys
import time
import uuid
from unittest import mock

import pytest
import sqlalchemy as sa
from oslo_config import cfg

from hoststate import conf as hs_conf
from hoststate import exception
from hoststate.cli import logs
from hoststate.db import schema
from hoststate.objects import compute_node as cn_obj
from hoststate.objects import service as service_obj
from hoststate.resource_tracker import fake_driver
from hoststate.resource_tracker import linux_probe
from hoststate.resource_tracker import service as service_mod
from hoststate.servicegroup import api as sg_api
from support import zookeeper as zk_support

#: the command, as the installed entry point runs it
LAUNCH = ("import sys; from hoststate.cli.main import main; "
          "sys.exit(main(sys.argv[1:]))")
TIMEOUT_S = 120
INTERVALS = {"report_interval": 1, "service_down_time": 3,
             "update_resources_interval": 1}


def write_conf(tmp_path, default=(), **groups):
    """A nova.conf with the short intervals (and ``default`` options)."""
    sections = {"DEFAULT": {**INTERVALS,
                            "instances_path": tmp_path / "instances",
                            **dict(default)}, **groups}
    path = tmp_path / "nova.conf"
    path.write_text("".join(
        f"[{name}]\n" + "".join(f"{k} = {v}\n" for k, v in options.items())
        for name, options in sections.items()))
    return path


def checker_conf(conf_file):
    """The agent's configuration, loaded apart from the global CONF."""
    return hs_conf.load(args=[], config_files=[str(conf_file)],
                        conf=cfg.ConfigOpts(), use_env=False)


class Agent:
    """One ``hoststate ... compute`` process; stderr goes to a file."""

    def __init__(self, tmp_path, argv):
        self.stderr_path = tmp_path / f"agent-{uuid.uuid4().hex[:6]}.err"
        with open(self.stderr_path, "wb") as err:
            self.process = subprocess.Popen(
                [sys.executable, "-c", LAUNCH, *argv], cwd=tmp_path,
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=err)

    @property
    def stderr(self):
        return self.stderr_path.read_text()

    def wait_for_log(self, text):
        """The stderr line holding ``text``, once the agent has logged it."""
        deadline = time.monotonic() + TIMEOUT_S
        while time.monotonic() < deadline:
            lines = [line for line in self.stderr.splitlines() if text in line]
            if lines:
                return lines[0]
            if self.process.poll() is not None:
                pytest.fail(f"agent exited with {self.process.returncode} "
                            f"before logging {text!r}:\n{self.stderr}")
            time.sleep(0.1)
        pytest.fail(f"agent did not log {text!r}:\n{self.stderr}")

    def stop(self, signum=signal.SIGTERM):
        self.process.send_signal(signum)
        return self.process.wait(TIMEOUT_S)

    def kill(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def agents(tmp_path):
    """``agents(*argv)`` starts an agent; any still running is killed."""
    started = []

    def start(*argv):
        started.append(Agent(tmp_path, [str(a) for a in argv]))
        return started[-1]

    yield start
    for agent in started:
        agent.kill()


def run(tmp_path, *argv):
    """(exit code, stderr) of a command that exits by itself."""
    done = subprocess.run([sys.executable, "-c", LAUNCH, *map(str, argv)],
                          cwd=tmp_path, capture_output=True, text=True,
                          timeout=TIMEOUT_S, stdin=subprocess.DEVNULL)
    return done.returncode, done.stderr


def wait_for(predicate, what):
    deadline = time.monotonic() + TIMEOUT_S
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"not within {TIMEOUT_S} s: {what}")
        time.sleep(0.1)


def nodes_of(ctx, host):
    return sorted(cn_obj.ComputeNodeList.get_all_by_host(ctx, host),
                  key=lambda node: node.hypervisor_hostname)


def start_line(host, names, servicegroup):
    return (f"compute agent of host {host} started: {len(names)} node(s) "
            f"[{', '.join(names)}], driver fake, servicegroup "
            f"{servicegroup}, updates every 1 s")


# --- a running agent -------------------------------------------------------

@pytest.mark.parametrize("empty_database, signum", [
    ("sqlite", signal.SIGTERM), ("postgresql", signal.SIGTERM),
    ("sqlite", signal.SIGINT)], indirect=["empty_database"],
    ids=["sqlite-SIGTERM", "postgresql-SIGTERM", "sqlite-SIGINT"])
def test_agent_registers_heartbeats_corrects_and_stops_on_signal(
        tmp_path, agents, database, ctx, signum):
    host = "cmp-1"
    names = [f"{host}-node{i}" for i in (1, 2, 3)]
    conf_file = write_conf(tmp_path)
    agent = agents("--config-file", conf_file, "--database-url",
                   database.url, "compute", "--fake-nodes", 3, "--host", host)

    line = agent.wait_for_log("started:")
    assert line.endswith(" INFO hoststate.compute: "
                         + start_line(host, names, "db"))
    service = service_obj.Service.get_by_compute_host(ctx, host)
    assert (service.binary, service.topic) == ("nova-compute", "compute")
    nodes = nodes_of(ctx, host)
    assert [(n.hypervisor_hostname, n.vcpus, n.memory_mb, n.local_gb,
             n.vcpus_used, n.service_id) for n in nodes] == [
        (name, 64, 262144, 2000, 0, service.id) for name in names]

    # heartbeats begin after the driver's initial delay; then it is up
    checker = sg_api.API(checker_conf(conf_file), context=ctx)
    wait_for(lambda: service_obj.Service.get_by_id(
        ctx, service.id).report_count >= 2, "two heartbeats")
    assert checker.service_is_up(service) is True

    # a write behind the agent's back is undone by the next update
    tampered = nodes[1]
    with database.engine.begin() as conn:
        conn.execute(sa.update(schema.compute_nodes)
                     .where(schema.compute_nodes.c.id == tampered.id)
                     .values(vcpus_used=7, memory_mb_used=99,
                             generation=schema.compute_nodes.c.generation + 1))
    wait_for(lambda: cn_obj.ComputeNode.get_by_id(ctx, tampered.id).vcpus_used
             == 0, "the tampered node recounted")
    assert cn_obj.ComputeNode.get_by_id(ctx, tampered.id).memory_mb_used == \
        nodes[1].memory_mb_used

    assert agent.stop(signum) == 0
    err = agent.stderr
    assert f"{signal.Signals(signum).name} received: stopping after the " \
           "update in progress" in err
    assert err.splitlines()[-1].endswith(
        f"compute agent of host {host} stopped")
    assert "Traceback" not in err
    # no heartbeat after the exit: down once service_down_time has passed
    count = service_obj.Service.get_by_id(ctx, service.id).report_count
    wait_for(lambda: not checker.service_is_up(service), "the service down")
    assert service_obj.Service.get_by_id(ctx, service.id).report_count == count
    checker.stop()


@pytest.mark.parametrize("empty_database", ["sqlite"], indirect=True)
def test_with_zookeeper_the_service_is_down_as_soon_as_it_stops(
        tmp_path, agents, database, ctx, zookeeper_server):
    host, prefix = "cmp-zk", f"/sg-{uuid.uuid4().hex[:8]}"
    # a 30 s session: only the agent's leave removes the znode before that
    conf_file = write_conf(
        tmp_path, default={"servicegroup_driver": "zk"},
        zookeeper={"address": zookeeper_server.address,
                   "recv_timeout": 30000, "sg_prefix": prefix})
    agent = agents("--config-file", conf_file, "--database-url",
                   database.url, "compute", "--fake-nodes", 2, "--host", host)

    line = agent.wait_for_log("started:")
    assert line.endswith(start_line(host, [f"{host}-node1", f"{host}-node2"],
                                    "zk"))
    service = service_obj.Service.get_by_compute_host(ctx, host)
    checker = sg_api.API(checker_conf(conf_file), context=ctx)
    assert checker.service_is_up(service) is True
    checker.stop()

    assert agent.stop() == 0
    # a new checker reads the group afresh: the znode is gone already
    checker = sg_api.API(checker_conf(conf_file), context=ctx)
    assert checker.service_is_up(service) is False
    checker.stop()


# --- one update ----------------------------------------------------------

@pytest.mark.parametrize("empty_database", ["sqlite"], indirect=True)
def test_once_updates_once_and_a_rerun_keeps_the_nodes(tmp_path, database,
                                                       ctx):
    argv = ("--config-file", write_conf(tmp_path), "--database-url",
            database.url, "compute", "--host", "cron", "--fake-nodes", 2,
            "--once")
    code, err = run(tmp_path, *argv)
    assert code == 0, err
    assert err.splitlines()[-1].endswith(
        "compute agent of host cron updated once: 2 node(s) [cron-node1, "
        "cron-node2], driver fake")
    first = nodes_of(ctx, "cron")

    code, err = run(tmp_path, *argv, "--fake-node-shape", "8,16384,100")
    assert code == 0, err
    again = nodes_of(ctx, "cron")
    assert [(n.id, n.uuid) for n in again] == [(n.id, n.uuid) for n in first]
    assert [(n.vcpus, n.memory_mb, n.local_gb) for n in again] == \
        [(8, 16384, 100)] * 2
    # --once stays out of the service group: no heartbeat ever
    service = service_obj.Service.get_by_compute_host(ctx, "cron")
    assert service.report_count == 0


@pytest.mark.parametrize("empty_database", ["sqlite", "postgresql"],
                         indirect=True)
def test_linux_driver_reports_this_machine_as_one_node(tmp_path, database,
                                                       ctx):
    code, err = run(tmp_path, "--config-file", write_conf(tmp_path),
                    "--database-url", database.url, "compute", "--host",
                    "real", "--once")
    assert code == 0, err
    [node] = nodes_of(ctx, "real")
    assert node.vcpus == len(linux_probe.online_cpus())
    assert node.hypervisor_type == "linux"
    assert node.uuid == (tmp_path / "instances" / "compute_id").read_text(
    ).strip()
    assert "driver linux" in err.splitlines()[-1]


# --- errors ----------------------------------------------------------------

@pytest.mark.parametrize("empty_database", ["sqlite", "postgresql"],
                         indirect=True)
def test_without_schema_it_says_to_run_db_sync(tmp_path, empty_database):
    code, err = run(tmp_path, "--database-url", empty_database.url,
                    "compute", "--fake-nodes", 1)
    shown = empty_database.engine.url.render_as_string(hide_password=True)
    reason = {"sqlite": "does not exist",
              "postgresql": "has no hoststate schema"}[empty_database.backend]
    assert (code, err) == (
        1, f"hoststate: database {shown} {reason}; run hoststate db sync\n")


def test_unreachable_database_is_one_line(tmp_path):
    url = f"postgresql+psycopg://nobody@127.0.0.1:{zk_support.free_port()}/x"
    code, err = run(tmp_path, "--database-url", url, "compute")
    assert code == 1
    assert err.startswith(f"hoststate: cannot reach database {url}: ")
    assert err.count("\n") == 1


@pytest.mark.parametrize("empty_database", ["sqlite"], indirect=True)
def test_unreachable_zookeeper_at_start_is_one_line(tmp_path, database):
    port = zk_support.free_port()
    conf_file = write_conf(
        tmp_path, default={"servicegroup_driver": "zk"},
        zookeeper={"address": f"127.0.0.1:{port}", "recv_timeout": 1000})
    code, err = run(tmp_path, "--config-file", conf_file, "--database-url",
                    database.url, "compute", "--fake-nodes", 1, "--host", "z")
    assert code == 1
    assert err.startswith(
        "hoststate: host z cannot join the service group (servicegroup_driver"
        " zk): Service liveness unknown: the zk backend is unavailable: not "
        f"connected to ZooKeeper at 127.0.0.1:{port} (session ")
    assert err.count("\n") == 1


@pytest.mark.parametrize("argv, message", [
    (("--fake-nodes", "0"),
     "--fake-nodes must be an integer from 1 to 100,000, not '0'"),
    (("--fake-nodes", "-2"),
     "--fake-nodes must be an integer from 1 to 100,000, not '-2'"),
    (("--fake-nodes", "two"),
     "--fake-nodes must be an integer from 1 to 100,000, not 'two'"),
    (("--fake-nodes", "100001"),
     "--fake-nodes must be an integer from 1 to 100,000, not '100001'"),
    (("--fake-nodes", "1", "--fake-node-shape", "8,0,10"),
     "argument --fake-node-shape: must be three positive integers "
     "VCPUS,MEMORY_MB,LOCAL_GB, not '8,0,10'"),
    (("--host", "not a host"),
     "argument --host: must be a host name, domain name or IP address, "
     "not 'not a host'"),
])
def test_bad_arguments_are_usage_errors(tmp_path, argv, message):
    code, err = run(tmp_path, "compute", *argv)
    assert code == 2
    assert err == (f"hoststate compute: {message}; see hoststate compute "
                   f"--help\n")


@pytest.mark.parametrize("default, argv, code, message", [
    ({"compute_driver": "vmwareapi.VMwareVCDriver"}, (), 2,
     "configuration error: Invalid value 'vmwareapi.VMwareVCDriver' for "
     "option [DEFAULT] compute_driver: no such driver; installed: fake, "
     "linux"),
    ({}, ("--fake-node-shape", "8,16384,100"), 1,
     "--fake-node-shape needs --fake-nodes (compute_driver is linux)"),
    ({"servicegroup_driver": "mc"}, ("--fake-nodes", "1"), 2,
     "configuration error: Invalid value None for option [DEFAULT] "
     "memcached_servers: a compute agent with servicegroup_driver \"mc\" "
     "needs a memcached server that schedulers share"),
], ids=["unknown-compute-driver", "shape-without-fake-nodes",
        "mc-without-servers"])
@pytest.mark.parametrize("empty_database", ["sqlite"], indirect=True)
def test_bad_configuration_is_one_line(tmp_path, database, default, argv,
                                       code, message):
    conf_file = write_conf(tmp_path, default=default)
    assert run(tmp_path, "--config-file", conf_file, "--database-url",
               database.url, "compute", *argv) == (
        code, f"hoststate: {message}\n")


# --- the service class, embedded ------------------------------------------

def make_service(ctx, group, interval=None):
    driver = fake_driver.FakeDriver.uniform(2, prefix="emb-node", vcpus=4,
                                            memory_mb=4096, local_gb=10)
    return service_mod.ComputeService(ctx, driver, "emb", group, interval)


@pytest.mark.parametrize("empty_database", ["sqlite"], indirect=True)
def test_service_joins_then_leaves_and_stops_the_group(ctx):
    group = mock.Mock(spec=sg_api.API)
    service = make_service(ctx, group)
    assert service.start() == {}
    assert service.nodenames == ["emb-node1", "emb-node2"]
    service.stop()             # before run(): run returns at once
    service.run()
    assert group.mock_calls == [
        mock.call.join("emb", "compute", service.service),
        mock.call.service_is_up(service.service),
        mock.call.leave("emb", "compute"), mock.call.stop()]


@pytest.mark.parametrize("empty_database", ["sqlite"], indirect=True)
def test_service_whose_group_cannot_answer_fails_to_start(ctx):
    group = mock.Mock(spec=sg_api.API)
    group.service_is_up.side_effect = exception.ServiceGroupUnavailable(
        driver="zk", reason="not connected")
    with pytest.raises(exception.ServiceGroupUnavailable):
        make_service(ctx, group).start()
    assert [name for name, _, _ in group.mock_calls] == [
        "join", "service_is_up", "leave", "stop"]


@pytest.mark.parametrize("configured, interval", [
    (0, 60), (1, 1), (300, 300), (-1, None)])
def test_periodic_interval(configured, interval):
    conf = hs_conf.load(args=[], config_files=[], conf=cfg.ConfigOpts(),
                        use_env=False)
    conf.set_override("update_resources_interval", configured)
    assert service_mod.periodic_interval(conf) == interval


def test_failed_update_logs_one_line_with_the_error():
    formatter = logs.OneLineFormatter("%(levelname)s %(message)s")
    try:
        raise ValueError("node gone\nsecond line")
    except ValueError:
        record = logging.LogRecord("hoststate", logging.ERROR, __file__, 1,
                                   "update of node %s failed", ("n1",),
                                   sys.exc_info())
    assert formatter.format(record) == \
        "ERROR update of node n1 failed: ValueError: node gone"
