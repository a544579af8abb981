"""Issue 15's faults, against the real RabbitMQ and PostgreSQL, with every
service a process of its own (support.services): a compute agent killed
mid-build, the scheduler down, the broker restarted, a conductor killed
during a stream of builds.

What each proves is said in its docstring; what holds after every fault:
each build ends ACTIVE or ERROR, each ACTIVE instance holds exactly one
ledger row, on its own node, no ledger row belongs to anything else, and
every node's usage is reserved + its ledger (support.ledger).

Agents hold a build with ``HOSTSTATE_FAKE_SPAWN_SECONDS`` (the fake
driver's spawn sleeps that long).
"""
import signal
import subprocess
import sys
import threading
import time

import pytest
import sqlalchemy as sa
from oslo_config import cfg

from hoststate import conf as hconf
from hoststate import rpc
from hoststate.db import instance_faults
from hoststate.db import schema
from hoststate.objects import service as service_obj
from support import databases
from support import ledger
from support import rabbitmq
from support.services import DEFAULTS
from support.services import LAUNCH
from support.services import services  # noqa: F401
from ..test_cmd_compute import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.parametrize(
    "empty_database", ["postgresql"], indirect=True)]

SPAWN_ENV = "HOSTSTATE_FAKE_SPAWN_SECONDS"
#: the services' rpc_response_timeout here (seconds)
RPC_TIMEOUT_S = 3
#: service_down_time where a boot must find a frozen agent still up
SLOW_DOWN_TIME_S = 10


def start_cloud(services, database, ctx, rabbit, agents, conductors=1,
                scheduler=True, **options):
    """{name: Service}: a scheduler, ``conductors`` conductors and the
    ``agents`` ({host: (shape, env)}), each agent up (two heartbeats);
    ``options``: more [DEFAULT] options of every service."""
    url, started = database.url, {}
    conf = {"rpc_response_timeout": RPC_TIMEOUT_S, **options}
    if scheduler:
        started["scheduler"] = services("scheduler", rabbit,
                                        ["scheduler", "--workers", "1"],
                                        url, **conf)
    for i in range(conductors):
        started[f"conductor{i}"] = services(
            f"conductor{i}", rabbit, ["conductor", "--workers", "1"], url,
            **conf)
    for name, service in started.items():
        service.wait_for_log(f"{name.rstrip('0123456789')} serving")
    for host, (shape, env) in agents.items():
        started[host] = start_agent(services, rabbit, host, shape, env,
                                    **options)
    wait_heartbeats(ctx, agents, 2)
    return started


def start_agent(services, rabbit, host, shape, env=None, name=None,
                **options):
    agent = services(name or host, rabbit,
                     ["compute", "--fake-nodes", "1", "--host", host,
                      "--fake-node-shape", shape], env=env,
                     rpc_response_timeout=RPC_TIMEOUT_S, **options)
    agent.wait_for_log(f"compute agent of host {host} started")
    return agent


def report_counts(ctx, hosts):
    return {h: service_obj.Service.get_by_compute_host(ctx, h).report_count
            for h in hosts}


def wait_heartbeats(ctx, hosts, more, since=None):
    """Until each host's report_count is ``more`` above ``since``."""
    since = since or {h: 0 for h in hosts}
    wait_for(lambda: all(n >= since[h] + more for h, n in
                         report_counts(ctx, hosts).items()),
             f"{more} heartbeat(s) of each of {sorted(hosts)}")


def boot(tmp_path, conf_path, *argv, timeout=120):
    done = subprocess.run(
        [sys.executable, "-c", LAUNCH, "--config-file", str(conf_path),
         "boot", "--flavor", "2,1024,10", *map(str, argv)],
        cwd=tmp_path, capture_output=True, text=True, timeout=timeout,
        stdin=subprocess.DEVNULL)
    return done.returncode, done.stdout, done.stderr


def cast_lines(stdout):
    """{uuid: host} of boot's ``<uuid> <host> <node>`` lines."""
    return {parts[0]: parts[1] for parts in map(str.split,
                                                stdout.splitlines())
            if len(parts) == 3}


def instances(engine):
    table = schema.instances
    with engine.connect() as conn:
        return {r.uuid: r for r in conn.execute(
            sa.select(table).where(table.c.deleted == 0))}


def settled(engine, uuids):
    found = instances(engine)
    return all(u in found and found[u].vm_state in ("active", "error")
               for u in uuids)


