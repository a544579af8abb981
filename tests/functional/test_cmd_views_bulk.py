"""``hoststate service-list`` and ``hypervisor-list`` as read in bulk
(columns straight from the queries, one liveness call, printed a column at
a time), on every backend, against a cloud of awkward values:

    host           zone aggregates   service                 heartbeat
    compute00000   az1 twice         enabled, updated_at     now
                                     with microseconds
    compute00001   az1 and az2       disabled (a reason with  2 hours ago
                                     a comma, quotes, ☃),
                                     updated_at missing
    compute00002   none              forced down              now
    compute00003   az2               enabled                  now
    compute00004   -                 deleted (its node stays) -
    sched-1        -                 nova-scheduler           now

Every compute host has one node of hypervisor_type QEMU.
"""
import datetime
import json
import uuid

import pytest
import sqlalchemy as sa

from hoststate.db import api as db_api
from hoststate.db import schema

from support import cloud
from support.view_cloud import run, set_service, settings  # noqa: F401

REASON = 'rack 7, "cold" ☃'
MICRO = datetime.datetime(2024, 5, 1, 12, 0, 0, 123456)
WHOLE = datetime.datetime(2024, 5, 1, 12, 0, 0)


def _build(engine):
    hosts = cloud.populate(engine, [{}] * 5)
    cloud.add_aggregate(engine, "a", hosts[:2], {"availability_zone": "az1"})
    cloud.add_aggregate(engine, "b", hosts[:1], {"availability_zone": "az1"})
    cloud.add_aggregate(engine, "c", [hosts[1], hosts[3]],
                        {"availability_zone": "az2"})
    with engine.begin() as conn:
        conn.execute(sa.insert(schema.services).values(
            uuid=str(uuid.uuid4()), host="sched-1", binary="nova-scheduler",
            topic="scheduler", created_at=db_api.utcnow()))
        now = conn.execute(sa.select(db_api.server_utcnow())).scalar()
    for host in (*hosts, "sched-1"):
        set_service(engine, host, last_seen_up=now, updated_at=WHOLE)
    set_service(engine, hosts[0], updated_at=MICRO)
    set_service(engine, hosts[1], disabled=True, disabled_reason=REASON,
                updated_at=None,
                last_seen_up=now - datetime.timedelta(hours=2))
    set_service(engine, hosts[2], forced_down=True)
    return hosts


@pytest.fixture
def bulk_cloud(settings, database):  # noqa: F811
    hosts = _build(database.engine)
    return database, hosts


def _delete_service(engine, host):
    table = schema.services
    with engine.begin() as conn:
        conn.execute(sa.update(table).where(table.c.host == host)
                     .values(deleted=table.c.id))


def test_service_list_table(capsys, bulk_cloud):
    database, hosts = bulk_cloud
    _delete_service(database.engine, hosts[4])
    code, out, err = run(capsys, database, "service-list")
    assert (code, err) == (0, "")
    assert out == (
        "id  binary          host          zone      status    state  "
        "updated_at           disabled_reason   forced_down\n"
        "1   nova-compute    compute00000  az1       enabled   up     "
        "2024-05-01T12:00:00  -                 False\n"
        "2   nova-compute    compute00001  az1,az2   disabled  down   "
        f"-                    {REASON}  False\n"
        "3   nova-compute    compute00002  nova      enabled   down   "
        "2024-05-01T12:00:00  -                 True\n"
        "4   nova-compute    compute00003  az2       enabled   up     "
        "2024-05-01T12:00:00  -                 False\n"
        "6   nova-scheduler  sched-1       internal  enabled   up     "
        "2024-05-01T12:00:00  -                 False\n")


def test_service_list_json_and_csv_keep_microseconds(capsys, bulk_cloud):
    database, _ = bulk_cloud
    code, out, _ = run(capsys, database, "service-list", "-f", "json",
                       "-c", "id", "-c", "updated_at", "-c",
                       "disabled_reason", "-c", "forced_down",
                       "--sort-column", "updated_at")
    assert code == 0
    # times sort as their text (the shorter one first), the missing one
    # last
    assert out == json.dumps([
        *(dict(id=i, updated_at="2024-05-01T12:00:00", disabled_reason=None,
               forced_down=i == 3) for i in (3, 4, 5, 6)),
        dict(id=1, updated_at="2024-05-01T12:00:00.123456",
             disabled_reason=None, forced_down=False),
        dict(id=2, updated_at=None, disabled_reason=REASON,
             forced_down=False)], indent=2) + "\n"
    code, out, _ = run(capsys, database, "service-list", "-f", "csv",
                       "-c", "id", "-c", "updated_at", "-c",
                       "disabled_reason", "--host", "compute00001")
    assert (code, out) == (0, '"id","updated_at","disabled_reason"\n'
                              '2,"","rack 7, ""cold"" ☃"\n')


def test_hypervisor_list_of_nodes_that_all_have_a_service(capsys,
                                                          bulk_cloud):
    database, _ = bulk_cloud
    assert run(capsys, database, "hypervisor-list") == (0, (
        "id  hypervisor_hostname  state  status    host          "
        "hypervisor_type\n"
        "1   compute00000         up     enabled   compute00000  QEMU\n"
        "2   compute00001         down   disabled  compute00001  QEMU\n"
        "3   compute00002         down   enabled   compute00002  QEMU\n"
        "4   compute00003         up     enabled   compute00003  QEMU\n"
        "5   compute00004         up     enabled   compute00004  QEMU\n"),
        "")


def test_hypervisor_list_leaves_out_the_node_of_a_deleted_service(
        capsys, bulk_cloud):
    database, hosts = bulk_cloud
    _delete_service(database.engine, hosts[4])
    code, out, err = run(capsys, database, "hypervisor-list", "-f",
                         "value", "--sort-column", "state",
                         "--sort-descending")
    assert (code, err) == (0, "")
    assert out == ("1 compute00000 up enabled compute00000 QEMU\n"
                   "4 compute00003 up enabled compute00003 QEMU\n"
                   "2 compute00001 down disabled compute00001 QEMU\n"
                   "3 compute00002 down enabled compute00002 QEMU\n")
