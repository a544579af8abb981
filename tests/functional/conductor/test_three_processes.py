"""A whole cloud as separate processes on one machine, as README's example
runs it: a scheduler and a conductor with the database, two compute
agents without it, on the session's RabbitMQ vhost; ``hoststate boot``
and ``delete`` from a fifth process with neither."""
import signal

import pytest

from hoststate.objects import compute_node as cn_obj
from hoststate.objects import service as service_obj
from support.services import services  # noqa: F401
from ..test_cmd_compute import run, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.parametrize(
    "empty_database", ["postgresql"], indirect=True)]


def test_boot_and_delete_across_processes(tmp_path, database, ctx,
                                          rabbitmq_url, services):
    url = database.url
    scheduler = services("scheduler", rabbitmq_url,
                         ["scheduler", "--workers", "1"], url)
    conductor = services("conductor", rabbitmq_url,
                         ["conductor", "--workers", "2"], url)
    agents = [services(f"agent{i}", rabbitmq_url,
                       ["compute", "--fake-nodes", "2", "--host", f"e2e-{i}",
                        "--fake-node-shape", "8,16384,100"])
              for i in (1, 2)]
    scheduler.wait_for_log("scheduler serving")
    conductor.wait_for_log("conductor started 2 workers")
    for i, agent in enumerate(agents, 1):
        agent.wait_for_log(f"compute agent of host e2e-{i} started")

    # a new service is down until its first heartbeat; two mean the
    # scheduler's liveness (read at most once a second) has seen it up
    wait_for(lambda: all(
        service_obj.Service.get_by_compute_host(ctx, f"e2e-{i}")
        .report_count >= 2 for i in (1, 2)), "two heartbeats of each agent")

    boot_conf = agents[0].conf_path
    code, stderr = run(tmp_path, "--config-file", boot_conf, "boot",
                       "--flavor", "2,1024,10", "--count", "3", "--wait")
    assert (code, stderr) == (0, ""), stderr
    used = sum(n.vcpus_used for n in cn_obj.ComputeNodeList.get_all(ctx))
    assert used == 6

    # every agent's periodic recount agrees with what the builds hold
    wait_for(lambda: sum(n.vcpus_used for n in
                         cn_obj.ComputeNodeList.get_all(ctx)) == 6,
             "usage settled")

    for service in [*agents, conductor, scheduler]:
        assert service.stop(signal.SIGTERM) == 0, service.log
