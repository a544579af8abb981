"""A ranking Pool (``ranking.Pool``) gives exactly the head the whole
array gives, after any in-place changes it was told of; and the pool kept
beside a request's weight totals (``weight_totals.pool``) follows the
table's changes."""
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from hoststate.scheduler import derived
from hoststate.scheduler import ranking
from hoststate.scheduler import weight_totals

#: A pool of the best 40 (and their ties) in arrays of 161..400 weights.
SIZE = 40
LEVELS = [0.0, 0.25, 0.5, 1.0, 2.0, -1.0]
WEIGHT = st.sampled_from(LEVELS) | st.floats(-5, 5, allow_nan=False)


def _head(weights, top, keep_ties, pool=None):
    rows = np.arange(len(weights)) * 3 + 7
    order = ranking.Ranking(rows, weights, top=top, keep_ties=keep_ties,
                            pool=pool)
    return order.head, order.tied_at_top(), list(order)


@settings(max_examples=80, deadline=None)
@given(st.lists(WEIGHT, min_size=161, max_size=400), st.booleans(),
       st.integers(1, 32),
       st.lists(st.tuples(st.integers(0, 399), WEIGHT), max_size=60))
def test_the_pool_head_is_the_whole_arrays_head(values, keep_ties, top,
                                                changes):
    weights = np.asarray(values, dtype=float)
    pool = ranking.Pool.of(weights, size=SIZE)
    for position, value in changes:
        position %= len(weights)
        if pool is not None and not pool.moved(
                position, float(weights[position]), value):
            pool = None
        weights[position] = value
        if pool is None:
            pool = ranking.Pool.of(weights, size=SIZE)
        else:
            assert pool.positions.tolist() == \
                np.flatnonzero(weights >= pool.floor).tolist()
        assert _head(weights, top, keep_ties, pool) == \
            _head(weights, top, keep_ties)


def test_a_pool_is_made_of_the_best_and_their_ties():
    weights = np.r_[np.zeros(300), np.arange(50.0)]
    pool = ranking.Pool.of(weights, size=SIZE)
    assert pool.floor == 10.0
    assert pool.positions.tolist() == list(range(310, 350))
    # a weight rising to the floor joins, one falling below leaves
    assert pool.moved(3, 0.0, 10.0)
    assert pool.positions.tolist() == [3] + list(range(310, 350))
    assert pool.moved(349, 49.0, 1.0)
    assert pool.positions.tolist() == [3] + list(range(310, 349))
    # a NaN ranks apart: no pool
    assert not pool.moved(5, 0.0, float("nan"))


def test_no_pool_when_ties_fill_the_array_or_a_weight_is_nan():
    assert ranking.Pool.of(np.zeros(1000), size=SIZE) is None
    weights = np.arange(1000.0)
    weights[7] = np.nan
    assert ranking.Pool.of(weights, size=SIZE) is None
    assert ranking.Pool.of(np.arange(100.0), size=SIZE) is None


class _Table:
    """Just what ``derived`` reads: a version and a usage log."""
    version = 0
    size = 0


def _store_with_last_totals(total):
    """A derived store whose last weight totals are ``total``: (store,
    the entry)."""
    store = derived.Derived(_Table())
    store.version = 0
    store.mask = np.zeros(0, dtype=bool)
    entry = weight_totals._Totals()
    entry.total, entry.pool = total, None
    store.value(("weight totals: the last",), dict)["entry"] = entry
    return store, entry


def test_the_kept_pool_is_of_the_last_totals_only():
    weights = np.arange(2000.0)
    store, _ = _store_with_last_totals(weights)
    pool = weight_totals.pool(store, weights)
    assert pool.positions.tolist() == list(range(1744, 2000))
    assert weight_totals.pool(store, weights) is pool
    assert weight_totals.pool(store, weights.copy()) is None


def test_totals_of_ties_have_no_pool_until_they_are_summed_again():
    ties = np.zeros(2000)
    store, entry = _store_with_last_totals(ties)
    assert weight_totals.pool(store, ties) is None
    assert entry.pool is False          # not looked for again
    entry.weighers = []
    weight_totals._sum(entry, 2000)     # a new array: looked for again
    assert entry.pool is None
