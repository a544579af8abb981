"""What the operator views show, read from the database in bulk.

The queries behind ``hoststate host-list``, ``host-describe``,
``service-list``, ``hypervisor-list``, ``hypervisor-show`` and
``hypervisor-stats`` (Nova's os-hosts, os-services and os-hypervisors),
usable without the command line: each function takes an admin context (and
the loaded configuration where liveness or zones are involved) and returns
plain dataclasses (the listings that grow with the cloud, service-list and
hypervisor-list, as a :class:`~hoststate.cli.columns.Columns` of them);
rendering is :mod:`hoststate.cli.output`'s business.

Every listing is a fixed, small number of queries whatever the size of the
cloud (an operator may have 100,000 nodes), plus one bulk liveness call.

Conventions shared by all views:

* A *compute service* is a live ``services`` row with binary
  ``nova-compute``; a node belongs to the compute service of its ``host``
  (as Nova's os-hypervisors finds it), and a node without one is not a
  hypervisor (Nova skips it too: its service was deleted).
* A compute host's zone is the ``availability_zone`` metadata of its
  aggregates, sorted and joined with "," when several, else
  ``[DEFAULT] default_availability_zone``; other services are in
  :data:`INTERNAL_ZONE`.
* ``state`` is ``up``/``down`` from the configured servicegroup driver;
  ``forced_down`` is always down; when the liveness backend cannot be
  reached it is ``unknown`` and the result carries a warning instead of
  failing the whole view.
"""
import dataclasses
import datetime
import os

import sqlalchemy as sa

from hoststate import conf as hs_conf
from hoststate import exception
from hoststate.cli import columns
from hoststate.cli import common
from hoststate.db import api as db_api
from hoststate.db import engine as db_engine
from hoststate.db import schema

#: Zone of every service that is not a compute service (Nova's default
#: ``internal_service_availability_zone``).
INTERNAL_ZONE = "internal"
#: Nova's names, from the schema: the views read rows without importing
#: the versioned objects, whose import (oslo.messaging and all behind it)
#: would double a view's start.
COMPUTE_BINARY = schema.COMPUTE_BINARY
AZ_KEY = schema.AZ_KEY
UP, DOWN, UNKNOWN = "up", "down", "unknown"
ENABLED, DISABLED = "enabled", "disabled"

_SERVICES = schema.services
_NODES = schema.compute_nodes
_INSTANCES = schema.instances
#: Largest id an INTEGER column holds; a bigger number cannot be a node id
#: (and PostgreSQL would reject the comparison).
MAX_ID = 2 ** 31 - 1
#: What the liveness drivers read of a service: the db driver its id, the
#: others its topic (or binary) and host; forced_down is down unasked.
LIVENESS_FIELDS = ("id", "host", "topic", "binary", "forced_down")
#: The services columns service-list reads.
_LISTED_SERVICE_COLUMNS = ("id", "binary", "host", "topic", "disabled",
                           "updated_at", "disabled_reason", "forced_down")


class SchemaMissing(exception.DBError):
    msg_fmt = "database %(url)s %(reason)s; run hoststate db sync"


class HostNotFound(exception.NotFound):
    msg_fmt = "host %(host)s not found"


class ComputeServiceNotFound(HostNotFound):
    msg_fmt = "host %(host)s has no nova-compute service"


class HypervisorNotFound(exception.NotFound):
    msg_fmt = "hypervisor %(node)s not found%(detail)s"

    def __init__(self, node, detail=""):
        super().__init__(node=node, detail=detail)


class HypervisorAmbiguous(exception.HoststateError, LookupError):
    msg_fmt = ("hypervisor %(node)s matches nodes %(ids)s; give the id or "
               "uuid of one")


@dataclasses.dataclass(frozen=True)
class Result:
    """Rows (or one record) and the warnings met while reading them."""

    value: object
    warnings: tuple = ()


@dataclasses.dataclass(frozen=True)
class HostRow:
    host_name: str
    service: str
    zone: str


@dataclasses.dataclass(frozen=True)
class HostResource:
    """One row of host-describe: ``project`` is ``(total)``, ``(used_now)``,
    ``(used_max)`` or a project id (None for instances without one)."""

    host: str
    project: str | None
    cpu: int
    memory_mb: int
    disk_gb: int


@dataclasses.dataclass(frozen=True)
class ServiceRow:
    id: int
    binary: str
    host: str
    zone: str
    status: str
    state: str
    updated_at: datetime.datetime | None
    disabled_reason: str | None
    forced_down: bool


# --- opening the database ------------------------------------------------

def connect(args):
    """For the commands: (loaded configuration, admin context on a database
    with the schema), from the global command-line options."""
    context = require_schema(common.admin_context(args))
    return hs_conf.CONF, context


