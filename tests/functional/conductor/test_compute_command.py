"""``hoststate compute`` with no database: a real agent process whose
configuration names a broker and no database works through a conductor
(here a server thread of the test, on the session's RabbitMQ vhost)."""
import signal

import pytest
from oslo_config import cfg

from hoststate import conf as hconf
from hoststate import rpc
from hoststate.conductor import service as conductor_service
from hoststate.objects import compute_node as cn_obj
from hoststate.objects import service as service_obj
from ..test_cmd_compute import agents  # noqa: F401
from ..test_cmd_compute import run, wait_for, write_conf

pytestmark = pytest.mark.parametrize(
    "empty_database", ["sqlite"], indirect=True)


@pytest.fixture
def served(ctx, rabbitmq_url):
    """A conductor on the vhost serving ``ctx``'s database."""
    conf = hconf.load([], conf=cfg.ConfigOpts())
    conf.set_override("transport_url", rabbitmq_url)
    server = conductor_service.make_server(conf, ctx.engine, "conductor-t")
    server.start()
    yield rabbitmq_url
    server.stop()
    server.wait()
    rpc.cleanup()


def _conf(tmp_path, url):
    (tmp_path / "state").mkdir(exist_ok=True)
    return write_conf(tmp_path, default={"transport_url": url,
                                         "rpc_response_timeout": 30,
                                         "state_path": tmp_path / "state"})


def test_once_registers_the_nodes_through_the_conductor(tmp_path, ctx,
                                                        served):
    code, stderr = run(tmp_path, "--config-file", _conf(tmp_path, served),
                       "compute", "--once", "--fake-nodes", "3",
                       "--host", "nodb-1")
    assert code == 0, stderr
    nodes = cn_obj.ComputeNodeList.get_all_by_host(ctx, "nodb-1")
    assert sorted(n.hypervisor_hostname for n in nodes) == [
        "nodb-1-node1", "nodb-1-node2", "nodb-1-node3"]
    assert service_obj.Service.get_by_compute_host(ctx, "nodb-1").binary \
        == "nova-compute"
    # the agent had no database: none was made in its state_path
    assert list((tmp_path / "state").iterdir()) == []


def test_a_running_agent_heartbeats_through_the_conductor(tmp_path, ctx,
                                                          served, agents):
    agent = agents("--config-file", _conf(tmp_path, served), "compute",
                   "--fake-nodes", "2", "--host", "nodb-2")
    agent.wait_for_log("compute agent of host nodb-2 started")

    def beats():
        return service_obj.Service.get_by_compute_host(
            ctx, "nodb-2").report_count

    wait_for(lambda: beats() >= 2, "two heartbeats through the conductor")
    assert agent.stop(signal.SIGTERM) == 0


def test_prune_needs_database_access(tmp_path, ctx, served):
    code, stderr = run(tmp_path, "--config-file", _conf(tmp_path, served),
                       "compute", "--once", "--prune", "--host", "nodb-3")
    assert code != 0
    assert stderr.strip().splitlines() == [
        "hoststate: --prune needs database access; this agent has "
        "none (it works through a conductor)"]


def test_sighup_reloads_the_configuration_and_the_agent_goes_on(
        tmp_path, ctx, served, agents):
    agent = agents("--config-file", _conf(tmp_path, served), "compute",
                   "--fake-nodes", "1", "--host", "nodb-4")
    agent.wait_for_log("compute agent of host nodb-4 started")
    agent.process.send_signal(signal.SIGHUP)
    agent.wait_for_log("configuration reloaded: 0 option(s) changed")
    assert agent.process.poll() is None
    assert agent.stop(signal.SIGTERM) == 0


def test_with_a_log_file_the_agent_logs_through_oslo_log(tmp_path, ctx,
                                                         served, agents):
    log_file = tmp_path / "compute.log"
    conf_file = _conf(tmp_path, served)
    conf_file.write_text(conf_file.read_text().replace(
        "[DEFAULT]\n", f"[DEFAULT]\nlog_file = {log_file}\n", 1))
    agent = agents("--config-file", conf_file, "compute", "--fake-nodes",
                   "1", "--host", "nodb-5")
    wait_for(lambda: log_file.exists() and "compute agent of host nodb-5 "
             "started" in log_file.read_text(), "the start in the log file")
    line = next(line for line in log_file.read_text().splitlines()
                if "compute agent of host nodb-5 started" in line)
    # oslo.log's format: time, pid, level, logger, [request], message
    assert " INFO hoststate.compute [" in line
    assert agent.stop(signal.SIGTERM) == 0
    assert "compute agent of host nodb-5 stopped" in log_file.read_text()
