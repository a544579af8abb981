"""The service, liveness and aggregate columns of the host-state table.

A mixin of ``host_table.HostTable`` (kept apart so each module stays
small): what a node's host brings to its row, its compute service
(enabled, forced down, id), the last liveness answer and the set of
aggregates (with the availability zone read from them).
"""
import numpy as np

from hoststate.scheduler import interned

#: The aggregate set of a host in no aggregate.
NO_AGGREGATES = frozenset()
#: Up to this many hosts whose liveness changed, ``set_up`` writes their
#: rows one by one; more, it rewrites the column.
_FEW_HOSTS = 64
#: Up to this many aggregates, hosts are grouped by set operations.
_FEW_AGGREGATES = 64


def _aggregates_of_host(aggregates):
    """{host: frozenset of the ids of its aggregates}, hosts of the same
    aggregates sharing one set (interning a row's set is then an identity
    check, not a comparison of two sets).

    A few aggregates over many hosts (zones, racks) split the hosts into
    groups by set operations, without a Python step per membership; many
    aggregates are read membership by membership."""
    ordered = sorted(aggregates, key=lambda a: a.id)
    if len(ordered) > _FEW_AGGREGATES:
        by_host = {}
        for aggregate in ordered:
            for host in aggregate.hosts:
                by_host[host] = by_host.get(host, ()) + (aggregate.id,)
        groups = {}
        for host, ids in by_host.items():
            groups.setdefault(ids, []).append(host)
        groups = list(groups.items())
    else:
        groups = [((), frozenset().union(*(a.hosts for a in ordered)))]
        for aggregate in ordered:
            split = []
            for ids, hosts in groups:
                inside = hosts & aggregate.hosts
                if inside:
                    split.append((ids + (aggregate.id,), inside))
                    hosts = hosts - inside
                if hosts:
                    split.append((ids, hosts))
            groups = split
    of_host = {}
    for ids, hosts in groups:
        if ids:
            of_host.update(dict.fromkeys(hosts, frozenset(ids)))
    return of_host


class HostColumns:
    """Services, liveness and aggregates of the hosts (mixed into
    ``HostTable``, whose columns and indexes they write)."""

    def set_services(self, services, replace=False):
        """Record compute services (ServiceRecords), keyed by host.

        With ``replace`` the given services are all there are: a host
        missing from them loses its service and its nodes stop being
        candidates (Nova skips a node without a service record).
        """
        if replace:
            gone = set(self.services) - {s.host for s in services}
            for host in gone:
                del self.services[host]
                self.up_of_host.pop(host, None)
            self._attach_services(self._rows_of_hosts(gone))
        self.services.update((s.host, s) for s in services)
        self._attach_services(self._rows_of_hosts(s.host for s in services))
        self.version += 1

    def remove_service(self, host):
        """Forget the service of ``host`` and its last liveness answer (a
        host without a service is never asked, as after a full load)."""
        self.services.pop(host, None)
        self.up_of_host.pop(host, None)
        self._attach_services(self._rows_of_hosts([host]))
        self.version += 1

    def _rows_of_hosts(self, hosts):
        rows_of_host = self.rows_of_host
        if not rows_of_host:        # a load sets services before nodes
            return np.zeros(0, dtype=np.intp)
        rows = []
        for host in hosts:
            rows.extend(rows_of_host.get(host, ()))
        return np.asarray(sorted(rows), dtype=np.intp)

    def _attach_services(self, rows):
        """The service columns of ``rows`` from their host's service and
        last liveness answer, a column at a time."""
        if len(rows) == 0:
            return
        c = self.columns
        host_column = self.interned["host"]
        keys = host_column.keys
        hosts = [keys[code] for code in host_column.codes[rows].tolist()]
        services = list(map(self.services.get, hosts))
        count = len(hosts)
        has = np.fromiter([s is not None for s in services], dtype=bool,
                          count=count)
        c["has_service"][rows] = has & c["present"][rows]
        c["disabled"][rows] = np.fromiter(
            [s is not None and bool(s.disabled) for s in services],
            dtype=bool, count=count)
        c["forced_down"][rows] = np.fromiter(
            [s is not None and bool(s.forced_down) for s in services],
            dtype=bool, count=count)
        c["service_id"][rows] = np.array(
            [-1 if s is None else s.id for s in services], dtype=np.float64)
        up = self.up_of_host
        c["up"][rows] = np.fromiter([bool(up.get(h, False)) for h in hosts],
                                    dtype=bool, count=count)

    def set_up(self, up_by_host):
        """Liveness per host ({host: bool}); hosts not named keep theirs.

        Many changes (a load) rewrite the column of every live row from
        ``up_of_host``, which every live row already follows; a few change
        their hosts' rows."""
        up = self.columns["up"]
        known = self.up_of_host
        changed = [(host, bool(is_up)) for host, is_up in up_by_host.items()
                   if known.get(host) is not bool(is_up)]
        if not changed:
            return
        known.update(changed)
        if len(changed) > _FEW_HOSTS:
            host_column = self.interned["host"]
            up_by_code = np.fromiter(
                [bool(known.get(key, False)) for key in host_column.keys],
                dtype=bool, count=len(host_column.keys))
            live = self.live_rows()
            up[live] = up_by_code[host_column.codes[live]]
        else:
            for host, is_up in changed:
                for row in self.rows_of_host.get(host, ()):
                    up[row] = is_up
        self.version += 1

    def set_aggregates(self, aggregates):
        """Replace every aggregate (AggregateRecords) and recompute each
        row's aggregate set and zone."""
        self.aggregates = {a.id: a for a in aggregates}
        self.aggregates_of_host = _aggregates_of_host(aggregates)
        column = interned.Interned("aggregates", capacity=self.capacity)
        rows = self.live_rows()
        # one set per distinct host, then gathered by the rows' host codes
        host_column = self.interned["host"]
        live_hosts = np.unique(host_column.codes[rows])
        by_host_code = np.zeros(len(host_column.keys), dtype=np.int32)
        by_host_code[live_hosts] = column.codes_of(
            [self.aggregates_of_host.get(host_column.keys[code],
                                         NO_AGGREGATES)
             for code in live_hosts.tolist()])
        column.codes[rows] = by_host_code[host_column.codes[rows]]
        column.code(NO_AGGREGATES)
        self.interned["aggregates"] = column
        self.version += 1

    def aggregates_of_set(self, code):
        """AggregateRecords of aggregate-set ``code``, by id."""
        ids = self.interned["aggregates"].value(code)
        return [self.aggregates[i] for i in sorted(ids)
                if i in self.aggregates]

    def per_aggregate_set(self, function, dtype=float, key=None):
        """``function(list of AggregateRecords)`` for each distinct aggregate
        set, as an array by set code (gather with ``aggregate_codes``)."""
        column = self.interned["aggregates"]
        return column.map(lambda ids: function(
            [self.aggregates[i] for i in sorted(ids) if i in self.aggregates]),
            dtype=dtype, key=key if key is not None else function)

    @property
    def aggregate_codes(self):
        return self.interned["aggregates"].codes

    def zone_codes(self):
        """(codes per row, zone names by code): each host's availability
        zone from its aggregates, else the default zone."""
        zones = self.per_aggregate_set(self._zone_of, dtype=object,
                                       key="zone")
        return self.aggregate_codes, zones

    def _zone_of(self, aggregates):
        named = sorted(a.availability_zone for a in aggregates
                       if a.availability_zone)
        return ",".join(named) if named else self.default_availability_zone
