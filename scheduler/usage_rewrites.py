"""Whether rewriting known rows of the table changed their usage alone.

A node read again (the loop's re-read after an agent's delete, a refresh
that finds a few nodes changed) is written into the table whole, and a
whole-row write used to move the table's version as a change of anything
would: every derived column (``scheduler.derived``) was then rebuilt over
every row at the next select, a few milliseconds at 100,000 nodes, for
what was nearly always a node whose usage, stats and generation had moved
(291 rebuilds in 1,000 requests of a 100,000-node simulation). Comparing
what a usage change never writes, before and after, tells such a rewrite
from a real change, and the table logs it as the usage change it is.
"""
from hoststate.scheduler import derived

#: Rows compared one rewrite at most (more: a whole rebuild is as cheap).
MOST_ROWS = 64


def _not_usage(names, usage):
    return tuple(name for name in names if name not in usage)


def outside_usage(table, rows):
    """What a usage change never writes, at ``rows`` (bytes to compare:
    NaN equals NaN, and an interned column's codes stand for its values;
    a compaction renumbering them reads as a change, which only costs a
    rebuild), or None when there are too many rows to be worth it."""
    if len(rows) > MOST_ROWS:
        return None
    scalars = _not_usage(table.columns, derived.USAGE_WRITTEN)
    documents = _not_usage(table.interned, derived.USAGE_WRITTEN_DOCUMENTS)
    return ([table.columns[name][rows].tobytes() for name in scalars] +
            [table.interned[name].codes[rows].tobytes()
             for name in documents])
