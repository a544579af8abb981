"""A small cloud for the operator views (host-*, service-list,
hypervisor-*), built the way a real one is: compute agents on fake
drivers, instances claimed on their nodes.

    host       service         nodes            zone      liveness
    compute-1  nova-compute    node-1           nova      up
    compute-2  nova-compute    node-2a, node-2b az1       forced down,
                                                          disabled
    compute-3  nova-compute    node-3           az1,az2   stale heartbeat
    compute-4  (deleted)       node-4           -         -
    sched-1    nova-scheduler  -                internal  up

Instances (flavor sizes vcpus/MiB/GiB root+ephemeral):
compute-1: p1 small (2/4096/20), p1 medium (4/8192/40+10), p2 small, and a
deleted p3 small that counts nowhere; compute-2: one small without a
project on node-2b. Every service's updated_at is UPDATED_AT.
"""
import datetime
import socket
import uuid

import pytest
import sqlalchemy as sa

from hoststate import conf as hs_conf
from hoststate.cli import main as cmd_main
from hoststate.db import api as db_api
from hoststate.db import schema
from hoststate.objects import flavor as flavor_obj
from hoststate.objects import instance as instance_obj
from hoststate.objects import service as service_obj
from hoststate.resource_tracker import agent as agent_mod
from hoststate.resource_tracker import fake_driver

from support import cloud

UPDATED_AT = datetime.datetime(2024, 5, 1, 12, 0, 0)
MY_IP = "192.0.2.10"
#: node uuids, fixed so that outputs can be compared whole
NODE_UUIDS = {name: str(uuid.uuid5(fake_driver.FAKE_NODE_NAMESPACE, name))
              for name in ("node-1", "node-2a", "node-2b", "node-3",
                           "node-4")}
CPU_INFO = '{"arch": "x86_64", "vendor": "Intel"}'

SMALL = dict(vcpus=2, memory_mb=4096, root_gb=20, ephemeral_gb=0)
MEDIUM = dict(vcpus=4, memory_mb=8192, root_gb=40, ephemeral_gb=10)


def start_agent(ctx, host, nodes, **inventory):
    """A compute agent of ``host`` whose driver reports ``nodes``."""
    shape = dict(vcpus=16, memory_mb=65536, local_gb=500, cpu_info=CPU_INFO)
    shape.update(inventory)
    driver = fake_driver.FakeDriver({name: fake_driver.NodeInventory(
        uuid=NODE_UUIDS[name], **shape) for name in nodes})
    agent = agent_mod.ComputeAgent(ctx, driver, host=host)
    assert agent.start() == {}
    return agent


def make_instance(ctx, project_id, sizes, **fields):
    flavor = flavor_obj.Flavor(id=1, flavorid="f", name="f", **sizes)
    instance = instance_obj.Instance(
        ctx, uuid=str(uuid.uuid4()), project_id=project_id, user_id="u1",
        vm_state="building", image_ref="image-1", flavor=flavor, **sizes,
        **fields)
    instance.create()
    return instance


def claim(agent, nodename, project_id, sizes):
    instance = make_instance(agent.context, project_id, sizes)
    with agent.instance_claim(instance, nodename):
        pass
    return instance


def set_service(engine, host, **values):
    """Change a service row behind the objects' back (test set-up only)."""
    table = schema.services
    with engine.begin() as conn:
        conn.execute(sa.update(table).where(table.c.host == host,
                                            table.c.deleted == 0)
                     .values(**values))


def build(ctx, engine):
    """The cloud of the module docstring."""
    first = start_agent(ctx, "compute-1", ["node-1"])
    claim(first, "node-1", "p1", SMALL)
    claim(first, "node-1", "p1", MEDIUM)
    claim(first, "node-1", "p2", SMALL)
    make_instance(ctx, "p3", SMALL, host="compute-1",
                  node="node-1").destroy()
    second = start_agent(ctx, "compute-2", ["node-2a", "node-2b"],
                         vcpus=8, memory_mb=32768, local_gb=200)
    claim(second, "node-2b", None, SMALL)
    start_agent(ctx, "compute-3", ["node-3"], vcpus=4, memory_mb=8192,
                local_gb=100, disk_available_least=90)
    gone = start_agent(ctx, "compute-4", ["node-4"])
    gone.service.destroy()
    service_obj.Service(ctx, host="sched-1", binary="nova-scheduler",
                        topic="scheduler").create()
    cloud.add_aggregate(engine, "fast", ["compute-2", "compute-3"],
                        {"availability_zone": "az1"})
    cloud.add_aggregate(engine, "west", ["compute-3"],
                        {"availability_zone": "az2"})
    cloud.add_aggregate(engine, "ssd", ["compute-1"], {"ssd": "true"})
    now = db_api.server_utcnow()
    for host in ("compute-1", "compute-2", "sched-1"):
        set_service(engine, host, last_seen_up=now)
    set_service(engine, "compute-2", forced_down=True, disabled=True,
                disabled_reason="maintenance window")
    set_service(engine, "compute-3", last_seen_up=db_api.utcnow()
                - datetime.timedelta(hours=2))
    for host in ("compute-1", "compute-2", "compute-3", "sched-1"):
        set_service(engine, host, updated_at=UPDATED_AT)


# --- fixtures and helpers of the view tests ----------------------------------

#: The view tests run on these backends.
BACKENDS = pytest.mark.parametrize("empty_database", ["sqlite", "postgresql"],
                                   indirect=True)
SETTINGS = dict(reserved_host_memory_mb=0, reserved_host_disk_mb=0,
                reserved_host_cpus=0, my_ip=MY_IP)


@pytest.fixture
def settings():
    """No reserved resources and a fixed my_ip while the cloud is built;
    the global CONF the commands load back to its defaults afterwards."""
    for name, value in SETTINGS.items():
        hs_conf.CONF.set_override(name, value)
    yield
    for name in SETTINGS:
        hs_conf.CONF.clear_override(name)
    hs_conf.load(args=[], config_files=[])


@pytest.fixture
def views(settings, database, ctx):
    """The database of the cloud above."""
    build(ctx, database.engine)
    return database


def run(capsys, database, *argv, config=None, tmp_path=None):
    """``hoststate --database-url URL [--config-file F] ARGV``: (exit code,
    stdout, stderr). ``config`` is the text of a nova.conf for the run."""
    options = ["--database-url", database.url]
    if config is not None:
        path = tmp_path / "nova.conf"
        path.write_text(config)
        options += ["--config-file", str(path)]
    code = cmd_main.main(options + list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def usage_error(capsys, database, *argv):
    """The stderr of a run that argparse stops with exit status 2."""
    with pytest.raises(SystemExit) as stopped:
        cmd_main.main(["--database-url", database.url, *argv])
    assert stopped.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    return captured.err


def closed_port():
    """A loopback port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def unreachable_memcached_conf():
    return (f"[DEFAULT]\nservicegroup_driver = mc\n"
            f"memcached_servers = 127.0.0.1:{closed_port()}\n")