def require_schema(context):
    """Return ``context`` once its database holds every hoststate table,
    so a fresh or outdated database says "run hoststate db sync" instead of
    failing on the first missing table; an SQLite file that does not exist
    is not created (as connecting would). A database that cannot be used
    is :class:`hoststate.db.engine.DatabaseUnavailable` saying why."""
    engine = db_api.engine_of(context)
    url = db_engine.shown(engine.url)
    db_engine.require_sqlite_directory(engine.url)
    if (engine.url.get_backend_name() == "sqlite"
            and not db_engine.is_sqlite_memory(engine.url)
            and not os.path.exists(engine.url.database)):
        raise SchemaMissing(url=url, reason="does not exist")
    try:
        with engine.connect() as conn:
            present = set(sa.inspect(conn).get_table_names())
    except (sa.exc.OperationalError, sa.exc.InterfaceError) as exc:
        raise db_engine.explain_error(exc, engine.url) from exc
    missing = sorted(set(schema.metadata.tables) - present)
    if len(missing) == len(schema.metadata.tables):
        raise SchemaMissing(url=url, reason="has no hoststate schema")
    if missing:
        raise SchemaMissing(url=url, reason="lacks table(s) "
                            + ", ".join(missing))
    return context


def read(context, query):
    """Every row of ``query``, from one connection."""
    with db_api.engine_of(context).connect() as conn:
        return conn.execute(query).all()


def read_columns(context, query):
    """{name: list of values} of each column ``query`` selects, in its
    order, from one connection: what a listing of many rows is built from
    without a mapping per row."""
    with db_api.engine_of(context).connect() as conn:
        result = conn.execute(query)
        names = list(result.keys())
        rows = result.all()
    return dict(zip(names, map(list, zip(*rows)) if rows else
                    ([] for _ in names)))


# --- zones and liveness --------------------------------------------------

def host_zones(context):
    """{host: "az1,az2"} of every host in an aggregate with a zone."""
    hosts, meta = schema.aggregate_hosts, schema.aggregate_metadata
    rows = read(context, sa.select(hosts.c.host, meta.c.value)
                .join(meta, meta.c.aggregate_id == hosts.c.aggregate_id)
                .where(meta.c.key == AZ_KEY))
    single = dict(rows)
    if len(single) == len(rows):    # no host in two zoned aggregates
        return single
    found = {}
    for host, zone in rows:
        found.setdefault(host, set()).add(zone)
    return {host: ",".join(sorted(zones)) for host, zones in found.items()}


def zone_of(service, zones, conf):
    """The zone a service is shown in (see the module docstring)."""
    return _zone(service["binary"], service["host"], zones,
                 conf.default_availability_zone)


def zones_of(binaries, hosts, zones, conf):
    """``zone_of`` each service, given as its binary and host columns."""
    default = conf.default_availability_zone
    return [_zone(binary, host, zones, default)
            for binary, host in zip(binaries, hosts)]


def _zone(binary, host, zones, default):
    if binary != COMPUTE_BINARY:
        return INTERNAL_ZONE
    return zones.get(host, default)


def service_states(context, conf, services):
    """``up``/``down``/``unknown`` of each service (mappings with at least
    LIVENESS_FIELDS), from one servicegroup call; returns (states,
    warnings)."""
    if not services:
        return [], ()
    from hoststate.servicegroup import api as sg_api   # only when asked
    try:
        api = sg_api.API(conf, context)
        try:
            answers = api.services_up(services)
        finally:
            api.stop()
    except exception.ServiceGroupUnavailable as exc:
        states = [DOWN if s["forced_down"] else UNKNOWN for s in services]
        return states, (f"{exc}; state shown as {UNKNOWN}",)
    return [UP if up else DOWN for up in answers], ()


def status_of(service):
    return status(service["disabled"])


def status(disabled):
    return DISABLED if disabled else ENABLED


def service_mappings(found, names=LIVENESS_FIELDS):
    """One {name: value} per row of columns ``found`` (as
    ``read_columns`` gives them); by default what ``service_states``
    asks about."""
    return [dict(zip(names, row))
            for row in zip(*(found[name] for name in names))]


def compute_services(context, hosts=None):
    """{host: service mapping} of the live compute services (of ``hosts``
    only, when given)."""
    query = sa.select(_SERVICES).where(
        _SERVICES.c.deleted == 0,
        _SERVICES.c.binary == COMPUTE_BINARY)
    if hosts is not None:
        query = query.where(_SERVICES.c.host.in_(sorted(set(hosts))))
    return {row.host: dict(row._mapping) for row in read(context, query)}


