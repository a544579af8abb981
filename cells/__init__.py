"""Cells v1: a tree of clouds, each cell with its own database and broker.

* the tree: :mod:`~hoststate.cells.tree` (the ``cells`` table, paths),
  :mod:`~hoststate.cells.handshake` (what ``cell-add`` asks first);
* what a cell broadcasts up: :mod:`~hoststate.cells.capabilities`,
  :mod:`~hoststate.cells.capacity`;
* choosing a cell: :mod:`~hoststate.cells.scheduling` with
  :mod:`~hoststate.cells.cell_filters` and
  :mod:`~hoststate.cells.cell_weighers` (pure);
* the service: :mod:`~hoststate.cells.service` (its loops,
  :mod:`~hoststate.cells.periodic`), what it knows of its children
  (:mod:`~hoststate.cells.neighbours`), what it serves
  (:mod:`~hoststate.cells.endpoint`, :mod:`~hoststate.cells.rpcapi`) and
  how requests travel (:mod:`~hoststate.cells.routing`);
* instance sync: :mod:`~hoststate.cells.sync` (a child's sender), over
  :mod:`~hoststate.cells.instance_feed` (its database end) and
  :mod:`~hoststate.cells.instance_store` (the top's).
"""
