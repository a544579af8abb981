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

    def __init__(self, rows, weights, top=TOP, keep_ties=True):
        self.rows = rows
        self.weights = weights
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
        self._tail = None

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
