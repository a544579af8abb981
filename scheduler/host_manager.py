"""HostManager: keeps the host-state table in step with the cell databases.

``load()`` reads every compute node, compute service and aggregate;
``refresh()`` reads only the nodes and services whose rows moved since the
last watermark (see ``db_reader``) and writes them into the table in place,
re-reads the (small) aggregate tables, and refreshes the ``up`` column from
the servicegroup driver in one bulk call, never per host.

Candidate narrowing before the filters is ``narrowing``'s.
"""
import contextlib
import gc
import logging
import time
import weakref

import numpy as np

from hoststate import exception
from hoststate.conf import CONF
from hoststate.conf import node_defaults
from hoststate.db import api as db_api
from hoststate.scheduler import db_reader
from hoststate.scheduler import host_state
from hoststate.scheduler import host_table
from hoststate.scheduler import narrowing
from hoststate.scheduler import nodes as nodes_mod
from hoststate.scheduler import service_rows
from hoststate.scheduler import table_consumption

LOG = logging.getLogger(__name__)

#: The cell of a deployment that has only one (its uuid in Selections).
DEFAULT_CELL_UUID = "00000000-0000-0000-0000-000000000001"


class Cell:
    """One cell database the manager reads, and where its last read began."""

    def __init__(self, uuid, context):
        self.uuid = uuid
        self.context = context
        self.watermark = None
        self.aggregates = []
        self.aggregates_fingerprint = None
        self.aggregates_checked_at = None


class _EveryServiceUp:
    """The liveness opt-out: every service counts as up, nobody is asked.

    For tests and tables built by hand, never a default: a scheduler that
    does not consult liveness places instances on dead hosts."""

    def __repr__(self):
        return "host_manager.ALL_UP"


#: Pass as ``servicegroup`` to treat every service as up without asking.
ALL_UP = _EveryServiceUp()


