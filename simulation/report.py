"""What a simulation came to, checked against the database.

Definitions:

* **utilization** of a resource: used / (total × allocation ratio) over
  the nodes of living services (used includes the reserved amounts);
* **fragmentation** of a resource: the share of its free capacity that
  sits on nodes which cannot take one more reference flavor
  (``workload.REFERENCE_FLAVOR``, 4 vCPUs / 16 GiB / 160 GB) because some
  resource there is short: capacity that is free but stranded;
* **over-commit check**: nodes whose stored usage exceeds total ×
  ratio for any resource, nodes whose stored usage differs from the
  reserved amounts plus their ledger rows, and nodes whose stored usage
  differs from the reserved amounts plus the instances placed there (all
  must be 0);
* **placements vs claims**: instances the run placed (and pre-filled)
  against instance rows the database holds as placed (living or
  deleted): equal when every claim is accounted for.

``broken`` lists what breaks those rules (and background threads that
died); ``hoststate simulate`` exits 3 when it is not empty.
"""
import numpy as np
import sqlalchemy as sa

from hoststate.conf import node_defaults
from hoststate.db import api as db_api
from hoststate.db import ledger as db_ledger
from hoststate.db import schema
from hoststate.hardware import capacity
from hoststate.simulation import prefill
from hoststate.simulation import runner
from hoststate.simulation import workload

RESOURCES = capacity.RESOURCES


def build(result, context, conf):
    """The report as a JSON-ready dict."""
    options = result.options
    lat_ms = np.asarray(result.latencies) * 1000
    nodes = _live_nodes(context)
    views = _views(nodes, conf)
    usage = _instance_usage(context)
    report = {
        "nodes": options.nodes, "requests": options.requests,
        "requests_done": result.requests_done,
        "seed": options.seed, "prefill": options.prefill,
        "prefilled_instances": result.prefilled,
        "servicegroup": result.servicegroup,
        "database": result.database,
        "transport": result.transport,
        "setup_seconds": round(result.setup_seconds, 2),
        "run_seconds": round(result.run_seconds, 2),
        "placements": result.placements,
        "placements_per_second": round(
            result.placements / result.run_seconds, 1)
        if result.run_seconds else 0.0,
        "placements_sha256": result.placements_digest.hexdigest(),
        "no_valid_host": result.no_valid_host,
        "no_valid_host_reasons": dict(result.reasons.most_common()),
        "no_valid_host_examples": dict(sorted(result.reason_examples.items())),
        "no_valid_host_by_resource": dict(sorted(result.by_resource.items())),
        "select_latency_ms": {
            "p50": round(runner.percentile(lat_ms, 50), 3),
            "p99": round(runner.percentile(lat_ms, 99), 3),
            "max": round(float(lat_ms.max()), 3) if len(lat_ms) else 0.0},
        "deletes": result.deletes,
        "periodic_updates": result.periodic_updates,
        "utilization": _utilization(views, result.samples),
        "fragmentation": _fragmentation(nodes, views, workload.flavors()[
            workload.REFERENCE_FLAVOR], conf),
        "overcommit": _overcommit(nodes, usage, conf, views,
                                  ledger=_ledger_totals(context)),
        "claims": _claims(context, result),
        "liveness": _liveness(result, conf),
        "background_threads_died": [
            {"thread": d.thread, "error": d.error} for d in result.deaths],
        "samples": result.samples,
    }
    return report


def broken(report):
    """What the run broke, one phrase each; empty when all is well:
    no node over capacity, every node's usage the sum of its instances
    and of its ledger rows,
    every placement one instance row, no background thread dead."""
    over, claims = report["overcommit"], report["claims"]
    problems = []
    if over["overcommitted_nodes"]:
        problems.append(f"{over['overcommitted_nodes']} nodes over capacity")
    if over["usage_mismatched_nodes"]:
        problems.append(f"{over['usage_mismatched_nodes']} nodes with usage "
                        f"not matching their instances "
                        f"({', '.join(over['examples'])})")
    if over.get("ledger_mismatched_nodes"):
        problems.append(f"{over['ledger_mismatched_nodes']} nodes whose "
                        f"usage is not reserved + their ledger rows "
                        f"({', '.join(over['examples'])})")
    if not claims["placements_equal_claims"]:
        problems.append(f"{claims['placed_instance_rows']:,} instance rows "
                        f"placed for {report['placements']:,} placements "
                        f"and {report['prefilled_instances']:,} pre-filled")
    problems.extend(f"background thread {d['thread']} died: {d['error']}"
                    for d in report["background_threads_died"])
    return problems


