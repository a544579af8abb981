"""The weighers a parent cell sums to rank the cells that passed.

A weigher gives one raw weight per candidate, as a numpy array over all
of them at once (``raw_weights(candidates, request)``); ``weigh``
normalises each weigher's array as the host weighers do (Nova's min-max,
``hoststate.scheduler.weights.normalize``: all 0 when every value is
equal), multiplies it by the weigher's ``[cells]`` multiplier and sums.

Each cell's sum is then multiplied by its ``weight_scale`` (``cell-add
--weight-scale``, "multiplies the cell's weight"). Nova's cells table
had the column, but none of Nova's documented cell weighers read it
(its offset weigher reads ``weight_offset`` only); the scale is applied
here as the command promises, after the sum, so a scale of 1 (the
default) changes nothing and a scale of 0 makes a cell weigh 0.
"""
import numpy as np

from hoststate.cells import cell_filters
from hoststate.scheduler import plugins
from hoststate.scheduler.weights import normalize

WEIGHERS = plugins.Registry(cell_filters.WEIGHER_GROUP, "cell weigher")
#: the largest float: an unbounded unit count (a request taking nothing)
#: weighs as this, so normalising never meets inf - inf
_FINITE = np.finfo(np.float64).max


class CellWeigher:
    """One weigher: ``raw_weights`` over every candidate, and its
    multiplier, the ``[cells]`` option ``multiplier_option`` (read when
    the chain is built)."""

    multiplier_option = None

    def __init__(self, conf):
        self.multiplier = float(conf.cells[self.multiplier_option])

    @property
    def name(self):
        return type(self).__name__

    def raw_weights(self, candidates, request):
        raise NotImplementedError


@WEIGHERS.register
class RamByFreeUnitsWeigher(CellWeigher):
    """Raw weight: how many instances of the request the cell holds
    (``cell_filters.units_for``, the capacity filter's own count), so a
    positive multiplier spreads builds over the cells with the most room
    for this flavor. Nova's RamByInstanceTypeWeigher counted free units
    of the flavor's memory size alone."""

    multiplier_option = "ram_weight_multiplier"

    def raw_weights(self, candidates, request):
        raw = np.array([request.units(c) for c in candidates],
                       dtype=np.float64)
        return np.minimum(raw, _FINITE)


@WEIGHERS.register
class WeightOffsetWeigher(CellWeigher):
    """Raw weight: the cell's ``weight_offset`` (``cell-add
    --weight-offset``): an operator prefers a cell with a large offset
    (Nova's use: one default cell with a huge offset) or avoids one with
    a negative offset."""

    multiplier_option = "offset_weight_multiplier"

    def raw_weights(self, candidates, request):
        return np.array([c.weight_offset for c in candidates],
                        dtype=np.float64)


def weigh(weighers, candidates, request):
    """The weight of each candidate (an array, in ``candidates``'
    order): Σ multiplier × normalize(raw), times the cell's
    ``weight_scale``."""
    total = np.zeros(len(candidates))
    for weigher in weighers:
        if weigher.multiplier:
            total += weigher.multiplier * normalize(
                weigher.raw_weights(candidates, request))
    scale = np.array([c.weight_scale for c in candidates], dtype=np.float64)
    return total * scale
