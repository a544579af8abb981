"""The scheduler as a service on the bus: select_destinations and
release_claim over the in-process bus and over RabbitMQ, against a real
database (SQLite and PostgreSQL); then ``hoststate scheduler`` itself, a
process started from a config file, its workers, SIGHUP and SIGTERM."""
import contextlib
import signal
import subprocess
import sys
import textwrap
import threading
import time
import uuid

import oslo_messaging as messaging
import psutil
import pytest
from oslo_config import cfg

from hoststate import conf as hconf
from hoststate import context as hs_context
from hoststate import exception
from hoststate import rpc
from hoststate.objects import flavor as flavor_obj
from hoststate.objects import request_spec
from hoststate.resource_tracker import agent as agent_mod
from hoststate.resource_tracker import fake_driver
from hoststate.scheduler import host_manager
from hoststate.scheduler import manager as manager_mod
from hoststate.scheduler import rpc_server
from hoststate.scheduler import rpcapi
from support import databases

SEED = 11
#: the fields of a Selection that say where (the chosen one's
#: allocation_request also names the generation its claim wrote)
WHERE = ("service_host", "nodename", "compute_node_uuid", "cell_uuid",
         "availability_zone")

#: the databases these tests run on
ON_DATABASES = pytest.mark.parametrize(
    "empty_database", ["sqlite", "postgresql"], indirect=True)


def make_conf(transport_url=None):
    conf = hconf.load([], conf=cfg.ConfigOpts(), use_env=False)
    conf.set_override("enabled_filters", [
        "ComputeFilter", "RamFilter", "CoreFilter", "DiskFilter"],
        group="filter_scheduler")
    conf.set_override("host_subset_size", 2, group="filter_scheduler")
    if transport_url:
        conf.set_override("transport_url", transport_url)
    return conf


@contextlib.contextmanager
def scheduler_cap(conf, value):
    """``[upgrade_levels] scheduler = value`` within the block. Cleared
    after: that group's overrides are seen by every ConfigOpts of the
    process (conf/rpc.py registers its module-level OptGroup itself,
    whose option table oslo.config's register_group shares)."""
    conf.set_override("scheduler", value, group="upgrade_levels")
    try:
        yield conf
    finally:
        conf.clear_override("scheduler", group="upgrade_levels")


def flavor(memory_mb=2048, vcpus=1, root_gb=10):
    return flavor_obj.Flavor(id=1, flavorid="f", name="f", vcpus=vcpus,
                             memory_mb=memory_mb, root_gb=root_gb,
                             ephemeral_gb=0, swap=0, extra_specs={})


def spec_for(flavor_, count=1):
    return request_spec.RequestSpec.from_components(
        str(uuid.uuid4()), flavor_, image={"id": str(uuid.uuid4())},
        project_id="p1", user_id="u1", num_instances=count)


def start_agents(ctx, hosts=("h1", "h2"), nodes=2, memory_mb=8192):
    for host in hosts:
        agent_mod.ComputeAgent(ctx, fake_driver.FakeDriver.uniform(
            nodes, prefix=f"{host}-n", vcpus=8, memory_mb=memory_mb,
            local_gb=100), host=host).start()


def where(selections):
    return [[tuple(getattr(s, f) for f in WHERE) + (s.limits.obj_to_primitive(),)
             for s in alternates] for alternates in selections]


@pytest.fixture(params=["local", "rabbit"])
def transport(request):
    if request.param == "local":
        return None
    return request.getfixturevalue("rabbitmq_url")


@pytest.fixture
def service(ctx, transport):
    """(SchedulerAPI, the conf) of a scheduler server on the bus, its
    HostManager loaded from ``ctx``'s database (agents started first)."""
    start_agents(ctx)
    conf = make_conf(transport)
    scheduler = rpc_server.build_scheduler(conf, ctx, seed=SEED)
    server = rpc_server.build_server(conf, ctx, scheduler=scheduler,
                                     server="sched-test")
    server.start()
    try:
        yield rpcapi.SchedulerAPI(conf), conf
    finally:
        server.stop()
        server.wait()
        rpc.cleanup()