class HostManager:
    """The host-state table of every cell, and its refresh.

    ``servicegroup`` answers which services are alive: by default (None)
    the servicegroup API with the driver ``servicegroup_driver`` of
    ``conf`` names, created at the first liveness read (a db driver reads
    the first cell's database); any object with ``services_up``; or
    ``ALL_UP`` to ask nobody (tests).
    """

    def __init__(self, context=None, conf=None, servicegroup=None,
                 cells=None, refresh_overlap=1.0, liveness_interval=1.0,
                 aggregates_interval=5.0):
        self.conf = conf if conf is not None else CONF
        if cells is None:
            cells = [(DEFAULT_CELL_UUID, context)]
        self.cells = [Cell(uuid, ctx) for uuid, ctx in cells]
        self._servicegroup = servicegroup
        self.refresh_overlap = refresh_overlap
        self.liveness_interval = liveness_interval
        self.aggregates_interval = aggregates_interval
        self._liveness_read_at = None
        self._liveness_lost_at = None
        # (table weakref, hosts, answers) of the last liveness read
        self._liveness_asked = None
        # whether a service was added or removed since (it must be asked)
        self._services_moved = True
        self._aggregates_key = None
        self.table = host_table.HostTable(
            default_availability_zone=self.conf.default_availability_zone)

    # --- reading the databases ------------------------------------------------

    def ratio_defaults(self):
        """What an unset (None or 0.0) node ratio reads as, under this
        manager's configuration (``conf.node_defaults``)."""
        return node_defaults.resolve(self.conf).ratios()

    def load(self):
        """Read everything, replacing what the table held.

        The garbage collector waits meanwhile: a load allocates millions
        of small objects (values read, index entries) and none of them is
        garbage, yet each gen-2 collection they trigger walks them all."""
        with _collector_paused():
            self.table = host_table.HostTable(
                default_availability_zone=self.conf.default_availability_zone,
                capacity=1024)
            self._aggregates_key = None
            for cell in self.cells:
                cell.aggregates_fingerprint = None
                self._read_cell(cell, full=True)
            self.refresh_liveness(force=True)
        return self

    def refresh(self):
        """Read what changed since the last read; then liveness."""
        for cell in self.cells:
            self._read_cell(cell, full=cell.watermark is None)
        self.refresh_liveness()
        return self

    def _read_cell(self, cell, full):
        since = None if full else cell.watermark
        with db_api.engine_of(cell.context).connect() as conn:
            started = db_reader.server_now(conn)
            aggregates, fingerprint = self._changed_aggregates(
                conn, cell, full)
            services, gone_services = db_reader.read_services(conn, since)
            node_columns = db_reader.read_nodes(conn, since)
        if aggregates is not None:
            cell.aggregates = aggregates
            cell.aggregates_fingerprint = fingerprint
            self._apply_aggregates([a for c in self.cells
                                    for a in c.aggregates])
        self._apply_services(services, gone_services, replace=full)
        self._apply_nodes(node_columns, cell.uuid)
        cell.watermark = db_reader.watermark(started, self.refresh_overlap)

    def _changed_aggregates(self, conn, cell, full):
        """(aggregates, fingerprint) when they changed, else (None, ...).

        Aggregates change rarely and counting their hosts costs a scan, so
        a refresh looks at most every ``aggregates_interval`` seconds.
        """
        now = time.monotonic()
        if not full and cell.aggregates_checked_at is not None and \
                now - cell.aggregates_checked_at < self.aggregates_interval:
            return None, cell.aggregates_fingerprint
        cell.aggregates_checked_at = now
        fingerprint = db_reader.aggregates_fingerprint(conn)
        if fingerprint == cell.aggregates_fingerprint:
            return None, fingerprint
        return db_reader.read_aggregates(conn), fingerprint

    def _apply_aggregates(self, aggregates):
        key = [(a.id, a.uuid, a.name, a.hosts,
                tuple(sorted(a.metadata.items()))) for a in aggregates]
        if key == self._aggregates_key:
            return
        self._aggregates_key = key
        self.table.set_aggregates(aggregates)

    def _apply_services(self, services, gone, replace):
        table = self.table
        known = table.services
        if gone:
            still = {s.host for s in services}
            for host in gone:
                if host not in still and host in known:
                    self._services_moved = True
                    table.remove_service(host)
        if not replace:
            services = service_rows.restamp_heartbeats(known, services)
        if replace or any(known.get(s.host) is None or
                          known[s.host].id != s.id for s in services):
            self._services_moved = True
        if services or replace:
            table.set_services(services, replace=replace)

    def _apply_nodes(self, columns, cell_uuid):
        """Write the nodes of ``columns`` (a NodeColumns read from the
        cell): deleted ones leave the table, those read again inside the
        overlap (same generation, same host) are skipped."""
        table = self.table
        uuids = columns["uuid"]
        deleted = np.fromiter((bool(d) for d in columns["deleted"]),
                              dtype=bool, count=len(columns))
        for position in np.flatnonzero(deleted).tolist():
            table.remove_node(uuids[position])
        keep = np.flatnonzero(~deleted)
        keep = keep[~_unchanged(table, columns, keep)]
        if len(keep) < len(columns):
            columns = columns.take(keep.tolist())
        if len(columns):
            table.write_columns(columns, cell=cell_uuid,
                                ratio_defaults=self.ratio_defaults())

    def refresh_node(self, cell_uuid, node_id, row=None):
        """Re-read one node (a claim on it just lost: the table's copy is
        behind the database), or write ``row`` if the caller read it (in
        its own transaction)."""
        cell = next(c for c in self.cells if c.uuid == cell_uuid)
        if row is not None:
            rows = [row]
        else:
            with db_api.engine_of(cell.context).connect() as conn:
                rows = db_reader.read_node(conn, node_id)
        for row in rows:
            if row["deleted"]:
                self.table.remove_node(row["uuid"])
            else:
                self.table.write_nodes([row], cell=cell.uuid,
                                       ratio_defaults=self.ratio_defaults())

    # --- the table's writes from claims -------------------------------------------

    def apply_claim(self, cell_uuid, stored):
        """A claim (or its release) wrote node row ``stored``: the table
        takes it as stored. A ``nodes.UsageRow`` (the usage columns of a
        claim on the generation the table held) changes only those; if the
        table holds the node at another generation, the node is read."""
        if not isinstance(stored, nodes_mod.UsageRow):
            self.table.write_nodes([stored], cell=cell_uuid,
                                   ratio_defaults=self.ratio_defaults())
        elif not self.table.write_usage(stored):
            self.refresh_node(cell_uuid, int(stored["id"]))

    def consume(self, row, request):
        """Count one instance of ``request`` into ``row`` in memory (a
        scheduler without database claims); returns what was taken, for
        ``give_back``."""
        return table_consumption.consume(self.table, row, request)

    def give_back(self, row, taken):
        table_consumption.give_back(self.table, row, taken)

    # --- liveness ------------------------------------------------------------

    @property
    def servicegroup(self):
        """What answers liveness (see the class docstring)."""
        if self._servicegroup is None:
            from hoststate.servicegroup import api as sg_api
            context = next((c.context for c in self.cells
                            if c.context is not None), None)
            self._servicegroup = sg_api.API(conf=self.conf, context=context)
        return self._servicegroup

    def refresh_liveness(self, force=False):
        """The ``up`` column from the servicegroup, in one bulk call.

        At most once per ``liveness_interval`` seconds unless forced. When
        the backend cannot say (ServiceGroupUnavailable) the column keeps
        its last answers: a scheduler that stopped scheduling because its
        liveness backend blinked would turn one outage into two.
        """
        if self.servicegroup is ALL_UP:
            known = self.table.up_of_host
            self.table.set_up({host: True for host in self.table.services
                               if host not in known})
            return
        now = time.monotonic()
        # a service never asked about (a new host) is asked at once
        asked = self._liveness_asked
        if not force and self._liveness_read_at is not None and \
                asked is not None and asked[0]() is self.table and \
                not self._services_moved and \
                now - self._liveness_read_at < self.liveness_interval:
            return
        services = list(self.table.services.values())
        try:
            with _collector_paused():
                answers = self._services_up(services)
        except exception.ServiceGroupUnavailable as exc:
            self._liveness_unknown(now, exc)
            return
        if self._liveness_lost_at is not None:
            LOG.info("Liveness known again after %.1f s",
                     now - self._liveness_lost_at)
            self._liveness_lost_at = None
        self._liveness_read_at = now
        self._set_up(services, answers)

    def _set_up(self, services, answers):
        """Write the answers (a bool array, one per service) to the table:
        when the same services were asked last time, only the hosts whose
        answer changed (a read of 100,000 hosts usually changes a few)."""
        asked, answers = self._liveness_asked, np.asarray(answers, dtype=bool)
        hosts = [s.host for s in services]
        if asked is not None and asked[0]() is self.table and \
                asked[1] == hosts:
            changed = np.flatnonzero(answers != asked[2]).tolist()
            self.table.set_up({hosts[i]: bool(answers[i]) for i in changed})
        else:
            self.table.set_up(dict(zip(hosts, answers.tolist())))
        # the table weakly: a load frees the table it replaces at once
        self._liveness_asked = (weakref.ref(self.table), hosts, answers)
        self._services_moved = False

    def _services_up(self, services):
        """The servicegroup's answers for ``services`` (ServiceRecords):
        by columns where it answers so, else one dict per service."""
        group = self.servicegroup
        if not hasattr(group, "services_up_columns"):
            return group.services_up([service_rows.as_dict(s)
                                      for s in services])
        return group.services_up_columns(
            [s.id for s in services], [s.forced_down for s in services],
            lambda: [service_rows.as_dict(s) for s in services])

    def _liveness_unknown(self, now, exc):
        """One warning per outage (a refresh runs per request); the rest
        at debug, and one line when liveness is known again."""
        if self._liveness_lost_at is None:
            self._liveness_lost_at = now
            LOG.warning("Liveness unknown, keeping the last answers until "
                        "it is known again: %s", exc)
        else:
            LOG.debug("Liveness still unknown: %s", exc)

    # --- views -----------------------------------------------------------------

    @property
    def host_state_map(self):
        """{(host, nodename): HostState} of every candidate node."""
        table = self.table
        return {key: host_state.HostState(table, row)
                for key, row in table.row_of_host_node.items()
                if table.has_service[row] and table.ready[row]}

    def host_state(self, host, nodename):
        row = self.table.row_of_host_node.get((host, nodename))
        if row is None:
            raise exception.ComputeNodeNotFound(key=f"{host}/{nodename}")
        return host_state.HostState(self.table, row)

    def context_of_cell(self, cell_uuid):
        for cell in self.cells:
            if cell.uuid == cell_uuid:
                return cell.context
        raise exception.CellMappingNotFound(key=cell_uuid)

    def instance_hosts(self, uuids):
        """{instance uuid: host} over every cell, for group members and
        instance hints."""
        found = {}
        if not uuids:
            return found
        for cell in self.cells:
            if cell.context is None:
                continue
            with db_api.engine_of(cell.context).connect() as conn:
                found.update(db_reader.read_instance_hosts(conn, uuids))
        return found

    # --- narrowing before the filters -------------------------------------------

    def narrow(self, rows, spec):
        """Rows left after Nova's pre-filter narrowing of ``spec`` (see
        ``narrowing.narrow``): (rows, whether forced hosts or nodes chose
        them)."""
        return narrowing.narrow(self.table, rows, spec)


def _unchanged(table, columns, positions):
    """Mask over ``positions`` of the nodes of ``columns`` the table holds
    at the generation and host read (read again inside the overlap)."""
    if not table.row_of_uuid or not len(positions):
        return np.zeros(len(positions), dtype=bool)
    uuids, hosts = columns["uuid"], columns["host"]
    get = table.row_of_uuid.get
    rows = np.fromiter([get(uuids[p], -1) for p in positions.tolist()],
                       dtype=np.intp, count=len(positions))
    held = rows >= 0
    generation = columns.number("generation")[positions]
    same = held & (table.generation[np.where(held, rows, 0)] == generation)
    for index in np.flatnonzero(same).tolist():
        same[index] = table.host_of(rows[index]) == \
            hosts[int(positions[index])]
    return same


@contextlib.contextmanager
def _collector_paused():
    """No garbage collection inside (restored as it was afterwards)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
