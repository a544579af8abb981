"""The one port through which a scheduler's decisions become writes.

The scheduler core (filters, weighers, ranking) only reads the host-state
table and the request; what it chose is reserved here, and given back here
when the request fails part-way or the build is abandoned. Two
implementations, as kube-scheduler's framework has Reserve and Unreserve:

* ``DatabaseClaims``: the claim in the cell's database (ledger row,
  counters and instance row in one transaction, ``claims``); the table
  then takes the node as stored;
* ``InMemoryClaims``: the table only (a simulation without a database,
  benchmarks, tests): Nova's consume_from_request.

Either way only the HostManager writes the table.
"""
import contextlib
import logging

from hoststate import exception
from hoststate.hardware import capacity
from hoststate.scheduler import claim_release
from hoststate.scheduler import claim_session
from hoststate.scheduler import claims as claims_mod

LOG = logging.getLogger(__name__)


class Reservation:
    """One instance reserved on a table row. ``stored`` is the node row a
    database claim wrote (None in memory); ``taken`` what an in-memory
    reservation changed in the table (to give it back)."""

    __slots__ = ("row", "instance_uuid", "stored", "taken")

    def __init__(self, row, instance_uuid, stored=None, taken=None):
        self.row = row
        self.instance_uuid = instance_uuid
        self.stored = stored
        self.taken = taken


class DatabaseClaims:
    """Reserve = the atomic claim in the node's cell database."""

    in_database = True

    def __init__(self, host_manager):
        self.host_manager = host_manager

    def session(self, together):
        """Where one request's claims are written (``claim_session.ClaimSession``:
        several instances claim in one transaction)."""
        return claim_session.ClaimSession(together=together)

    def reserve(self, session, row, request, instance_uuid, reasons):
        """Claim ``row`` for the instance: a Reservation, or None when the
        claim lost (its reason appended to ``reasons``; the table then
        holds the node as it really is)."""
        manager = self.host_manager
        table = manager.table
        cell = table.cell_of(row)
        context = manager.context_of_cell(cell)
        node_id = int(table.id[row])
        try:
            stored = session.claim(context, node_id, request, instance_uuid,
                                   seen=self._seen(row, request))
        except exception.ClaimRejected as exc:
            LOG.debug("claim on %s lost: %s", exc.node, exc.reasons)
            reasons.append(f"claim on {exc.node} lost: "
                           f"{'; '.join(str(r) for r in exc.reasons)}")
            # the node as this request sees it (its own claims included)
            manager.refresh_node(cell, node_id,
                                 row=session.read_node(context, node_id))
            return None
        manager.apply_claim(cell, stored)
        return Reservation(row, instance_uuid, stored=stored)

    def _seen(self, row, request):
        """The node as the table holds it, when the claim's capacity rule
        holds there: a claim finding the node at this generation writes
        without reading it (``claims.Seen``)."""
        table = self.host_manager.table
        if not capacity.fits_on_row(table, row, request.wanted()):
            return None
        stats = table.interned["stats"]
        return claims_mod.Seen(generation=int(table.generation[row]),
                               stats=stats.keys[stats.codes[row]])

    def unreserve_all(self, reservations, request, session):
        """A request failed part-way: its session rolled its claims back
        (one transaction) or each was its own; put the table back as the
        database has the nodes."""
        manager = self.host_manager
        table = manager.table
        for reservation in reversed(reservations):
            if session.together:
                manager.refresh_node(table.cell_of(reservation.row),
                                     int(table.id[reservation.row]))

    def release(self, row, instance_uuid):
        """Give back a committed claim (the build was abandoned): exactly
        what the instance's ledger row on the node holds."""
        manager = self.host_manager
        table = manager.table
        cell = table.cell_of(row)
        node_id = int(table.id[row])
        stored = claim_release.release(manager.context_of_cell(cell), node_id,
                                    instance_uuid)
        if stored is not None:
            manager.apply_claim(cell, stored)


#: Committed in-memory reservations kept to be released (the newest).
HELD_IN_MEMORY = 100_000


class InMemoryClaims:
    """Reserve = consume in the table, as Nova's scheduler does in memory.

    The newest HELD_IN_MEMORY reservations can be released; an older one
    is forgotten (its node keeps the consumption until the table is
    loaded again)."""

    in_database = False

    def __init__(self, host_manager):
        self.host_manager = host_manager
        self._held = {}

    def session(self, together):
        return _NoSession(together)

    def reserve(self, session, row, request, instance_uuid, reasons):
        taken = self.host_manager.consume(row, request)
        reservation = Reservation(row, instance_uuid, taken=taken)
        self._held[instance_uuid] = reservation
        if len(self._held) > HELD_IN_MEMORY:
            self._held.pop(next(iter(self._held)))
        return reservation

    def unreserve_all(self, reservations, request, session):
        for reservation in reversed(reservations):
            self._give_back(reservation)

    def release(self, row, instance_uuid):
        reservation = self._held.get(instance_uuid)
        if reservation is not None and reservation.row == row:
            self._give_back(reservation)

    def _give_back(self, reservation):
        if self._held.pop(reservation.instance_uuid, None) is not None:
            self.host_manager.give_back(reservation.row, reservation.taken)


class _NoSession(contextlib.nullcontext):
    """Nothing to commit: the table is the only copy."""

    def __init__(self, together):
        super().__init__()
        self.together = together
