"""The ledger's invariants, checked on a database as it is.

After any sequence of claims, releases, aborts, deletes, moves, restarts
and recounts, on every live node:

* the usage counters are reserved + the sum of the node's ledger rows;
* free PCI devices + the devices the ledger holds = the node's devices;
* no CPU is pinned by two rows, and the node's pinned CPUs per NUMA cell
  are exactly the rows' pinned CPUs;
* no counter is above total × ratio.

``violations`` returns what does not hold, as readable lines ([] when
everything does), so a failing test says which node and which rule.
"""
import json

import sqlalchemy as sa

from hoststate.conf import node_defaults
from hoststate.db import schema
from hoststate.hardware import capacity
from hoststate.hardware import consumption as cons


def violations(engine, conf, pci_devices=None):
    """Broken invariants of every live node. ``pci_devices`` is {node id:
    how many PCI devices the node has} for the nodes whose device count
    should be checked (the driver knows it; the row stores free ones)."""
    nodes_t, ledger_t = schema.compute_nodes, schema.allocations
    with engine.connect() as conn:
        nodes = [r._mapping for r in conn.execute(
            sa.select(nodes_t).where(nodes_t.c.deleted == 0))]
        rows = [r._mapping for r in conn.execute(sa.select(ledger_t))]
    by_node = {}
    for row in rows:
        by_node.setdefault(row["compute_node_id"], []).append(row)
    reserved = node_defaults.resolve(conf)
    found = []
    for node in nodes:
        held = [cons.Consumption.held(r) for r in by_node.get(node["id"], [])]
        found += _counters(node, held, reserved)
        found += _capacity(node, conf)
        found += _pinning(node, held)
        if pci_devices is not None and node["id"] in pci_devices:
            found += _pci(node, held, pci_devices[node["id"]])
    live = {n["id"] for n in nodes}
    found += [f"ledger row {r['consumer_uuid']} on node {r['compute_node_id']}"
              " which is not a live node" for r in rows
              if r["compute_node_id"] not in live]
    return found


def _counters(node, held, reserved):
    expected = {
        "vcpus_used": reserved.reserved_vcpus + sum(h.vcpus for h in held),
        "memory_mb_used": reserved.reserved_memory_mb +
        sum(h.memory_mb for h in held),
        "local_gb_used": reserved.reserved_disk_gb +
        sum(h.disk_gb for h in held),
    }
    return [f"node {node['hypervisor_hostname']}: {name} = {node[name]}, "
            f"reserved + ledger = {value}"
            for name, value in expected.items() if node[name] != value]


def _capacity(node, conf):
    found = []
    ratios = capacity.node_ratios(node, conf)
    for resource, (total, used, ratio) in capacity.NODE_FIELDS.items():
        limit = capacity.limit(node[total], ratios[ratio])
        if node[used] > limit:
            found.append(f"node {node['hypervisor_hostname']}: {used} "
                         f"{node[used]} above total x ratio {limit}")
    return found


def _pinning(node, held):
    found = []
    pinned_by_cell = {}
    for consumption in held:
        topology = consumption.numa_topology
        for cell in (topology.cells if topology is not None else ()):
            cpus = set((cell.obj_get("cpu_pinning") or {}).values()) | \
                set(cell.obj_get("cpuset_reserved") or ())
            twice = pinned_by_cell.setdefault(cell.id, set()) & cpus
            if twice:
                found.append(f"node {node['hypervisor_hostname']}: cpus "
                             f"{sorted(twice)} of cell {cell.id} pinned by "
                             "two ledger rows")
            pinned_by_cell[cell.id] |= cpus
    if node["numa_topology"]:
        stored = json.loads(node["numa_topology"])
        for cell in stored["hoststate_object.data"]["cells"]:
            data = cell["hoststate_object.data"]
            pinned = set(data.get("pinned_cpus") or ())
            if pinned != pinned_by_cell.get(data["id"], set()):
                found.append(
                    f"node {node['hypervisor_hostname']}: cell {data['id']} "
                    f"has cpus {sorted(pinned)} pinned, the ledger "
                    f"{sorted(pinned_by_cell.get(data['id'], set()))}")
    return found


def _pci(node, held, devices):
    free = sum(int(p.get("count", 0)) for p in _pools(node["pci_stats"]))
    taken = sum(h.pci_allocation.count for h in held
                if h.pci_allocation is not None)
    if free + taken != devices:
        return [f"node {node['hypervisor_hostname']}: {free} PCI devices "
                f"free + {taken} held by the ledger != {devices}"]
    return []


def _pools(text):
    if not text:
        return []
    loaded = json.loads(text)
    return [pool.get("hoststate_object.data", pool)
            for pool in loaded.get("hoststate_object.data", {})
            .get("objects", [])]
