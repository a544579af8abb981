"""What ``hoststate simulate --cells`` reports, and the invariants a run
must keep (a broken one makes the command exit 3):

* an instance lives in one cell: no uuid in two children's databases;
* a build the top answered with a host is ACTIVE in the cell it named;
* once the instance sync settled, the top lists exactly what the cells
  hold: each child's instances with that child's name and state, and
  nothing a child does not hold (ACTIVE in a cell the top does not list
  is the failure cells v1 was known for).

:func:`settle` reads the end state, waiting for the sync to catch up;
:func:`build` turns a ``cells_run.Result`` into the report (a dict, as
JSON prints it); :func:`format_text` is the text form.
"""
import array
import collections
import json
import re
import sys
import threading
import time

import numpy as np

from hoststate.cells import routing
from hoststate.cells import tree
from hoststate.db import api as db_api
from hoststate.db import schema

ACTIVE = "active"
#: the command's exit status when the run broke an invariant
EXIT_BROKEN = 3
#: a float in a reason ("no answer within 4.5 s"): varies, hidden when
#: reasons are counted together
_FLOAT = re.compile(r"\b\d+\.\d+\b")
#: "api!cell1: ..." clauses of a failed build's reason
_CLAUSE = re.compile(r"(?:^|; |: )((?:\w[\w.-]*!)+[\w.-]+): ")


# --- the end state ----------------------------------------------------------------

def settle(top, children, result, timeout):
    """Read every child's instances and the top's list into ``result``
    until the top lists what the cells hold and every placed build is
    ACTIVE where it was placed (each cell syncs every
    ``instance_sync_interval``), or ``timeout`` s pass; True when they
    agreed in time."""
    deadline = time.monotonic() + timeout
    while True:
        result.cell_instances = {
            c.name: {u: state for u, (state, _) in c.instances().items()}
            for c in children}
        result.top_instances = top_list(top)
        if not _unsettled(result) or time.monotonic() > deadline:
            return not _unsettled(result)
        time.sleep(0.1)


def top_list(top):
    """{uuid: (child name, vm_state)} the top lists (a build no cell
    took stays listed in ERROR, owned by no cell: left out)."""
    with db_api.reading(top.ctx) as conn:
        rows = db_api.select_rows(conn, schema.cell_instances)
    return {r["uuid"]: (tree.split(r["cell_path"])[-1], r["vm_state"])
            for r in rows if r["cell_path"]}


def _unsettled(result):
    held = _held(result)
    placed_not_active = [b for b in result.builds if b.cell is not None
                         and result.cell_instances.get(b.cell, {})
                         .get(b.uuid) != ACTIVE]
    return held != result.top_instances or placed_not_active


def _held(result):
    return {u: (cell, state) for cell, found in result.cell_instances.items()
            for u, state in found.items()}


# --- the report ----------------------------------------------------------------------

def build(result):
    options = result.options
    builds = result.builds
    names = [f"cell{i}" for i in range(1, options.cells + 1)]
    return {
        "mode": "cells",
        "cells": options.cells, "nodes": options.nodes,
        "requests": options.requests, "seed": options.seed,
        "transport": result.transport,
        "buses": result.buses,
        "setup_seconds": round(result.setup_seconds, 3),
        "run_seconds": round(result.run_seconds, 3),
        "builds_per_second": _rate(builds),
        "placements": _placements(builds, names),
        "latency_ms": {"build": _percentiles([b.seconds for b in builds]),
                       **{stage: _percentiles(values) for stage, values
                          in sorted(result.stages.items())}},
        "kill": _kill(result, names) if options.kill_cells else None,
        "invariants": _invariants(result),
    }


def _rate(builds):
    if not builds:
        return 0.0
    span = builds[-1].sent_at + builds[-1].seconds - builds[0].sent_at
    return round(len(builds) / span, 2) if span > 0 else 0.0


def _placements(builds, names):
    built = collections.Counter(b.cell for b in builds if b.cell)
    refused = collections.Counter(
        path.split("!")[-1] for b in builds if b.reason
        for path in set(_CLAUSE.findall(b.reason)))
    return {"placed": sum(built.values()),
            "failed": sum(1 for b in builds if b.cell is None),
            "no_valid_host": sum(1 for b in builds if b.reason
                                 and routing.NO_CELL in b.reason),
            "per_cell": {name: {"built": built.get(name, 0),
                                "named_in_failures": refused.get(name, 0)}
                         for name in names}}


