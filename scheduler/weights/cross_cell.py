"""CrossCellWeigher: a move that may leave its cell should still stay in it
when it can.

Moving across cells copies the instance between databases and is far
slower than a move within a cell, so when the request allows a cross-cell
move, hosts in the preferred cell weigh +1 and every other host -1 (with a
very large default multiplier, this outweighs every other weigher). For any
other request every host weighs 0.

The preferred cell is ``request.source_cell`` (the cell the instance is in),
or else the cell of the requested destination, which is where a cross-cell
move request names the instance's cell.
"""
import numpy as np

from hoststate.scheduler.weights import BaseHostWeigher


def preferred_cell(request):
    """The uuid of the cell a cross-cell move should stay in, or None."""
    if request.source_cell is not None:
        return request.source_cell
    destination = request.spec.obj_get("requested_destination")
    cell = destination.obj_get("cell") if destination is not None else None
    return cell.obj_get("uuid") if cell is not None else None


class CrossCellWeigher(BaseHostWeigher):
    """+1 in the preferred cell, -1 elsewhere, for cross-cell moves only."""

    multiplier_option = "cross_cell_move_weight_multiplier"

    def applies(self, request):
        return bool(request.allow_cross_cell_move)

    def raw_weights(self, table, rows, request):
        cell = preferred_cell(request) if request.allow_cross_cell_move \
            else None
        if cell is None:
            return np.zeros(len(rows))
        code = table.interned["cell"].find(cell)
        if code is None:
            return np.full(len(rows), -1.0)
        return np.where(table.codes("cell")[rows] == code, 1.0, -1.0)
