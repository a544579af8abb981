"""The benchmark gate's machinery: interleaved timing, the ratio check and
the committed floor file.

Seconds measured on a shared machine move by tens of percent from one run
to the next, so the gate never compares seconds with a number: it times
two computations of the same answer in the same run, alternately (one
round is one run of each), and compares their ratio with a floor. Load
that slows the machine during a round slows both; the medians over the
rounds drop the rounds it hit one of them harder. The clock is the
process's CPU time, so time spent waiting for a CPU while other processes
run counts for neither.

The floors live in ``gate_floors.json`` beside this module, one per
scenario: ``{"<scenario>": {"floor": ratio, "measured": ratio}}``.
``HOSTSTATE_GATE_UPDATE=1`` makes a gate run record, for each scenario it
measures, the measured ratio and a new floor of that divided by
``MARGIN``, printing the old and new values (see README, "Benchmarks").
"""
import gc
import json
import os
import pathlib
import statistics
import time

from hoststate import exception

#: The committed floors.
FLOORS_PATH = pathlib.Path(__file__).with_name("gate_floors.json")
#: Set (to anything but "" or "0") to record new floors instead of checking.
UPDATE_ENV = "HOSTSTATE_GATE_UPDATE"
#: A new floor is the measured ratio divided by this: far enough below it
#: that noise does not reach it, close enough that a regression making
#: the vectorized path several times slower does.
MARGIN = 2.0
#: How to record floors on purpose (named in every message about them).
UPDATE_COMMAND = (f"{UPDATE_ENV}=1 pytest benchmarks/bench_gate.py "
                  "--benchmark-enable")


class GateFloorMissing(exception.HoststateError, LookupError):
    msg_fmt = ("no floor recorded for scenario %(scenario)r in %(path)s "
               "(it has: %(known)s); record one on purpose with "
               "%(command)s")


class GateFloorInvalid(exception.HoststateError, ValueError):
    msg_fmt = "%(path)s: %(field)s cannot be %(value)r: %(reason)s"


def updating(environ=os.environ):
    """Whether this run records new floors (``HOSTSTATE_GATE_UPDATE``)."""
    return environ.get(UPDATE_ENV, "") not in ("", "0")


# --- timing ------------------------------------------------------------------

def timed(run, setup=None):
    """(CPU seconds of ``run(*setup())``, its result); ``setup`` (untimed)
    prepares fresh arguments. The garbage collector is paused while the
    clock runs, as ``timeit`` does, so a collection that the other side's
    garbage caused is not charged to this one."""
    arguments = setup() if setup is not None else ()
    enabled = gc.isenabled()
    gc.disable()
    try:
        started = time.process_time()
        result = run(*arguments)
        elapsed = time.process_time() - started
    finally:
        if enabled:
            gc.enable()
    return elapsed, result


class Interleaved:
    """``rounds`` rounds of A then B; each side's times and results."""

    def __init__(self, rounds, run_a, run_b, setup_a=None, setup_b=None):
        self.times_a, self.times_b = [], []
        self.results_a, self.results_b = [], []
        for _ in range(rounds):
            for run, setup, times, results in (
                    (run_a, setup_a, self.times_a, self.results_a),
                    (run_b, setup_b, self.times_b, self.results_b)):
                elapsed, result = timed(run, setup)
                times.append(elapsed)
                results.append(result)

    @property
    def median_a(self):
        return statistics.median(self.times_a)

    @property
    def median_b(self):
        return statistics.median(self.times_b)

    @property
    def ratio(self):
        """How many times faster A is than B (medians)."""
        return self.median_b / max(self.median_a, 1e-9)


def ratio_failure(scenario, timing, floor):
    """The gate's failure message when ``timing.ratio`` is below
    ``floor``, else None."""
    if timing.ratio >= floor:
        return None
    return (f"{scenario}: vectorized is {timing.ratio:.1f}x faster than the "
            f"per-host reference, below the floor of {floor:.1f}x "
            f"(medians of {len(timing.times_a)} rounds: vectorized "
            f"{timing.median_a * 1e3:.2f} ms, reference "
            f"{timing.median_b * 1e3:.2f} ms). If the slowdown is meant, "
            f"record new floors with {UPDATE_COMMAND}")


# --- the floor file ------------------------------------------------------------

def load_floors(path=FLOORS_PATH):
    """{scenario: {"floor": ratio, "measured": ratio}} from ``path`` ({}
    when the file does not exist); a malformed file is GateFloorInvalid
    naming what is wrong."""
    path = pathlib.Path(path)
    if not path.exists():
        return {}
    try:
        floors = json.loads(path.read_text())
    except ValueError as exc:
        raise GateFloorInvalid(path=path, field="the file",
                               value=path.read_text()[:80],
                               reason=f"not JSON ({exc})") from None
    if not isinstance(floors, dict):
        raise GateFloorInvalid(path=path, field="the file", value=floors,
                               reason="must be an object of scenarios")
    for scenario, entry in floors.items():
        floor = entry.get("floor") if isinstance(entry, dict) else None
        if isinstance(floor, bool) or not isinstance(floor, (int, float)) \
                or not floor > 0:
            raise GateFloorInvalid(path=path, field=f"{scenario!r} floor",
                                   value=floor,
                                   reason="must be a number above 0")
    return floors


def floor_of(scenario, path=FLOORS_PATH):
    """The recorded floor of ``scenario`` (GateFloorMissing if none)."""
    floors = load_floors(path)
    if scenario not in floors:
        raise GateFloorMissing(scenario=scenario, path=path,
                               known=", ".join(map(repr, sorted(floors)))
                               or "nothing",
                               command=UPDATE_COMMAND)
    return float(floors[scenario]["floor"])


def record(scenario, measured, path=FLOORS_PATH):
    """Write ``measured`` and a floor of ``measured / MARGIN`` for
    ``scenario`` into ``path``, keeping the other scenarios; returns the
    (old entry or None, new entry)."""
    if not measured > 0:
        raise GateFloorInvalid(path=path, field=f"{scenario!r} measured",
                               value=measured, reason="must be above 0")
    path = pathlib.Path(path)
    floors = load_floors(path)
    old = floors.get(scenario)
    new = {"floor": _three_digits(measured / MARGIN),
           "measured": _three_digits(measured)}
    floors[scenario] = new
    path.write_text(json.dumps(floors, indent=2, sort_keys=True) + "\n")
    return old, new


def _three_digits(number):
    """``number`` to three significant digits (never 0 when positive)."""
    return float(f"{number:.3g}")
