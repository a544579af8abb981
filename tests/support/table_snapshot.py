"""Everything a host-state table holds, as plain values keyed by node uuid.

Two tables built differently (a full load and a load followed by
refreshes; a column-at-a-time write and one node at a time) must hold the
same nodes with the same values. Rows and interned codes may differ
between them (they are where a value is kept, not the value), so the
snapshot names every node by uuid and every interned value by its key.
"""
import math

import numpy as np

from hoststate.scheduler import host_table


def _plain(value):
    """NaN as None (NaN != NaN), numpy scalars as Python numbers."""
    if isinstance(value, (float, np.floating)):
        return None if math.isnan(value) else float(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def node_values(table, row, zones=None):
    """{column: value} of one row: every float, bool and interned column
    (the interned ones by key; the aggregate set as sorted ids), the
    updated_at stamp and the zone (``zones``: ``table.zone_codes()``)."""
    values = {name: _plain(table.columns[name][row])
              for name in (*host_table.FLOAT_COLUMNS,
                           *host_table.BOOL_COLUMNS)}
    for name, column in table.interned.items():
        key = column.keys[column.codes[row]]
        values[name] = tuple(sorted(key)) if name == "aggregates" else key
    values["updated_at"] = table.updated_at[row]
    codes, names = zones if zones is not None else table.zone_codes()
    values["zone"] = names[codes[row]]
    return values


def snapshot(table):
    """{"nodes": {uuid: node_values}, plus the table's indexes, services,
    liveness answers and aggregates}, for equality."""
    live = table.live_rows().tolist()
    uuid_of = {row: table.uuid[row] for row in live}
    zones = table.zone_codes()
    return {
        "nodes": {uuid_of[row]: node_values(table, row, zones)
                  for row in live},
        "row_of_uuid": sorted(table.row_of_uuid) == sorted(uuid_of.values())
        and all(uuid_of[r] == u for u, r in table.row_of_uuid.items()),
        "host_node": {key: uuid_of[row]
                      for key, row in table.row_of_host_node.items()},
        "rows_of_host": {host: sorted(uuid_of[r] for r in rows)
                         for host, rows in table.rows_of_host.items()},
        "services": {host: service.as_dict()
                     for host, service in table.services.items()},
        "up_of_host": {host: bool(up)
                       for host, up in table.up_of_host.items()
                       if host in table.services or host in table.rows_of_host},
        "aggregates": {a.id: (a.uuid, a.name, tuple(sorted(a.hosts)),
                              tuple(sorted(a.metadata.items())))
                       for a in table.aggregates.values()},
        "aggregates_of_host": {host: tuple(sorted(ids)) for host, ids
                               in table.aggregates_of_host.items()},
        "size": len(table),
        "candidates": sorted(uuid_of[r] for r in
                             np.flatnonzero(table.candidates()).tolist()),
    }


def differences(left, right, limit=20):
    """Readable differences between two snapshots (empty when equal)."""
    found = []
    for key in sorted(set(left) | set(right)):
        if key == "nodes":
            continue
        if left.get(key) != right.get(key):
            found.append(f"{key}: {_short(left.get(key))} != "
                         f"{_short(right.get(key))}")
    nodes_l, nodes_r = left.get("nodes", {}), right.get("nodes", {})
    for uuid in sorted(set(nodes_l) ^ set(nodes_r)):
        found.append(f"node {uuid} only in "
                     f"{'left' if uuid in nodes_l else 'right'}")
    for uuid in sorted(set(nodes_l) & set(nodes_r)):
        a, b = nodes_l[uuid], nodes_r[uuid]
        for name in sorted(set(a) | set(b)):
            if a.get(name) != b.get(name):
                found.append(f"node {uuid} {name}: {a.get(name)!r} != "
                             f"{b.get(name)!r}")
    return found[:limit]


def _short(value):
    text = repr(value)
    return text if len(text) < 200 else text[:200] + "..."
