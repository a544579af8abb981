"""What ``cell-add`` asks before it records a neighbour: that a cells
service answers on the URL, that it is the cell named, and that the
link makes no loop.

Asked of the new neighbour (``hello``: its name, its path if it knows
one, its parent's name) and, when it answers, of this cell's own
service (its path). Refused, with nothing stored:

* nothing answers within ``HELLO_TIMEOUT_S`` (or ``[cells]
  call_timeout`` if shorter): CellUnreachable;
* another cell answers: CellMismatch;
* a child that already has another parent, or a cell that is already
  on this cell's path (an ancestor as a child, a descendant as the
  parent): CellCycle.

A loop the two ends cannot see (through cells whose services are not
running yet) is stopped at run time by ``[cells] max_hop_count``.
"""
import oslo_messaging as messaging

from hoststate import exception
from hoststate import rpc
from hoststate.cells import rpcapi
from hoststate.cells import tree
from hoststate import context as hs_context

#: longest wait for a neighbour's answer, seconds
HELLO_TIMEOUT_S = 10


def hello_of(conf, url):
    """The cells service's ``hello`` at ``url``, or None if nothing
    answers in time."""
    timeout = min(HELLO_TIMEOUT_S, conf.cells.call_timeout)
    try:
        return rpcapi.CellsAPI(conf, url, timeout=timeout).hello(
            hs_context.get_admin_context(engine=None), timeout=timeout)
    except messaging.MessagingException:
        return None


def check(conf, name, role, url, own_name=None):
    """Refuse (see the module docstring) unless cell ``name`` answers at
    ``url`` and may be this cell's ``role``."""
    own_name = own_name or conf.cells.name
    peer = hello_of(conf, url)
    if peer is None:
        raise exception.CellUnreachable(
            name=f"{name} at {rpc.shown_url(url)}",
            timeout=min(HELLO_TIMEOUT_S, conf.cells.call_timeout))
    if peer["name"].casefold() != name.casefold():
        raise exception.CellMismatch(url=rpc.shown_url(url), name=name,
                                     answered=peer["name"])
    own = hello_of(conf, rpc.transport_url(conf)) \
        if conf.transport_url else None
    own_path = own and own.get("path")
    if role == tree.CHILD:
        _check_child(name, peer, own_name, own_path)
    else:
        _check_parent(name, peer, own_name)


def _folded(path):
    return [n.casefold() for n in tree.split(path)] if path else []


def _check_child(name, peer, own_name, own_path):
    if peer["parent"] is not None and \
            peer["parent"].casefold() != own_name.casefold():
        raise exception.CellCycle(name=name, reason=(
            f"it already has a parent, {peer['parent']}"))
    if name.casefold() in _folded(own_path):
        raise exception.CellCycle(name=name, reason=(
            f"it is on this cell's own path, {own_path}"))


def _check_parent(name, peer, own_name):
    if own_name.casefold() in _folded(peer["path"]):
        raise exception.CellCycle(name=name, reason=(
            f"this cell is on its path, {peer['path']}"))