def ledger_disagreements(engine):
    """Instance rows and ledger rows that do not agree: an ACTIVE instance
    without exactly one row on its node, a row of no live instance."""
    nodes_t, ledger_t = schema.compute_nodes, schema.allocations
    with engine.connect() as conn:
        node_of = {(r.host, r.hypervisor_hostname): r.id for r in
                   conn.execute(sa.select(nodes_t).where(
                       nodes_t.c.deleted == 0))}
        rows = list(conn.execute(sa.select(ledger_t)))
    live = instances(engine)
    found = []
    for uuid, instance in live.items():
        held = [r.compute_node_id for r in rows if r.instance_uuid == uuid]
        if instance.vm_state == "active":
            want = [node_of.get((instance.host, instance.node))]
            if held != want:
                found.append(f"active {uuid} on {instance.node}: rows on "
                             f"nodes {held}, want {want}")
        elif instance.vm_state == "error" and held:
            found.append(f"error {uuid} holds rows on nodes {held}")
    for row in rows:
        if row.instance_uuid not in live:
            found.append(f"ledger row of no live instance: "
                         f"{row.instance_uuid} on node {row.compute_node_id}")
    return found


def assert_consistent(engine):
    """The instance rows and the ledger agree, and every node's usage is
    reserved + its ledger (after the agents' recount: waited for)."""
    assert ledger_disagreements(engine) == []
    conf = hconf.load([], conf=cfg.ConfigOpts())
    wait_for(lambda: ledger.violations(engine, conf) == [],
             "usage = reserved + ledger on every node")


# --- 4. a compute agent killed mid-build -------------------------------------

def test_agent_killed_mid_build_is_rescheduled(tmp_path, database, ctx,
                                               rabbitmq_url, services):
    """The agent building the instance is SIGKILLed in its spawn: the
    conductor that cast the build sees the host's service down
    (service_down_time, 5 s here) and builds the instance on its
    alternate; the dead node's claim is given back at once, and once the
    agent is back its recount agrees with the ledger."""
    cloud = start_cloud(services, database, ctx, rabbitmq_url, {
        # more free memory: the first choice (RAMWeigher spreads)
        "f-dead": ("8,32768,100", {SPAWN_ENV: "300"}),
        "f-ok": ("8,16384,100", None)})
    code, out, err = boot(tmp_path, cloud["f-ok"].conf_path)
    assert (code, err) == (0, "")
    [(uuid, host)] = cast_lines(out).items()
    assert host == "f-dead"
    cloud["f-dead"].wait_for_log(f"fake spawn of instance {uuid}")
    cloud["f-dead"].kill()
    killed_at = time.monotonic()

    wait_for(lambda: settled(database.engine, [uuid]), "the build settles")
    rescheduled_after = time.monotonic() - killed_at
    row = instances(database.engine)[uuid]
    assert (row.vm_state, row.host) == ("active", "f-ok")
    assert ("still building on host f-dead, whose compute service is "
            "down: rescheduling") in cloud["conductor0"].log
    assert ledger_disagreements(database.engine) == []

    since = report_counts(ctx, ["f-dead"])
    start_agent(services, rabbitmq_url, "f-dead", "8,32768,100",
                name="f-dead-again")
    wait_heartbeats(ctx, ["f-dead"], 2, since)
    assert_consistent(database.engine)
    assert row.vm_state == "active"
    print(f"rescheduled {rescheduled_after:.1f} s after the kill")


# --- 3. the scheduler down --------------------------------------------------

def test_boot_with_the_scheduler_down(tmp_path, database, ctx, rabbitmq_url,
                                      services):
    """With the scheduler stopped, boot fails in one line once the
    conductor's call to the scheduler times out, and nothing is written;
    the call expires in the broker: a scheduler started afterwards
    serves the next boot first (its queue is FIFO, one call at a time)
    and never builds the first one."""
    cloud = start_cloud(services, database, ctx, rabbitmq_url,
                        {"s-1": ("8,16384,100", None)})
    assert cloud["scheduler"].stop() == 0     # its queue stays, empty
    before = databases.snapshot(database.engine)

    started = time.monotonic()
    code, out, err = boot(tmp_path, cloud["s-1"].conf_path)
    took = time.monotonic() - started
    assert (code, out) == (1, "")
    assert err == (f"hoststate: no answer within rpc_response_timeout "
                   f"({RPC_TIMEOUT_S} s); check that a conductor and a "
                   f"scheduler are running on [DEFAULT] transport_url\n")
    after = databases.snapshot(database.engine)
    for table in ("instances", "allocations"):
        assert after[table] == before[table]

    services("scheduler-again", rabbitmq_url,
             ["scheduler", "--workers", "1"], database.url,
             rpc_response_timeout=RPC_TIMEOUT_S).wait_for_log(
                 "scheduler serving")
    code, out, err = boot(tmp_path, cloud["s-1"].conf_path, "--wait")
    assert (code, err) == (0, "")
    [uuid] = cast_lines(out)
    assert set(instances(database.engine)) == {uuid}
    assert_consistent(database.engine)
    print(f"boot failed after {took:.1f} s")