def _live_nodes(context):
    nodes, services = schema.compute_nodes, schema.services
    query = sa.select(nodes).join(
        services, services.c.id == nodes.c.service_id).where(
        nodes.c.deleted == 0, services.c.deleted == 0)
    with db_api.engine_of(context).connect() as conn:
        return [row._mapping for row in conn.execute(query)]


def _instance_usage(context):
    """{node id: (vcpus, memory_mb, disk_gb, count)} of living instances."""
    inst = schema.instances
    query = sa.select(
        inst.c.compute_id, sa.func.sum(inst.c.vcpus),
        sa.func.sum(inst.c.memory_mb),
        sa.func.sum(inst.c.root_gb + inst.c.ephemeral_gb),
        sa.func.count()).where(inst.c.deleted == 0,
                               inst.c.compute_id.is_not(None)).group_by(
        inst.c.compute_id)
    with db_api.engine_of(context).connect() as conn:
        return {row[0]: tuple(int(v) for v in row[1:])
                for row in conn.execute(query)}


def _views(nodes, conf):
    """Each node's {resource: (total, ratio, used)} (``hardware.capacity``)."""
    return [capacity.node_view(node, conf) for node in nodes]


def _utilization(views, samples):
    final = {}
    for resource in RESOURCES:
        used = sum(view[resource][2] for view in views)
        total = sum(capacity.limit(*view[resource][:2]) for view in views)
        final[resource] = round(used / total, 4) if total else 0.0
    peak = {r: round(max((s[r] for s in samples), default=0.0), 4)
            for r in RESOURCES}
    return {"final": final, "peak": peak}


def _fragmentation(nodes, views, reference, conf):
    """The share of each resource's free capacity on nodes where one more
    ``reference`` instance does not fit (by the capacity rule)."""
    wanted = capacity.Wanted.from_disk_mb(
        reference.vcpus, reference.memory_mb, reference.disk_mb)
    free_all, free_fitting = [0.0] * 3, [0.0] * 3
    for node, view in zip(nodes, views):
        fits = not capacity.node_shortfalls(node, wanted, conf)
        for i, resource in enumerate(RESOURCES):
            free = max(float(capacity.free(*view[resource])), 0.0)
            free_all[i] += free
            if fits:
                free_fitting[i] += free
    return {r: round(1 - fit / total, 4) if total else 0.0
            for r, fit, total in zip(RESOURCES, free_fitting, free_all)}


def _ledger_totals(context):
    """{node id: (vcpus, memory_mb, disk_gb, rows)} of the ledger."""
    with db_api.engine_of(context).connect() as conn:
        return db_ledger.totals_by_node(conn)


def _overcommit(nodes, usage, conf, views=None, ledger=None):
    """Nodes above total × ratio, nodes whose usage is not reserved +
    their instances, and (given ``ledger``, ``_ledger_totals``) nodes
    whose counters are not reserved + their ledger rows (``views``: the
    nodes' ``_views``, if read already)."""
    views = _views(nodes, conf) if views is None else views
    defaults = node_defaults.resolve(conf)
    reserved = (defaults.reserved_vcpus, defaults.reserved_memory_mb,
                defaults.reserved_disk_gb)
    over, mismatched, off_ledger = [], [], []
    for node, view in zip(nodes, views):
        if any(capacity.free(*view[r]) < -1e-9 for r in RESOURCES):
            over.append(node["hypervisor_hostname"])
        used = tuple(view[r][2] for r in RESOURCES)
        counted = usage.get(node["id"], (0, 0, 0, 0))
        if used != tuple(r + c for r, c in zip(reserved, counted[:3])):
            mismatched.append(node["hypervisor_hostname"])
        held = (ledger or {}).get(node["id"], (0, 0, 0, 0))
        if ledger is not None and \
                used != tuple(r + h for r, h in zip(reserved, held[:3])):
            off_ledger.append(node["hypervisor_hostname"])
    found = {"overcommitted_nodes": len(over),
             "usage_mismatched_nodes": len(mismatched),
             "examples": (over + mismatched + off_ledger)[:5]}
    if ledger is not None:
        found["ledger_mismatched_nodes"] = len(off_ledger)
    return found


