"""Cells v1: a tree of clouds, each cell with its own database and broker.

Only the tree itself exists so far (:mod:`hoststate.cells.tree`: the rows
naming this cell's parent and children, and the cell path syntax); the
cells service, broadcasts, cell scheduling and instance sync come later.
"""