def caller():
    """The caller's context: it carries no database to the server."""
    return hs_context.RequestContext(user_id="conductor", engine=None)


def in_memory_scheduler(ctx, conf):
    """The same decisions in process, claiming in the table only."""
    manager = host_manager.HostManager(ctx, conf=conf)
    return manager_mod.Scheduler(manager.load(), conf=conf, seed=SEED,
                                 claim_in_database=False)


@ON_DATABASES
def test_select_gives_the_selections_of_the_in_process_call(ctx, service):
    api, conf = service
    spec, uuids = spec_for(flavor(), 3), [str(uuid.uuid4()) for _ in "abc"]
    expected = in_memory_scheduler(ctx, conf).select_destinations(
        spec, uuids)
    got = api.select_destinations(caller(), spec, uuids)
    assert where(got) == where(expected)
    # each chosen one (first of its list) is claimed; alternates are not
    assert [s.allocation_request is not None for alt in got for s in alt] \
        == [i == 0 for alt in got for i in range(len(alt))]
    # an alternate is never a node chosen for the request: of the four
    # nodes, one is left to be the alternate of each
    assert [len(alt) for alt in got] == [2, 2, 2]
    assert all(isinstance(s, type(expected[0][0])) for alt in got
               for s in alt)


@ON_DATABASES
def test_no_valid_host_comes_back_with_its_reasons(ctx, service):
    api, conf = service
    # 6000 MiB fits once per node (8192 less 512 reserved); with h2's two
    # nodes ignored, h1's two hold two instances: the third fails after
    # two claims
    spec = spec_for(flavor(6000), 3)
    spec.ignore_hosts = ["h2"]
    uuids = [str(uuid.uuid4()) for _ in range(3)]
    with pytest.raises(exception.NoValidHost) as in_process:
        in_memory_scheduler(ctx, conf).select_destinations(spec, uuids)
    before = databases.snapshot(ctx.engine)
    with pytest.raises(exception.NoValidHost) as raised:
        api.select_destinations(caller(), spec, uuids)
    error = raised.value
    assert type(error) is exception.NoValidHost
    # the third instance is filtered among the hosts that passed for the
    # second (h1's node it did not take)
    assert error.reasons == [str(r) for r in in_process.value.reasons] == [
        "RamFilter removed 1 of 1 hosts (memory_mb: requested 6000 MiB, "
        "at most 1680 MiB free)"]
    assert str(error) == "No valid host was found. " + "; ".join(
        error.reasons)
    # and nothing of the request is left in any table
    assert databases.snapshot(ctx.engine) == before


@ON_DATABASES
def test_a_released_claim_gives_everything_back(ctx, service):
    api, _ = service
    before = databases.snapshot(ctx.engine)
    instance = str(uuid.uuid4())
    [[chosen, *_]] = api.select_destinations(caller(), spec_for(flavor()),
                                             [instance])
    assert databases.snapshot(ctx.engine) != before
    api.release_claim(caller(), chosen, instance)
    after = databases.snapshot(ctx.engine)
    assert _usage(after) == _usage(before)


def _usage(snapshot):
    """compute_nodes rows without their generation and update times."""
    from hoststate.db import schema
    columns = [c.name for c in schema.compute_nodes.columns]
    kept = [i for i, name in enumerate(columns)
            if name not in ("generation", "updated_at")]
    return [tuple(row[i] for i in kept) for row in snapshot["compute_nodes"]]


@ON_DATABASES
def test_calls_at_once_are_served_one_at_a_time(ctx, service):
    api, _ = service
    callers = 8
    start = threading.Barrier(callers)
    results, errors = [], []

    def place():
        start.wait(30)
        try:
            results.append(api.select_destinations(
                caller(), spec_for(flavor()), [str(uuid.uuid4())],
                return_alternates=False))
        except Exception as exc:   # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=place) for _ in range(callers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    # 4 nodes of 7680 MiB usable: 8 instances of 2048 MiB go 2 per node
    # (RAM spread), whatever the order the calls were served in
    placed = [r[0][0].nodename for r in results]
    assert sorted(placed.count(n) for n in set(placed)) == [2, 2, 2, 2]