def _claims(context, result):
    inst = schema.instances
    with db_api.engine_of(context).connect() as conn:
        placed = conn.execute(sa.select(sa.func.count()).where(
            inst.c.compute_id.is_not(None))).scalar()
        living = conn.execute(sa.select(sa.func.count()).where(
            inst.c.compute_id.is_not(None), inst.c.deleted == 0)).scalar()
    return {"placed_instance_rows": placed, "living_instances": living,
            "placements_equal_claims":
                placed == result.placements + result.prefilled,
            "rescheduled_from_dead_hosts": result.rescheduled_dead}


def _liveness(result, conf):
    detected = sorted(result.detected.values())
    return {
        "killed_agents": len(result.victims),
        "detected": len(detected),
        "detection_seconds": {
            "min": round(detected[0], 2),
            "median": round(detected[len(detected) // 2], 2),
            "max": round(detected[-1], 2)} if detected else None,
        "service_down_time": conf.service_down_time,
        "report_interval": conf.report_interval,
        "chosen_after_detection": result.chosen_after_detection,
        "deletes_skipped_on_dead_hosts": result.deletes_skipped_dead,
    }


def format_text(report):
    """The report for a terminal."""
    lat = report["select_latency_ms"]
    lines = [
        f"hoststate simulate: {report['nodes']:,} nodes, "
        f"{report['requests']:,} requests, seed {report['seed']}, "
        f"servicegroup {report['servicegroup']}",
        f"  database           {report['database']}",
        f"  bus                {report['transport']}",
    ]
    if report["prefilled_instances"]:
        low, high = prefill.target_range(report["prefill"])
        lines.append(f"  pre-filled         {report['prefilled_instances']:,} "
                     f"instances (each node to a share of its capacity "
                     f"drawn from {low:.0%}–{high:.0%})")
    lines += [
        f"  setup              {report['setup_seconds']:.1f} s; "
        f"run {report['run_seconds']:.1f} s",
        f"  placements         {report['placements']:,} "
        f"({report['placements_per_second']:,.0f}/s); "
        f"deleted {report['deletes']:,}",
        f"  select latency     p50 {lat['p50']:.2f} ms, p99 "
        f"{lat['p99']:.2f} ms (with the database claim)",
        f"  no valid host      {report['no_valid_host']:,}"
        + _first_refusal(report["samples"]),
    ]
    examples = report["no_valid_host_examples"]
    for reason, count in report["no_valid_host_reasons"].items():
        lines.append(f"    {count:>7,}  {reason} (last: {examples[reason]})")
    util, frag = report["utilization"], report["fragmentation"]
    lines.append("  resource      final   peak   fragmentation")
    for name in RESOURCES:
        lines.append(f"    {name:<10} {util['final'][name]:>6.1%} "
                     f"{util['peak'][name]:>6.1%}   {frag[name]:>6.1%}")
    over, claims = report["overcommit"], report["claims"]
    lines.append(f"  over-commit        {over['overcommitted_nodes']} nodes "
                 f"over capacity, {over.get('ledger_mismatched_nodes', 0)} "
                 f"off their ledger, {over['usage_mismatched_nodes']} with "
                 f"usage not matching their instances")
    prefilled = (f" + {report['prefilled_instances']:,} pre-filled"
                 if report["prefilled_instances"] else "")
    lines.append(f"  claims             {claims['placed_instance_rows']:,} "
                 f"instance rows placed = {report['placements']:,} placements"
                 f"{prefilled}: "
                 f"{'yes' if claims['placements_equal_claims'] else 'NO'}")
    lines.extend(_liveness_lines(report["liveness"]))
    lines.extend(_stop_lines(report))
    return "\n".join(lines)


def _first_refusal(samples):
    first = next((s for s in samples if s["no_valid_host"]), None)
    if first is None:
        return ""
    return (f" (the first by request {first['request']:,}, "
            f"{first['simulated_seconds']:,.0f} simulated seconds in)")


def _stop_lines(report):
    lines = [f"  background         thread {d['thread']} died: {d['error']}"
             for d in report["background_threads_died"]]
    if report["requests_done"] < report["requests"]:
        lines.append(f"  stopped            after {report['requests_done']:,} "
                     f"of {report['requests']:,} requests")
    return lines


def _liveness_lines(live):
    if not live["killed_agents"]:
        return []
    seconds = live["detection_seconds"]
    seen = (f"seen down after {seconds['min']:.1f}–{seconds['max']:.1f} s "
            f"(median {seconds['median']:.1f} s)" if seconds else "never seen down")
    return [f"  liveness           {live['killed_agents']} agents killed, "
            f"{live['detected']} {seen}; service_down_time "
            f"{live['service_down_time']} s",
            f"                     chosen after detection: "
            f"{live['chosen_after_detection']}"]
