"""A request's total weights, kept between selects while only usage
changes.

When every weigher a request runs reads a derived raw-weight column
(``RAW_PER_ROW``) and the candidate rows are the same array as before
(the filter run ``filter_chain`` keeps), the totals follow from those
columns, the multipliers and each weigher's bounds. They are kept per
table state and weigher plan; a usage change of some rows then changes
those rows' raw weights only:

* a weigher's bounds (``weights.bounds``: its ``minval``/``maxval``, else
  the rows' minimum or maximum) move only if a changed row held one of
  them (then it is found again) or passes it;
* when no bound moved, each part (``weights.part``) and the total are
  computed again on the changed rows alone, in the same order of
  operations, so bit for bit as a full computation; when one moved,
  that weigher's part and the total are computed again whole.

Anything else (NaN weights, another table change, other rows) builds
them again. The totals of the last ``MAX_KEPT`` row arrays are kept
(requests of a few flavors take turns). The totals returned are
read-only. Beside the last totals a ``ranking.Pool`` is kept (``pool``):
the positions of the best few hundred totals, moved as the totals are,
so the ranking sorts those instead of every row.
"""
import numpy as np

from hoststate.scheduler import ranking
from hoststate.scheduler import weights as weights_mod

#: Row arrays (requests) whose totals are kept per weigher plan.
MAX_KEPT = 8
#: More rows changed than this since the totals were made: made again.
FEW_ROWS = 32


class _Weigher:
    """One weigher's state over the rows: its raw weights (clamped), its
    multipliers (a number or an array over the rows), its bounds and its
    part of the total (None when it adds nothing)."""

    __slots__ = ("weigher", "raw", "multipliers", "silent", "low", "high",
                 "part")


class _Totals:
    __slots__ = ("rows", "weighers", "total", "version", "pool")


def totals(store, table, rows, request, plan):
    """The total weight of each of ``rows`` (every one a candidate of
    ``store``) for ``plan``: (weigher, its uniform multiplier or None)
    for every weigher that applies and is not constant."""
    key = ("weight totals", tuple(
        (weigher.name, multiplier if multiplier is not None
         else ("aggregates", weigher.config_multiplier()))
        for weigher, multiplier in plan))
    held = store.value(key, dict)       # id(rows) -> _Totals
    entry = held.get(id(rows))
    if entry is None or entry.rows is not rows or \
            not _caught_up(entry, store, table, request):
        entry = _build(store, table, rows, request, plan)
        if len(held) >= MAX_KEPT:
            held.clear()
        held[id(rows)] = entry
    store.value(("weight totals: the last",), dict)["entry"] = entry
    return entry.total


def pool(store, total):
    """The ``ranking.Pool`` of ``total`` when it is the totals array
    ``totals`` returned last (made on first use, kept while only a few
    of its weights change in place), else None."""
    entry = store.value(("weight totals: the last",), dict).get("entry")
    if entry is None or entry.total is not total:
        return None
    if entry.pool is None:
        # False: none for this array (ties), not looked for again
        entry.pool = ranking.Pool.of(total) or False
    return entry.pool or None


def _build(store, table, rows, request, plan):
    entry = _Totals()
    entry.rows = rows
    entry.version = table.version
    entry.weighers = []
    span = getattr(rows, "span", None)
    for weigher, multipliers in plan:
        state = _Weigher()
        state.weigher = weigher
        if multipliers is None:
            multipliers = weights_mod.multipliers_of(weigher, table, rows,
                                                     request, store)
            state.silent = not multipliers.any()
        else:
            state.silent = multipliers == 0
        state.multipliers = multipliers
        column = weights_mod.raw_column(store, table, weigher, request)
        state.raw = column[rows] if span is None else column[span].copy()
        _full_part(state)
        entry.weighers.append(state)
    _sum(entry, len(rows))
    return entry


def _full_part(state):
    """The weigher's bounds and part over every row."""
    weigher = state.weigher
    low, high = weights_mod.bounds(state.raw, weigher.minval,
                                   weigher.maxval)
    # Python floats (the same doubles): ``_move`` does its arithmetic on
    # them without numpy's scalar costs
    state.low, state.high = float(low), float(high)
    state.part = None
    if not state.silent and state.low != state.high:
        state.part = weights_mod.part(state.raw, state.low, state.high,
                                      state.multipliers)


def _sum(entry, count):
    """The total over every row: 0, then each part in order."""
    total = np.zeros(count)
    for state in entry.weighers:
        if state.part is not None:
            total += state.part
    total.flags.writeable = False
    entry.total = total
    entry.pool = None


def _caught_up(entry, store, table, request):
    """Recompute what the usage changes since the entry was built moved
    (see the module docstring); False when the entry must be built
    again. A few rows change between selects (one a select, in memory):
    they are followed one by one, in Python floats (IEEE doubles, as
    numpy's, so bit for bit the same arithmetic)."""
    if entry.version == table.version:
        return True
    changed = store.changed_rows(entry.version)
    if changed is None or len(changed) > FEW_ROWS:
        return False
    rows = entry.rows
    found = []                      # (position in rows, table row)
    for row, at in zip(changed, np.searchsorted(rows, changed).tolist()):
        if at < len(rows) and rows[at] == row:
            found.append((at, row))
    whole = False
    for state in entry.weighers if found else ():
        column = weights_mod.raw_column(store, table, state.weigher,
                                        request)
        moved = _move(state, found, column)
        if moved is None:
            return False
        whole = whole or moved
    if whole:
        _sum(entry, len(rows))
    elif found:
        _patch_total(entry, [at for at, _ in found])
    entry.version = table.version
    return True


def _move(state, found, column):
    """Take the new raw weights of the rows ``found`` ((position, row)
    pairs) from ``column``: True when the weigher's part was computed
    again whole, False when only there, None when the entry must be
    built again (NaN)."""
    raw = state.raw
    old = [raw.item(at) for at, _ in found]
    new = [column.item(row) for _, row in found]
    if any(value != value for value in old + new):
        return None                 # a NaN
    for (at, _), value in zip(found, new):
        raw[at] = value
    weigher = state.weigher
    low, high = state.low, state.high
    if weigher.minval is None:
        low = raw.min().item() if low in old else min(low, min(new))
    if weigher.maxval is None:
        high = raw.max().item() if high in old else max(high, max(new))
    if low != state.low or high != state.high:
        _full_part(state)
        return True
    if state.part is not None:
        multipliers = state.multipliers
        per_row = isinstance(multipliers, np.ndarray)
        for (at, _), value in zip(found, new):
            state.part[at] = weights_mod.part(
                value, low, high, multipliers.item(at)
                if per_row else multipliers, fresh=True)
    return False


def _patch_total(entry, positions):
    """The total at ``positions`` again: 0, then each part there."""
    total = entry.total
    total.flags.writeable = True
    for at in positions:
        value = 0.0
        for state in entry.weighers:
            if state.part is not None:
                value += state.part.item(at)
        if entry.pool and not entry.pool.moved(at, total.item(at), value):
            entry.pool = None
        total[at] = value
    total.flags.writeable = False
