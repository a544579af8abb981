"""Whole cells in one process, for the cells service's tests and
benchmarks: a thin layer over :mod:`hoststate.simulation.cell_tree` (one
definition of a cell) whose databases are the tests' own
(``IsolatedDatabase``: SQLite, PostgreSQL or MySQL, dropped afterwards)
and whose cells services answer listings as the command line does.

    top = InProcessCell("api", bus_url("api"), backend, tmp_path)
    child = InProcessCell("c1", bus_url("c1"), backend, tmp_path,
                          hosts=2)
    link(top, child)            # both cells tables, as cell-add does
    for cell in (top, child): cell.start()
"""
from hoststate.cli import cell_views
from hoststate.simulation import cell_tree
from hoststate.simulation.cell_tree import (  # noqa: F401 - the API here
    NODE_SHAPE, cell_conf, link, stop_all, wait_until)
from support.databases import IsolatedDatabase


class InProcessCell(cell_tree.Cell):
    """A cell of ``hosts`` hosts of ``nodes_per_host`` nodes each, on a
    database of its own on ``backend``."""

    def __init__(self, name, bus_url, backend, tmp_path, hosts=0,
                 nodes_per_host=1, node_shape=None, **cells_options):
        self.database = IsolatedDatabase(backend, tmp_path, with_schema=True)
        super().__init__(name, bus_url, self.database.engine,
                         layout=[nodes_per_host] * hosts,
                         node_shape=node_shape, views=cell_views.rows_for,
                         **cells_options)
        self.nodes_per_host = nodes_per_host

    def drop(self):
        self.database.drop()
