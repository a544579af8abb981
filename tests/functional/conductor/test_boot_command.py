"""``hoststate boot`` and ``hoststate delete`` as a user runs them: a
process with no database, on the session's RabbitMQ vhost, against a
conductor, a scheduler and two agents served by this test."""
import pytest
from oslo_config import cfg

from hoststate import conf as hconf
from hoststate import rpc
from hoststate.conductor import rpcapi
from hoststate.conductor import service as conductor_service
from hoststate.objects import compute_node as cn_obj
from hoststate.objects import instance as instance_obj
from hoststate.resource_tracker import agent as agent_mod
from hoststate.resource_tracker import compute_rpc
from hoststate.resource_tracker import fake_driver
from support.databases import snapshot
from .test_build_flow import InProcessScheduler
from ..test_cmd_compute import run, write_conf

pytestmark = pytest.mark.parametrize("empty_database", ["sqlite"],
                                     indirect=True)
HOSTS = ("boot-1", "boot-2")


@pytest.fixture
def cloud(ctx, rabbitmq_url, tmp_path):
    conf = hconf.load([], conf=cfg.ConfigOpts())
    conf.set_override("transport_url", rabbitmq_url)
    tasks = rpcapi.ComputeTaskAPI(conf)
    servers = []
    for host in HOSTS:
        driver = fake_driver.FakeDriver.uniform(
            1, prefix=f"{host}-node", vcpus=4, memory_mb=8192, local_gb=100)
        agent = agent_mod.ComputeAgent(ctx, driver, host=host)
        agent.start()
        servers.append(compute_rpc.make_server(conf, agent, tasks))
    servers.append(conductor_service.make_server(
        conf, ctx.engine, "conductor-b",
        scheduler=InProcessScheduler(ctx, conf)))
    for server in servers:
        server.start()
    (tmp_path / "state").mkdir()
    yield write_conf(tmp_path, default={"transport_url": rabbitmq_url,
                                        "rpc_response_timeout": 20,
                                        "state_path": tmp_path / "state"})
    for server in servers:
        server.stop()
        server.wait()
    rpc.cleanup()


def _boot(tmp_path, conf_file, *argv):
    return run(tmp_path, "--config-file", conf_file, "boot", *argv)


def test_boot_and_wait_prints_where_each_instance_landed(tmp_path, ctx,
                                                         cloud):
    code, stderr = _boot(tmp_path, cloud, "--flavor", "2,1024,10",
                         "--count", "2", "--wait")
    assert (code, stderr) == (0, "")
    instances = instance_obj.InstanceList.get_by_host(ctx, "boot-1") + \
        instance_obj.InstanceList.get_by_host(ctx, "boot-2")
    assert sorted(i.vm_state for i in instances) == ["active", "active"]


def test_boot_output_lines(tmp_path, ctx, cloud):
    import subprocess
    import sys
    from ..test_cmd_compute import LAUNCH
    done = subprocess.run(
        [sys.executable, "-c", LAUNCH, "--config-file", str(cloud), "boot",
         "--flavor", "1,512,1", "--wait"], cwd=tmp_path,
        capture_output=True, text=True, timeout=120)
    cast, final = done.stdout.splitlines()
    instance_uuid, host, node = cast.split()
    assert final == f"{instance_uuid} active {host} {node}"
    assert node == f"{host}-node1"
    # delete it: the line, then the usage back where it was
    before = {n.host: n.vcpus_used
              for n in cn_obj.ComputeNodeList.get_all(ctx)}
    code, stderr = run(tmp_path, "--config-file", cloud, "delete",
                       instance_uuid)
    assert (code, stderr) == (0, "")
    after = {n.host: n.vcpus_used
             for n in cn_obj.ComputeNodeList.get_all(ctx)}
    assert after[host] == before[host] - 1


def test_a_request_that_fits_nowhere_is_one_line_and_writes_nothing(
        tmp_path, ctx, cloud):
    before = snapshot(ctx.engine)
    code, stderr = _boot(tmp_path, cloud, "--flavor", "64,1024,10")
    assert code == 1
    assert len(stderr.splitlines()) == 1
    assert stderr.startswith("hoststate: No valid host was found")
    assert snapshot(ctx.engine) == before


@pytest.mark.parametrize("argv, message", [
    (["--flavor", "2,1024"], "--flavor: must be VCPUS,MEMORY_MB,DISK_GB"),
    (["--flavor", "0,1024,1"], "--flavor: must be VCPUS,MEMORY_MB,DISK_GB"),
    (["--flavor", "1,1,1", "--count", "0"], "--count"),
    (["--flavor", "1,1,1", "--hint", "novalue"], "--hint: must be KEY=VALUE"),
])
def test_bad_arguments_are_usage_errors(tmp_path, cloud, argv, message):
    code, stderr = _boot(tmp_path, cloud, *argv)
    assert code == 2
    assert len(stderr.splitlines()) == 1 and message in stderr
