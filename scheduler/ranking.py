"""Candidate rows in order of weight, sorted only as far as anyone reads.

A request needs its best host (and a few alternates), not a total order of
a hundred thousand: the best rows are found with a partial partition and
sorted; the rest are sorted only if claims on all of those were lost.
"""
import numpy as np

#: How many best rows are sorted at once.
TOP = 32


class Ranking:
    """Candidate rows best first, sorted lazily.

    The best ``top`` rows are sorted at once (with ``keep_ties``, every
    row tied with the last of them too: shuffling the best hosts needs
    all of them); the others only when someone reads past them, which
    happens only when that many claims in a row were lost. Ties keep the
    table's order either way.
    """

    def __init__(self, rows, weights, top=TOP, keep_ties=True, pool=None):
        """``pool``: a ``Pool`` of ``weights``, when one is kept: the best
        are then looked for among its positions only."""
        self.rows = rows
        self.weights = weights
        self._tail = None
        if len(rows) > top and pool is not None and \
                len(pool.positions) >= top:
            self._head_of_pool(pool.positions, top, keep_ties)
            return
        if len(rows) > top:
            threshold = _threshold(weights, top)
            if keep_ties:
                top = np.flatnonzero(weights >= threshold)
            else:
                above = np.flatnonzero(weights > threshold)
                tied = np.flatnonzero(weights == threshold)
                top = np.sort(np.concatenate(
                    [above, tied[:max(0, top - len(above))]]))
        else:
            top = np.arange(len(rows))
        order = top[np.argsort(-weights[top], kind="stable")]
        self._top = top
        self.head = rows[order].tolist()
        self._head_weights = weights[order]

    def _head_of_pool(self, positions, top, keep_ties):
        """The head from a pool's ``positions`` (every weight at least the
        ``top``-th largest is among them): their stable order by weight
        starts with the head the whole array gives, the ``top`` best
        (above the ``top``-th largest weight, then the first tied with
        it), or with ``keep_ties`` every one tied with it too."""
        weights = self.weights[positions]
        order = (-weights).argsort(kind="stable")
        ordered = weights[order]
        count = top
        if keep_ties:
            count = int(np.count_nonzero(ordered >= ordered[top - 1]))
        order = positions[order[:count]]
        self._top = order
        self.head = self.rows[order].tolist()
        self._head_weights = ordered[:count]

    def tied_at_top(self):
        return int(np.count_nonzero(self._head_weights ==
                                    self._head_weights[0]))

    def tail(self):
        if self._tail is None:
            keep = np.ones(len(self.rows), dtype=bool)
            keep[self._top] = False
            rest = np.flatnonzero(keep)
            rest = rest[np.argsort(-self.weights[rest], kind="stable")]
            self._tail = self.rows[rest].tolist()
        return self._tail

    def __iter__(self):
        yield from self.head
        if len(self.head) < len(self.rows):
            yield from self.tail()

    def __len__(self):
        return len(self.rows)


#: Most weight levels counted from the top before a partition is used.
_LEVELS = 32


def _threshold(weights, top=TOP):
    """The ``top``-th largest weight.

    The hosts of a cloud are often equal, and a partition (introselect)
    is twenty times slower when its k-th element sits in a block of
    thousands of ties (1.1 ms at 10,000 hosts against 50 us). So the top
    levels are counted first, while they hold ties: an equal cloud is one
    pass. A level of one host means distinct weights, where the
    partition is fast, and it takes over. (A few distinct best hosts
    above a block of thousands of ties still costs the slow partition.)
    """
    level = weights.max()
    lower = weights
    counted = 0
    for _ in range(_LEVELS):
        at_level = np.count_nonzero(lower == level)
        counted += at_level
        if counted >= top:
            return level
        if at_level == 1:
            break                   # distinct weights: partition
        lower = lower[lower < level]
        if lower.size == 0:
            return level
        level = lower.max()
    needed = top - counted + 1      # the partition still holds ``level``
    return np.partition(lower, lower.size - needed)[lower.size - needed]


#: Best weights a Pool holds when made (it then holds every tie of the
#: last of them too).
POOL = 256


class Pool:
    """The positions (ascending) of every weight of an array at least
    ``floor``: the best of them are the best of the whole array as long
    as there are at least as many positions as are looked for (the
    ``top``-th largest weight is then at least ``floor``, and every
    weight tied with it is in). Kept beside an array whose weights change
    in place a few at a time (``weight_totals``), so a select ranks a few
    hundred weights instead of every candidate's.
    """

    __slots__ = ("positions", "floor")

    def __init__(self, positions, floor):
        self.positions = positions
        self.floor = floor

    @classmethod
    def of(cls, weights, size=POOL):
        """The Pool of the best ``size`` weights and their ties, or None
        when it would not be much smaller than the array (or a weight is
        NaN, which ranks apart)."""
        if len(weights) <= 4 * size:
            return None
        floor = _threshold(weights, size)
        if floor != floor:
            return None             # a NaN: weights.max() is NaN
        positions = np.flatnonzero(weights >= floor)
        if len(positions) > 4 * size:
            return None             # ties: hardly smaller
        return cls(positions, floor)

    def moved(self, position, old, new):
        """The weight at ``position`` went from ``old`` to ``new``: False
        when the pool can no longer be kept (a NaN, or too few or too
        many positions left), else True with ``position`` in or out."""
        if new != new:
            return False
        was, now = old >= self.floor, new >= self.floor
        if was == now:
            return True
        at = int(np.searchsorted(self.positions, position))
        if now:
            self.positions = np.insert(self.positions, at, position)
        else:
            self.positions = np.delete(self.positions, at)
        return TOP <= len(self.positions) <= 8 * POOL