def _percentiles(values):
    if not len(values):
        return {"count": 0, "p50": 0.0, "p95": 0.0, "p99": 0.0}
    found = np.percentile(np.asarray(values) * 1000.0, [50, 95, 99])
    return {"count": len(values),
            **{key: round(float(v), 3)
               for key, v in zip(("p50", "p95", "p99"), found)}}


def _kill(result, names):
    killed_at = result.killed_at
    after = [b for b in result.builds
             if killed_at is not None and b.sent_at >= killed_at]
    seen = [s for s in result.marked_down.values() if s is not None]
    all_down_at = None if killed_at is None or len(seen) < len(
        result.marked_down) else killed_at + max(seen, default=0.0)
    meanwhile = [b for b in after
                 if all_down_at is None or b.sent_at < all_down_at]
    placed_after = collections.Counter(b.cell for b in after if b.cell)
    return {
        "victims": result.victims,
        "down_after_s": result.down_after_s,
        "marked_down_s": {name: None if s is None else round(s, 3)
                          for name, s in sorted(result.marked_down.items())},
        "builds_after": len(after),
        "placed_after": {name: placed_after.get(name, 0) for name in names},
        "placed_elsewhere_after": sum(
            n for name, n in placed_after.items()
            if name not in result.victims),
        "sent_before_marked_down": len(meanwhile),
        "failed_before_marked_down": sum(1 for b in meanwhile
                                         if b.cell is None),
        "failed_after": sum(1 for b in after if b.cell is None),
        "failure_reasons": dict(collections.Counter(
            _FLOAT.sub("N", b.reason) for b in after
            if b.reason).most_common()),
    }


def _invariants(result):
    owners = collections.defaultdict(list)
    for cell, found in result.cell_instances.items():
        for uuid in found:
            owners[uuid].append(cell)
    held = _held(result)
    top = result.top_instances
    return {
        "settled": result.settled,
        "instances_in_two_cells": sorted(
            u for u, cells in owners.items() if len(cells) > 1),
        "placed_not_active_there": sorted(
            b.uuid for b in result.builds if b.cell is not None
            and result.cell_instances.get(b.cell, {}).get(b.uuid)
            != ACTIVE),
        "active_not_listed_at_top": sorted(
            u for u, (cell, state) in held.items()
            if state == ACTIVE and top.get(u) != (cell, state)),
        "listed_at_top_not_in_cell": sorted(
            u for u, where in top.items() if held.get(u) != where),
    }


def broken(report):
    """One line per invariant the run broke (empty: none)."""
    labels = {"instances_in_two_cells": "instances in two cells",
              "placed_not_active_there":
                  "builds placed but not ACTIVE in the cell named",
              "active_not_listed_at_top":
                  "ACTIVE instances the top does not list",
              "listed_at_top_not_in_cell":
                  "instances the top lists that their cell does not hold"}
    found = report["invariants"]
    return [f"{labels[key]}: {len(found[key])} (first {found[key][0]})"
            for key in labels if found[key]]


def emit(report, as_json, cleanup_problems=()):
    """Print ``report`` (JSON or text) and each problem on stderr; the
    exit status: 3 when an invariant broke, 1 when a cleanup failed (a
    vhost left behind), else 0."""
    print(json.dumps(report, indent=2, sort_keys=True) if as_json
          else format_text(report), flush=True)
    for problem in cleanup_problems:
        print(f"hoststate: simulate: {problem}", file=sys.stderr)
    problems = broken(report)
    if problems:
        print(f"hoststate: simulate: {'; '.join(problems)}", file=sys.stderr)
        return EXIT_BROKEN
    return 1 if cleanup_problems else 0


# --- text ------------------------------------------------------------------------------

