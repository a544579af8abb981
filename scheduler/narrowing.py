"""Candidate narrowing before the filters (Nova's ``get_filtered_hosts``).

A requested destination (host, node, cell, aggregates), ignored hosts and
forced hosts (both case-insensitive) and forced nodes, each a mask over
the host-state table's interned codes.
"""
import numpy as np

from hoststate.objects.attrs import set_value


def narrow(table, rows, spec):
    """Rows left after Nova's pre-filter narrowing of ``spec``.

    Returns (rows, forced): ``forced`` is True when force_hosts or
    force_nodes chose the rows, in which case the filters are skipped
    (unless the request is a rebuild check).
    """
    destination = set_value(spec, "requested_destination")
    if destination is not None:
        rows = _narrow_to_destination(table, rows, destination)
    ignored = set_value(spec, "ignore_hosts") or []
    if ignored:
        codes = table.host_codes(ignored, case_insensitive=True)
        rows = rows[~np.isin(table.codes("host")[rows], codes)]
    forced_hosts = set_value(spec, "force_hosts") or []
    forced_nodes = set_value(spec, "force_nodes") or []
    if not forced_hosts and not forced_nodes:
        return rows, False
    if forced_hosts:
        codes = table.host_codes(forced_hosts, case_insensitive=True)
        rows = rows[np.isin(table.codes("host")[rows], codes)]
    if forced_nodes:
        column = table.interned["nodename"]
        codes = [column.find(n) for n in forced_nodes]
        codes = np.asarray([c for c in codes if c is not None],
                           dtype=np.int32)
        rows = rows[np.isin(column.codes[rows], codes)]
    return rows, True


def _narrow_to_destination(table, rows, destination):
    host = set_value(destination, "host")
    node = set_value(destination, "node")
    cell = set_value(destination, "cell")
    if host:
        rows = rows[table.codes("host")[rows] ==
                    _code_or_missing(table, "host", host)]
    if node:
        rows = rows[table.codes("nodename")[rows] ==
                    _code_or_missing(table, "nodename", node)]
    if cell is not None and set_value(cell, "uuid"):
        rows = rows[table.codes("cell")[rows] ==
                    _code_or_missing(table, "cell", cell.uuid)]
    aggregates = set_value(destination, "aggregates") or []
    for entry in aggregates:
        wanted = {u for u in entry.split(",") if u}
        ids = {a.id for a in table.aggregates.values() if a.uuid in wanted}
        in_any = table.per_aggregate_set(
            lambda aggs, ids=frozenset(ids): any(a.id in ids for a in aggs),
            dtype=bool, key=("destination_aggregates", frozenset(ids)))
        rows = rows[in_any[table.aggregate_codes[rows]]]
    return rows


def _code_or_missing(table, column, key):
    code = table.interned[column].find(key)
    return -1 if code is None else code
