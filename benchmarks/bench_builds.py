"""End-to-end builds through the whole cloud as processes (issue 15: at
least 200 instances/s with 2 conductors, 1 scheduler and 100 agents on
RabbitMQ and PostgreSQL, fake driver).

The processes: ``hoststate scheduler --workers 1``, ``hoststate
conductor --workers 2`` (two worker processes under one parent), and one
process holding every agent (AGENTS database-less compute agents through
the conductors, each its own host with a fake node, its heartbeats on the
db driver and its compute queue served); this process is the client,
``hoststate boot``'s calls: ``schedule_and_build_instances`` for BATCH
instances at a time, then ``instance_states`` until every one is ACTIVE.

A build is: the client's call to a conductor; the conductor's call to
the scheduler (select with alternates, the scheduler's claim in the
database) and its cast to the chosen agent; the agent's remotable calls
(its placed instance and ledger row, the instance saved ACTIVE) back to
a conductor. The figure is instances / second from the first call to the
last instance ACTIVE, and the CPU seconds each process spent in that
window (``psutil``), so where the time goes is measured, not guessed.

CI runs a small cloud (``--benchmark-disable``: 2 agents, 6 instances);
``pytest benchmarks/bench_builds.py --benchmark-enable -s`` the full one.
"""
import json
import os
import subprocess
import sys
import time
import uuid

import psutil
import pytest
from oslo_config import cfg

from hoststate import conf as hs_conf
from hoststate import context as hs_context
from hoststate import rpc
from hoststate.conductor import rpcapi
from hoststate.objects import flavor as flavor_obj
from hoststate.objects import request_spec
from hoststate.objects import service as service_obj
from run_mode import full_mode
from support.rabbitmq import rabbitmq_url, rabbitmq_vhost  # noqa: F401
from support.services import services  # noqa: F401

pytestmark = [pytest.mark.slow, pytest.mark.parametrize(
    "empty_database", ["postgresql"], indirect=True)]

FULL = dict(agents=100, instances=2000, batch=50)
SHORT = dict(agents=2, instances=6, batch=3)
GOAL_PER_S = 200
REPORT_INTERVAL_S, DOWN_TIME_S = 10, 60
SETTLE_TIMEOUT_S = 600
POLL_S = 0.5

#: every agent in one process: prints "ready" once all serve, answers
#: each line with the remotable calls its agents sent since the last
#: (JSON {"Class.method": n}), stops when its stdin closes
_AGENTS = """
import sys
from hoststate import conf as hs_conf, context as hs_context, rpc
from hoststate.conf import CONF
from hoststate.conductor import rpcapi
from hoststate.resource_tracker import compute_rpc, fake_driver
from hoststate.resource_tracker import service as service_mod
from hoststate.servicegroup import api as sg_api
url, agents = sys.argv[1], int(sys.argv[2])
hs_conf.load(["--config-file", sys.argv[3]], conf=CONF)
for name, value in (("transport_url", url), ("report_interval", %(beat)d),
                    ("service_down_time", %(down)d),
                    ("rpc_response_timeout", 60)):
    CONF.set_override(name, value)
api = rpcapi.use_conductor(CONF)
import collections, json, threading
calls, lock = collections.Counter(), threading.Lock()
def counted(send, name_of):
    def call(context, first, method, *args, **kwargs):
        with lock:
            calls[name_of(first) + "." + method] += 1
        return send(context, first, method, *args, **kwargs)
    return call
api.object_class_action_versions = counted(
    api.object_class_action_versions, str)
api.object_action = counted(api.object_action, lambda o: o.obj_name())
tasks = rpcapi.ComputeTaskAPI(CONF)
running = []
for i in range(agents):
    host = "build-%%03d" %% i
    context = hs_context.RequestContext(
        engine=None, service_host=host, is_admin=True, roles=["admin"],
        overwrite=False)
    if not running:
        rpcapi.wait_for_conductor(api, context, CONF)
    driver = fake_driver.FakeDriver.uniform(
        1, prefix=host + "-node", vcpus=128, memory_mb=524288,
        local_gb=10000)
    service = service_mod.ComputeService(
        context, driver, host, sg_api.API(CONF, context=context), None)
    service.start()
    server = compute_rpc.make_server(CONF, service.agent, tasks)
    server.start()
    running.append((service, server))
print("ready", flush=True)
for line in sys.stdin:      # "take": the calls since the last, as JSON
    with lock:
        print(json.dumps(calls), flush=True)
        calls.clear()
for service, server in running:
    server.stop(); server.wait(); service.close()
rpc.cleanup()
""" % dict(beat=REPORT_INTERVAL_S, down=DOWN_TIME_S)


#: the agents' process options that oslo.messaging registers only when it
#: makes a transport or a server (so given in a file): one build at a time
#: per agent and no AMQP heartbeat thread per server (a hundred servers
#: in one process otherwise run thousands of threads)
_AGENTS_CONF = """[DEFAULT]
executor_thread_pool_size = 1
rpc_conn_pool_size = 200
[oslo_messaging_rabbit]
heartbeat_timeout_threshold = 0
"""