# --- 2. the broker restarted ---------------------------------------------------

def test_broker_restart(tmp_path, database, ctx, rabbitmq_url, services):
    """RabbitMQ restarts while two builds spawn: every service reconnects
    by itself (heartbeats through the conductor resume within
    rpc.reconnect_bound), the builds end ACTIVE or ERROR with the ledger
    agreeing, and a boot after the restart builds."""
    cloud = start_cloud(services, database, ctx, rabbitmq_url, {
        f"b-{i}": ("8,16384,100", {SPAWN_ENV: "3"}) for i in (1, 2)})
    code, out, err = boot(tmp_path, cloud["b-1"].conf_path, "--count", "2")
    assert (code, err) == (0, "")
    in_flight = list(cast_lines(out))
    restarted = time.monotonic()
    rabbitmq.restart_broker()
    broker_back = time.monotonic() - restarted
    conf = hconf.load([], conf=cfg.ConfigOpts())
    bound = rpc.reconnect_bound(conf)
    back = time.monotonic()
    # counted from the broker's return: heartbeats through the conductor
    since = report_counts(ctx, ["b-1", "b-2"])
    wait_heartbeats(ctx, ["b-1", "b-2"], 2, since)
    heartbeats_after = time.monotonic() - back
    assert heartbeats_after < bound + 2 * RPC_TIMEOUT_S

    wait_for(lambda: settled(database.engine, in_flight),
             "the builds in flight settle")
    code, out, err = boot(tmp_path, cloud["b-1"].conf_path, "--wait")
    assert (code, err) == (0, ""), err
    assert_consistent(database.engine)
    states = {u: instances(database.engine)[u].vm_state for u in in_flight}
    print(f"broker back in {broker_back:.1f} s, heartbeats "
          f"{heartbeats_after:.1f} s later (bound {bound} s); "
          f"in flight: {states}")


# --- 1. one of three conductors SIGKILLed -------------------------------------

def test_conductor_killed_during_builds(tmp_path, database, ctx,
                                        rabbitmq_url, services):
    """A stream of boots and the agents' periodic updates run across three
    conductors; one is SIGKILLed in the middle. Every build that boot
    reported cast ends ACTIVE or ERROR, the ledger agrees, and the agents'
    heartbeats go on within rpc_response_timeout."""
    cloud = start_cloud(services, database, ctx, rabbitmq_url, {
        f"k-{i}": ("16,65536,400", {SPAWN_ENV: "0.5"}) for i in (1, 2)},
        conductors=3)
    results, first_done = [], threading.Event()

    def stream():
        for _ in range(4):
            results.append(boot(tmp_path, cloud["k-1"].conf_path,
                                "--count", "2"))
            first_done.set()

    booting = threading.Thread(target=stream)
    booting.start()
    assert first_done.wait(120)
    since = report_counts(ctx, ["k-1", "k-2"])
    cloud["conductor1"].process.kill()
    cloud["conductor1"].process.wait()
    killed = time.monotonic()
    wait_heartbeats(ctx, ["k-1", "k-2"], 1, since)
    heartbeats_after = time.monotonic() - killed
    booting.join(300)

    cast = {}
    for code, out, err in results:
        assert code == 0 or len(err.splitlines()) == 1, err
        cast.update(cast_lines(out))
    wait_for(lambda: settled(database.engine, cast), "every cast settles")
    assert_consistent(database.engine)
    found = instances(database.engine)
    print(f"heartbeats {heartbeats_after:.1f} s after the kill; boots: "
          f"{[r[0] for r in results]} {[r[2] for r in results if r[0]]}; "
          f"instances: {sorted(r.vm_state for r in found.values())}")
    assert {r.vm_state for r in found.values()} <= {"active", "error"}, (
        {u: r.vm_state for u, r in found.items()})