def format_text(report):
    placements = report["placements"]
    latency = report["latency_ms"]
    lines = [
        f"hoststate simulate: {report['cells']} cells, {report['nodes']:,} "
        f"nodes, {report['requests']:,} requests on {report['transport']}",
        f"  setup              {report['setup_seconds']:.1f} s",
        f"  run                {report['run_seconds']:.1f} s, "
        f"{report['builds_per_second']:.1f} builds/s",
        f"  placed             {placements['placed']:,}  failed "
        f"{placements['failed']:,} (NoValidHost "
        f"{placements['no_valid_host']:,})"]
    for name, counts in placements["per_cell"].items():
        lines.append(f"    {name:<16} built {counts['built']:,}, named in "
                     f"{counts['named_in_failures']:,} failures")
    lines.append("  latency ms         count      p50      p95      p99")
    for stage, p in latency.items():
        lines.append(f"    {stage:<16} {p['count']:>7,} {p['p50']:>8.2f} "
                     f"{p['p95']:>8.2f} {p['p99']:>8.2f}")
    lines += _kill_lines(report["kill"])
    problems = broken(report)
    lines.append(f"  invariants         {'; '.join(problems) or 'kept'}"
                 + ("" if report["invariants"]["settled"] else
                    " (the sync did not settle)"))
    return "\n".join(lines)


def _kill_lines(kill):
    if not kill:
        return []
    down = ", ".join(f"{name} {'not seen' if s is None else f'{s:.2f} s'}"
                     for name, s in kill["marked_down_s"].items())
    lines = [f"  killed             {', '.join(kill['victims'])} "
             f"(down after {kill['down_after_s']:g} s of silence)",
             f"    marked down      {down}",
             f"    after the kill   {kill['builds_after']:,} builds, "
             f"{kill['placed_elsewhere_after']:,} placed in other cells, "
             f"{kill['failed_after']:,} failed",
             f"    before detected  {kill['sent_before_marked_down']:,} "
             f"sent, {kill['failed_before_marked_down']:,} failed"]
    lines += [f"      {count:>5}  {reason}"
              for reason, count in kill["failure_reasons"].items()]
    return lines


# --- where the time goes -----------------------------------------------------------

class Probes:
    """Timing wrappers on the tree's objects, for one run: ``timings``
    {stage: array of seconds}. Stages: ``top_choose`` (the top's
    ``CellsService.choose``), ``forward`` (the top's call to a child, all
    below included), ``child_choose``, ``child_conductor`` (the child's
    conductor call: its scheduler's choice and the cast), ``agent_build``
    (an agent's build, claim to ACTIVE)."""

    def __init__(self, top, children):
        self.timings = collections.defaultdict(lambda: array.array("d"))
        self._lock = threading.Lock()
        self._undo = []
        self._wrap(top.service, "choose", self._timed("top_choose"))
        self._wrap(top.service, "child_api", self._timed_client("forward"))
        for child in children:
            self._wrap(child.service, "choose", self._timed("child_choose"))
            self._wrap(child.service, "conductor",
                       self._timed_client("child_conductor"))
            for server in child._servers:
                endpoint = server.dispatcher.endpoints[0]
                self._wrap(endpoint, "build_and_run_instance",
                           self._timed("agent_build"))

    def record(self, stage, seconds):
        with self._lock:
            self.timings[stage].append(seconds)

    def remove(self):
        for undo in reversed(self._undo):
            undo()
        self._undo = []

    def _wrap(self, owner, name, wrapper):
        original = getattr(owner, name)
        setattr(owner, name, wrapper(original))
        self._undo.append(lambda: owner.__dict__.pop(name, None))

    def _timed(self, stage):
        def wrapper(method):
            def timed(*args, **kwargs):
                started = time.perf_counter()
                try:
                    return method(*args, **kwargs)
                finally:
                    self.record(stage, time.perf_counter() - started)
            timed.exposed = True
            return timed
        return wrapper

    def _timed_client(self, stage):
        """A wrapper of a method giving a client, whose build calls are
        timed as ``stage``."""
        probes = self

        def wrapper(method):
            def client(*args, **kwargs):
                found = method(*args, **kwargs)
                return None if found is None else _TimedBuilds(
                    found, probes._timed(stage))
            return client
        return wrapper


class _TimedBuilds:
    """A client whose build call (a cells client's ``build_instances``, a
    conductor client's ``schedule_and_build_instances``) is timed; the
    rest passes through."""

    _BUILDS = ("build_instances", "schedule_and_build_instances")

    def __init__(self, client, timed):
        self._client = client
        for name in self._BUILDS:
            if hasattr(client, name):
                setattr(self, name, timed(getattr(client, name)))

    def __getattr__(self, name):
        return getattr(self._client, name)
