"""Cells v1: a tree of clouds, each cell with its own database and broker.

What exists so far: the tree itself (:mod:`hoststate.cells.tree`: the
rows naming this cell's parent and children, and the cell path syntax)
and what a cell will broadcast up (:mod:`hoststate.cells.capabilities`,
:mod:`hoststate.cells.capacity`). The cells service that sends it, cell
scheduling and instance sync come later.
"""