def test_agent_killed_before_taking_its_build(tmp_path, database, ctx,
                                              rabbitmq_url, services):
    """The agent is frozen (SIGSTOP) when its build is cast, then killed:
    the cast stays in its host's queue (oslo.messaging's queues outlive
    their consumers) while the conductor reschedules the build elsewhere.
    The agent started again takes that stale cast and drops it: the
    instance stays ACTIVE on its alternate, built once."""
    cloud = start_cloud(services, database, ctx, rabbitmq_url, {
        "g-dead": ("8,32768,100", None), "g-ok": ("8,16384,100", None)},
        # longer than the boot command takes: g-dead is still up for it
        service_down_time=SLOW_DOWN_TIME_S)
    cloud["g-dead"].process.send_signal(signal.SIGSTOP)
    code, out, err = boot(tmp_path, cloud["g-ok"].conf_path)
    assert (code, err) == (0, "")
    [(uuid, host)] = cast_lines(out).items()
    assert host == "g-dead"
    cloud["g-dead"].kill()
    wait_for(lambda: settled(database.engine, [uuid]), "the build settles")
    assert instances(database.engine)[uuid].host == "g-ok"

    since = report_counts(ctx, ["g-dead"])
    again = start_agent(services, rabbitmq_url, "g-dead", "8,32768,100",
                        name="g-dead-again",
                        service_down_time=SLOW_DOWN_TIME_S)
    wait_heartbeats(ctx, ["g-dead"], 2, since)
    again.wait_for_log(f"build of instance {uuid} on node g-dead-node1 "
                       f"dropped")
    row = instances(database.engine)[uuid]
    assert (row.vm_state, row.host) == ("active", "g-ok")
    assert_consistent(database.engine)


def queued(vhost, prefix):
    """Messages (ready and unacknowledged) in the vhost's queues named
    ``prefix``..."""
    done = subprocess.run(
        ["rabbitmqctl", "list_queues", "-q", "-p", vhost, "name",
         "messages"], capture_output=True, text=True, timeout=60,
        check=True)
    return sum(int(parts[1]) for parts in map(str.split,
                                              done.stdout.splitlines())
               if len(parts) == 2 and parts[0].startswith(prefix)
               and parts[1].isdigit())


def test_conductor_killed_while_the_scheduler_claims(
        tmp_path, database, ctx, rabbitmq_url, rabbitmq_vhost, services):
    """The build a conductor dies with: the conductor took boot's call
    (acknowledged on arrival) and waits for the scheduler when it is
    SIGKILLed; the scheduler (frozen until then) still claims the node
    and writes the instance BUILDING, and replies to no one. boot fails
    in one line, and no conductor will ever cast the build: another
    conductor's build sweep finds it once it is lost (build_sweep.
    lost_after the claim), ends it in ERROR with a fault saying why and
    gives its claim back."""
    cloud = start_cloud(services, database, ctx, rabbitmq_url,
                        {"h-1": ("8,16384,100", None)})
    cloud["scheduler"].process.send_signal(signal.SIGSTOP)
    booting = subprocess.Popen(
        [sys.executable, "-c", LAUNCH, "--config-file",
         str(cloud["h-1"].conf_path), "boot", "--flavor", "2,1024,10"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, stdin=subprocess.DEVNULL)
    wait_for(lambda: queued(rabbitmq_vhost, "scheduler") >= 1,
             "the conductor's select_destinations in the scheduler's queue")
    cloud["conductor0"].kill()
    cloud["scheduler"].process.send_signal(signal.SIGCONT)
    out, err = booting.communicate(timeout=120)
    assert (booting.returncode, out) == (1, "")
    assert err == (f"hoststate: no answer within rpc_response_timeout "
                   f"({RPC_TIMEOUT_S} s); check that a conductor and a "
                   f"scheduler are running on [DEFAULT] transport_url\n")

    survivor = services("conductor-survivor", rabbitmq_url,
                        ["conductor", "--workers", "1"], database.url,
                        rpc_response_timeout=RPC_TIMEOUT_S)
    survivor.wait_for_log("conductor serving")
    wait_for(lambda: len(instances(database.engine)) == 1,
             "the scheduler's claim")
    [uuid] = instances(database.engine)
    claimed = time.monotonic()
    wait_for(lambda: settled(database.engine, [uuid]),
             "the sweep ends the lost build")
    ended_after = time.monotonic() - claimed
    row = instances(database.engine)[uuid]
    assert (row.vm_state, row.task_state, row.host) == ("error", None, None)
    lost_s = 2 * RPC_TIMEOUT_S + DEFAULTS["service_down_time"] \
        + DEFAULTS["report_interval"]           # build_sweep.lost_after
    assert instance_faults.latest_reasons(ctx, [uuid]) == {uuid: [
        f"h-1/h-1-node1: no agent took the build within {lost_s} s (its "
        f"cast was lost)"]}
    assert f"instance {uuid} is ERROR: build lost" in survivor.log
    assert_consistent(database.engine)      # its claim given back
    print(f"lost build ended {ended_after:.1f} s after the claim was seen")
