"""Ranking: the lazily sorted order is exactly the full stable sort by
weight, whatever the ties (equal clouds, a few better hosts above a block
of thousands of ties, distinct weights)."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hoststate.scheduler import ranking


def _full_order(rows, weights):
    return rows[np.argsort(-weights, kind="stable")].tolist()


WEIGHTS = st.lists(st.sampled_from([0.0, 0.25, 0.5, 1.0, 2.0, -1.0]) |
                   st.floats(-5, 5, allow_nan=False), min_size=1,
                   max_size=120)


@settings(max_examples=300, deadline=None)
@given(WEIGHTS, st.booleans(), st.integers(1, 40))
def test_the_order_is_the_stable_sort(values, keep_ties, top):
    weights = np.asarray(values, dtype=float)
    rows = np.arange(len(weights)) * 3 + 7
    order = ranking.Ranking(rows, weights, top=top, keep_ties=keep_ties)
    assert list(order) == _full_order(rows, weights)
    assert len(order.head) >= min(top, len(rows))
    if not keep_ties:
        assert len(order.head) == min(top, len(rows))


@pytest.mark.parametrize("weights", [
    np.zeros(10_000),
    np.r_[np.arange(10.0), np.zeros(9_990)],
    np.r_[np.repeat(np.arange(5.0), 3), np.zeros(9_985)],
    np.random.default_rng(1).random(10_000),
    np.round(np.random.default_rng(2).random(10_000) * 3),
])
def test_the_threshold_is_the_top_th_largest(weights):
    assert ranking._threshold(weights) == np.sort(weights)[-ranking.TOP]


def test_keeping_ties_keeps_every_host_tied_with_the_last():
    weights = np.zeros(100)
    order = ranking.Ranking(np.arange(100), weights, keep_ties=True)
    assert order.head == list(range(100))
    assert order.tied_at_top() == 100
