"""Candidate rows in order of weight, sorted only as far as anyone reads.

A request needs its best host (and a few alternates), not a total order of
a hundred thousand: the best rows are found with a partial partition and
sorted; the rest are sorted only if claims on all of those were lost.
"""
import numpy as np

#: How many best rows are sorted at once.
_TOP = 32


class Ranking:
    """Candidate rows best first, sorted lazily.

    The best ``_TOP`` rows (every row tied with the last of them included)
    are sorted at once; the others only when someone reads past them, which
    happens only when that many claims in a row were lost.
    """

    def __init__(self, rows, weights):
        self.rows = rows
        self.weights = weights
        if len(rows) > _TOP:
            top = np.argpartition(-weights, _TOP - 1)[:_TOP]
            top = np.flatnonzero(weights >= weights[top].min())
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