def _agents_process(url, agents, tmp_path):
    conf_path = tmp_path / "agents.conf"
    conf_path.write_text(_AGENTS_CONF)
    process = subprocess.Popen(
        [sys.executable, "-c", _AGENTS, url, str(agents), str(conf_path)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    line = process.stdout.readline()
    if line.strip() != "ready":
        process.kill()
        raise RuntimeError(f"the agents did not start: {line!r}")
    return process


def _spec(instance_uuid, count):
    flavor = flavor_obj.Flavor(id=0, flavorid="b1", name="b1", vcpus=1,
                               memory_mb=512, root_gb=1, ephemeral_gb=0,
                               swap=0, extra_specs={})
    return request_spec.RequestSpec.from_components(
        instance_uuid, flavor, image={"id": str(uuid.uuid4())},
        num_instances=count, project_id="admin")


def _agent_calls(agents):
    agents.stdin.write("take\n")
    agents.stdin.flush()
    return json.loads(agents.stdout.readline())


def _cpu(pids, children=True):
    """{pid: user + system CPU seconds} of ``pids`` (and their children)."""
    seconds = {}
    for pid in pids:
        process = psutil.Process(pid)
        for proc in [process, *(process.children(recursive=True)
                                if children else ())]:
            times = proc.cpu_times()
            seconds[proc.pid] = times.user + times.system
    return seconds


def _wait_all_up(ctx, agents):
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        up = [s for s in service_obj.ServiceList.get_by_topic(ctx, "compute")
              if s.report_count >= 1]
        if len(up) >= agents:
            return
        time.sleep(POLL_S)
    raise AssertionError("the agents' first heartbeats did not all land")


def _build(conf, size):
    """(seconds from the first call to the last ACTIVE, final states)."""
    tasks = rpcapi.ComputeTaskAPI(conf)
    context = hs_context.get_admin_context(engine=None)
    uuids = []
    started = time.perf_counter()
    for _ in range(0, size["instances"], size["batch"]):
        batch = [str(uuid.uuid4()) for _ in range(size["batch"])]
        tasks.schedule_and_build_instances(
            context, _spec(batch[0], len(batch)), batch)
        uuids += batch
    # asked about the unsettled ones only: a poll of every instance costs
    # the conductor (and this client) more than the builds it waits for
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    states, pending = {}, uuids
    while pending and time.monotonic() < deadline:
        states.update(tasks.instance_states(context, pending))
        pending = [u for u in pending
                   if states[u]["vm_state"] not in ("active", "error")]
        if pending:
            time.sleep(POLL_S)
    return time.perf_counter() - started, states


def test_builds_per_second(benchmark, request, tmp_path, database, ctx,
                           rabbitmq_url, services):  # noqa: F811
    size = FULL if full_mode(request.config) else SHORT
    common = dict(report_interval=REPORT_INTERVAL_S,
                  service_down_time=DOWN_TIME_S, rpc_response_timeout=60)
    scheduler = services("scheduler", rabbitmq_url,
                         ["scheduler", "--workers", "1"], database.url,
                         **common)
    conductor = services("conductor", rabbitmq_url,
                         ["conductor", "--workers", "2"], database.url,
                         **common)
    scheduler.wait_for_log("scheduler serving")
    conductor.wait_for_log("conductor started 2 workers")
    agents = _agents_process(rabbitmq_url, size["agents"], tmp_path)
    conf = hs_conf.load([], conf=cfg.ConfigOpts())
    conf.set_override("transport_url", rabbitmq_url)
    conf.set_override("rpc_response_timeout", 60)
    try:
        _wait_all_up(ctx, size["agents"])
        pids = {"scheduler": scheduler.process.pid,
                "conductors": conductor.process.pid,
                "agents": agents.pid, "client": os.getpid()}
        # the client (this process) without its children: the others
        before = {name: _cpu([pid], name != "client")
                  for name, pid in pids.items()}
        _agent_calls(agents)
        seconds, states = benchmark.pedantic(_build, args=(conf, size),
                                             rounds=1, iterations=1)
        after = {name: _cpu([pid], name != "client")
                 for name, pid in pids.items()}
        calls = _agent_calls(agents)
    finally:
        rpc.cleanup()
        agents.stdin.close()
        try:
            agents.wait(60)
        except subprocess.TimeoutExpired:
            agents.kill()
            agents.wait()
    cpu = {name: sum(after[name].get(p, 0) - before[name].get(p, 0)
                     for p in after[name]) for name in pids}
    active = sum(s["vm_state"] == "active" for s in states.values())
    _report(benchmark, size, seconds, active, cpu, calls)
    assert active == size["instances"], [
        s for s in states.values() if s["vm_state"] != "active"][:3]


def _report(benchmark, size, seconds, active, cpu, calls):
    rate = active / seconds
    per_build = {name: used / max(active, 1) * 1000
                 for name, used in cpu.items()}
    benchmark.extra_info.update(
        instances_per_s=round(rate, 1),
        cpu_ms_per_build={k: round(v, 2) for k, v in per_build.items()})
    shown = ", ".join(f"{name} {cpu[name]:.1f} s ({per_build[name]:.2f} ms"
                      f"/build)" for name in cpu)
    print(f"\n{active:,} of {size['instances']:,} instances ACTIVE on "
          f"{size['agents']} agents in {seconds:.2f} s: {rate:.1f}/s "
          f"(goal {GOAL_PER_S}/s); CPU: {shown}; {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.2f}")
    # the agents' calls to the conductors in the window, per build
    # (heartbeats, REPORT_INTERVAL_S apart, included)
    print("agents' remotable calls per build: " + ", ".join(
        f"{name} {n / max(active, 1):.2f}" for name, n in
        sorted(calls.items())))
    benchmark.extra_info["agent_calls_per_build"] = {
        name: round(n / max(active, 1), 3) for name, n in calls.items()}