def compute_services_for_liveness(context):
    """{host: mapping of LIVENESS_FIELDS and ``disabled``} of every live
    compute service: only what a listing's state and status need."""
    names = LIVENESS_FIELDS + ("disabled",)
    found = read_columns(context, sa.select(
        *(_SERVICES.c[name] for name in names))
        .where(_SERVICES.c.deleted == 0,
               _SERVICES.c.binary == COMPUTE_BINARY))
    return dict(zip(found["host"], service_mappings(found, names)))


def compute_service(context, host):
    """The compute service of ``host``: HostNotFound when the host has no
    service at all, ComputeServiceNotFound when it has others only."""
    found = compute_services(context, [host]).get(host)
    if found is not None:
        return found
    if read(context, sa.select(_SERVICES.c.id).where(
            _SERVICES.c.deleted == 0, _SERVICES.c.host == host).limit(1)):
        raise ComputeServiceNotFound(host=host)
    raise HostNotFound(host=host)


# --- os-hosts ------------------------------------------------------------

def list_hosts(context, conf, zone=None):
    """One row per (host, service), sorted; ``zone`` keeps the hosts with
    that zone among theirs (an unknown zone gives no rows)."""
    services = read(context, sa.select(
        _SERVICES.c.host, _SERVICES.c.binary, _SERVICES.c.topic)
        .where(_SERVICES.c.deleted == 0))
    zones = host_zones(context)
    rows = [HostRow(host_name=s.host, service=s.topic or s.binary,
                    zone=zone_of(s._mapping, zones, conf)) for s in services]
    if zone is not None:
        rows = [row for row in rows if zone in row.zone.split(",")]
    return sorted(rows, key=lambda r: (r.host_name, r.service))


def describe_host(context, host):
    """Nova's os-hosts show: inventory, usage and instance sizes of ``host``.

    A host with a service but no node shows zero ``(total)`` and
    ``(used_now)``; a host with neither service nor node is HostNotFound.
    """
    sums = sa.func.coalesce
    nodes = read(context, sa.select(
        sa.func.count(), *(sums(sa.func.sum(_NODES.c[name]), 0) for name in (
            "vcpus", "memory_mb", "local_gb", "vcpus_used", "memory_mb_used",
            "local_gb_used")))
        .where(_NODES.c.deleted == 0, _NODES.c.host == host))[0]
    if not nodes[0] and not read(context, sa.select(_SERVICES.c.id).where(
            _SERVICES.c.deleted == 0, _SERVICES.c.host == host).limit(1)):
        raise HostNotFound(host=host)
    disk = sums(_INSTANCES.c.root_gb, 0) + sums(_INSTANCES.c.ephemeral_gb, 0)
    projects = read(context, sa.select(
        _INSTANCES.c.project_id, sa.func.sum(sums(_INSTANCES.c.vcpus, 0)),
        sa.func.sum(sums(_INSTANCES.c.memory_mb, 0)), sa.func.sum(disk))
        .where(_INSTANCES.c.deleted == 0, _INSTANCES.c.host == host)
        .group_by(_INSTANCES.c.project_id))
    projects = sorted(projects, key=lambda p: (p[0] is None, p[0] or ""))
    used_max = [sum(int(p[i]) for p in projects) for i in (1, 2, 3)]
    return [HostResource(host, "(total)", *map(int, nodes[1:4])),
            HostResource(host, "(used_now)", *map(int, nodes[4:7])),
            HostResource(host, "(used_max)", *used_max),
            *(HostResource(host, p[0], *map(int, p[1:])) for p in projects)]


# --- os-services ---------------------------------------------------------

def list_services(context, conf, host=None, binary=None):
    """Every live service (of ``host``, of ``binary``), sorted by id, with
    its liveness, as Columns of ServiceRow; a filter nothing matches gives
    no rows."""
    query = sa.select(*(_SERVICES.c[name] for name in
                        _LISTED_SERVICE_COLUMNS)).where(
        _SERVICES.c.deleted == 0)
    if host is not None:
        query = query.where(_SERVICES.c.host == host)
    if binary is not None:
        query = query.where(_SERVICES.c.binary == binary)
    found = read_columns(context, query.order_by(_SERVICES.c.id))
    zones = host_zones(context) if found["id"] else {}
    states, warnings = service_states(context, conf,
                                      service_mappings(found))
    return Result(columns.Columns(ServiceRow, dict(
        id=found["id"], binary=found["binary"], host=found["host"],
        zone=zones_of(found["binary"], found["host"], zones, conf),
        status=list(map(status, found["disabled"])), state=states,
        updated_at=found["updated_at"],
        disabled_reason=found["disabled_reason"],
        forced_down=list(map(bool, found["forced_down"])))), warnings)