def test_a_version_cap_below_a_call_refuses_to_send_it(transport):
    with scheduler_cap(make_conf(transport), "0.9") as conf:
        api = rpcapi.SchedulerAPI(conf)
        try:
            with pytest.raises(messaging.RPCVersionCapError):
                api.select_destinations(caller(), spec_for(flavor()),
                                        [str(uuid.uuid4())])
            assert not api.client.can_send_version("1.0")
        finally:
            rpc.cleanup()


@pytest.mark.parametrize("cap,sent", [(None, None), ("auto", None),
                                      ("1.0", "1.0")])
def test_auto_means_no_cap_for_now(cap, sent):
    with scheduler_cap(make_conf(), cap) as conf:
        assert rpcapi.version_cap(conf) == sent


# --- ``hoststate scheduler``, the process -----------------------------------

#: the command, as the installed entry point runs it
LAUNCH = ("import sys; from hoststate.cli.main import main; "
          "sys.exit(main(sys.argv[1:]))")
#: generous waits for a busy machine (nothing asserts a duration but the
#: stop's, which the brief bounds)
START_TIMEOUT_S = 120
STOP_TIMEOUT_S = 10
ON_SQLITE = pytest.mark.parametrize("empty_database", ["sqlite"],
                                    indirect=True)


class SchedulerProcess:
    """One ``hoststate --config-file FILE scheduler ...`` process logging
    to its ``log_file``."""

    def __init__(self, tmp_path, url, database_url, *argv, debug=False):
        self.conf_path = tmp_path / "nova.conf"
        self.log_path = tmp_path / "scheduler.log"
        self.url, self.database_url = url, database_url
        self.write_conf(debug=debug)
        self.stderr_path = tmp_path / "scheduler.err"
        with open(self.stderr_path, "wb") as err:
            self.process = subprocess.Popen(
                [sys.executable, "-c", LAUNCH, "--config-file",
                 str(self.conf_path), "scheduler", *argv], cwd=tmp_path,
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=err)

    def write_conf(self, debug):
        self.conf_path.write_text(textwrap.dedent(f"""\
            [DEFAULT]
            transport_url = {self.url}
            long_rpc_timeout = 60
            debug = {str(debug).lower()}
            log_file = {self.log_path}
            [database]
            connection = {self.database_url}
            """))

    @property
    def log(self):
        return self.log_path.read_text() if self.log_path.exists() else ""

    def wait_for_log(self, text, count=1):
        """The log lines holding ``text``, once there are ``count``."""
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            lines = [line for line in self.log.splitlines() if text in line]
            if len(lines) >= count:
                return lines
            if self.process.poll() is not None:
                pytest.fail(f"scheduler exited with {self.process.returncode}"
                            f" before logging {text!r}:\n{self.log}"
                            f"{self.stderr_path.read_text()}")
            time.sleep(0.1)
        pytest.fail(f"scheduler did not log {text!r}:\n{self.log}")

    def stop(self, signum=signal.SIGTERM):
        self.process.send_signal(signum)
        return self.process.wait(STOP_TIMEOUT_S)

    def kill(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def scheduler_process(tmp_path, database, rabbitmq_url):
    """``scheduler_process(*argv)`` starts ``hoststate scheduler`` on the
    test's database and the session's vhost; killed after if still up."""
    started = []

    def start(*argv, debug=False):
        started.append(SchedulerProcess(tmp_path, rabbitmq_url, database.url,
                                        *argv, debug=debug))
        return started[-1]

    yield start
    for each in started:
        each.kill()


@pytest.fixture
def client_api(rabbitmq_url):
    conf = make_conf(rabbitmq_url)
    conf.set_override("long_rpc_timeout", 60)
    yield rpcapi.SchedulerAPI(conf)
    rpc.cleanup()


def place_one(api):
    [[chosen, *_]] = api.select_destinations(caller(), spec_for(flavor()),
                                             [str(uuid.uuid4())])
    return chosen


@pytest.mark.slow
@ON_SQLITE
def test_the_command_serves_until_sigterm(ctx, scheduler_process,
                                          client_api):
    start_agents(ctx)
    process = scheduler_process("--workers", "1")
    [line] = process.wait_for_log("scheduler serving")
    assert f"(pid {process.process.pid})" in line
    chosen = place_one(client_api)
    assert chosen.service_host in ("h1", "h2")
    assert process.stop() == 0
    assert process.log.splitlines()[-1].endswith(
        f"scheduler (pid {process.process.pid}) stopped")


@pytest.mark.slow
@ON_SQLITE
def test_two_workers_serve_and_both_stop(ctx, scheduler_process,
                                         client_api):
    start_agents(ctx)
    process = scheduler_process("--workers", "2", debug=True)
    lines = process.wait_for_log("scheduler serving", count=2)
    pids = {int(line.rsplit("(pid ", 1)[1].rstrip(")")) for line in lines}
    parent = psutil.Process(process.process.pid)
    assert {child.pid for child in parent.children()} == pids
    assert len(pids) == 2
    for _ in range(4):
        place_one(client_api)
    # the broker hands the calls to the two consumers of the topic's
    # queue in turn; oslo.log's lines carry the process id
    served = process.wait_for_log("select_destinations: 1 instance(s)",
                                  count=4)
    assert {int(line.split()[2]) for line in served} == pids
    assert process.stop() == 0
    assert not any(psutil.pid_exists(pid) and
                   psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
                   for pid in pids)
    for pid in pids:
        assert f"scheduler (pid {pid}) stopped" in process.log


@pytest.mark.slow
@ON_SQLITE
def test_sighup_rereads_the_config_file(ctx, scheduler_process, client_api):
    start_agents(ctx)
    process = scheduler_process("--workers", "1")
    process.wait_for_log("scheduler serving")
    place_one(client_api)
    assert " DEBUG " not in process.log
    process.write_conf(debug=True)
    process.process.send_signal(signal.SIGHUP)
    process.wait_for_log("configuration reloaded: 1 option(s) changed")
    place_one(client_api)
    [line] = process.wait_for_log("select_destinations: 1 instance(s)")
    assert " DEBUG hoststate.scheduler.rpc_server " in line
    assert process.stop() == 0


@ON_SQLITE
def test_the_in_process_bus_is_refused(tmp_path, database):
    conf_path = tmp_path / "nova.conf"
    conf_path.write_text(f"[database]\nconnection = {database.url}\n")
    done = subprocess.run(
        [sys.executable, "-c", LAUNCH, "--config-file", str(conf_path),
         "scheduler"], capture_output=True, text=True,
        timeout=START_TIMEOUT_S, stdin=subprocess.DEVNULL)
    assert (done.returncode, done.stderr) == (2, (
        "hoststate: configuration error: Invalid value None for option "
        "[DEFAULT] transport_url: "
        "the scheduler service needs a message broker (rabbit://...): on "
        "the in-process bus no other process can reach it\n"))


@pytest.mark.parametrize("argv,message", [
    (["--workers", "0"], "--workers must be an integer from 1 to 1,024, "
                         "not '0'"),
    (["--workers", "x"], "--workers must be an integer from 1 to 1,024, "
                         "not 'x'"),
])
def test_bad_arguments_are_usage_errors(capsys, argv, message):
    from hoststate.cli import main as cmd_main
    with pytest.raises(SystemExit) as stopped:
        cmd_main.main(["scheduler", *argv])
    assert stopped.value.code == 2
    assert capsys.readouterr().err == (
        f"hoststate scheduler: {message}; see hoststate scheduler --help\n")


@pytest.mark.parametrize("given,configured,cpus,expected", [
    (3, 5, 8, 3), (None, 5, 8, 5), (None, None, 8, 8), (None, 0, 8, 8),
    (None, None, None, 1)])
def test_workers_default_to_the_option_then_the_cpus(
        monkeypatch, given, configured, cpus, expected):
    from hoststate.cli import scheduler_command, service_process
    import argparse
    conf = make_conf()
    conf.set_override("workers", configured, group="scheduler")
    monkeypatch.setattr(service_process.os, "cpu_count", lambda: cpus)
    assert scheduler_command.workers_of(
        argparse.Namespace(workers=given), conf) == expected
