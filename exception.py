"""Typed errors shared by every hoststate package.

Each error carries the facts that explain it as attributes (which field,
which value, which table) and formats them into its message, so a caller can
both show a human the reason and act on it in code.
"""


class HoststateError(Exception):
    """Base of every error hoststate raises on purpose."""

    msg_fmt = "An unknown hoststate error occurred"

    def __init__(self, message=None, **kwargs):
        self.kwargs = kwargs
        for key, value in kwargs.items():
            setattr(self, key, value)
        if message is None:
            message = self.msg_fmt % kwargs
        self.message = message
        super().__init__(message)


# --- configuration ---------------------------------------------------------

class ConfigInvalid(HoststateError, ValueError):
    msg_fmt = "Invalid value %(value)r for option [%(group)s] %(option)s: %(reason)s"


class ConfigFileInvalid(HoststateError, ValueError):
    """A configuration file that cannot be read as INI: missing,
    unreadable, binary or not parseable."""

    msg_fmt = "configuration file %(path)s %(reason)s"


# --- running commands --------------------------------------------------------

class Signalled(BaseException):
    """A signal arrived (SIGINT, SIGTERM): what a command's signal handler
    raises in the main thread. Not an Exception, as KeyboardInterrupt is
    not, so that no ``except Exception`` the main thread happens to be in
    (a periodic task that must outlive one failure) swallows it; the
    command turns it into Interrupted once it has cleaned up."""

    def __init__(self, signum):
        super().__init__(signum)
        self.signum = signum


class Interrupted(HoststateError):
    """A command was stopped by a signal (SIGINT, SIGTERM) and cleaned up;
    ``signum`` is the signal, so a command exits 128 + signum."""

    msg_fmt = "interrupted by %(signame)s%(detail)s"

    def __init__(self, signum, detail=""):
        import signal
        super().__init__(signum=signum, signame=signal.Signals(signum).name,
                         detail=detail)


class InvalidArgument(HoststateError, TypeError):
    """A library call given a value of a kind it does not take."""

    msg_fmt = "%(name)s cannot be %(value)r: %(reason)s"


# --- objects ---------------------------------------------------------------

class ObjectFieldInvalid(HoststateError, ValueError):
    msg_fmt = "%(objname)s.%(field)s cannot be %(value)r: %(reason)s"


class UnknownObjectField(HoststateError, ValueError):
    msg_fmt = "%(objname)s has no field %(field)r"


class ObjectActionError(HoststateError):
    msg_fmt = "Object action %(action)s failed because: %(reason)s"


class UnexpectedInstanceState(ObjectActionError):
    """A compare-and-swap on an instance's states found it moved on: the
    instance is not in the state the writer expected (taken back,
    rescheduled or deleted meanwhile); nothing was written."""

    msg_fmt = ("instance %(uuid)s is no longer %(expected)s; nothing "
               "written")


class IncompatibleObjectVersion(HoststateError, ValueError):
    msg_fmt = "%(objname)s cannot be expressed at version %(version)s: %(reason)s"


# --- database --------------------------------------------------------------

class DBError(HoststateError):
    msg_fmt = "Database error: %(reason)s"


class DuplicateRecord(DBError):
    msg_fmt = "A %(table)s row with the same unique key already exists: %(detail)s"


class GenerationConflict(DBError):
    """A compare-and-swap update found the row at another generation.

    Someone else wrote the row after we read it; the caller must re-read and
    decide again rather than overwrite what the other writer stored.
    """

    msg_fmt = ("%(table)s row %(row_id)s is no longer at generation "
               "%(seen_generation)s: another writer changed it")


class LedgerConflict(GenerationConflict):
    """A ledger row a writer meant to change or remove is gone or
    changed: another writer gave it back first. Re-read and decide again."""

    msg_fmt = ("allocation %(consumer)s on node %(node_id)s changed under "
               "this writer")


class NotFound(HoststateError, LookupError):
    msg_fmt = "Resource could not be found"


class ComputeNodeNotFound(NotFound):
    msg_fmt = "Compute node %(key)s could not be found"


class ComputeHostNotFound(NotFound):
    msg_fmt = "Compute host %(host)s could not be found"


class ServiceNotFound(NotFound):
    msg_fmt = "Service %(key)s could not be found"


class InstanceNotFound(NotFound):
    msg_fmt = "Instance %(key)s could not be found"


class MigrationNotFound(NotFound):
    msg_fmt = "Migration %(key)s could not be found"


class AllocationNotFound(NotFound):
    msg_fmt = "No allocation of consumer %(key)s on that node"


class AggregateNotFound(NotFound):
    msg_fmt = "Aggregate %(key)s could not be found"


class AggregateHostNotFound(NotFound):
    msg_fmt = "Aggregate %(aggregate_id)s has no host %(host)s"


class InstanceGroupNotFound(NotFound):
    msg_fmt = "Instance group %(key)s could not be found"


class CellMappingNotFound(NotFound):
    msg_fmt = "Cell %(key)s has no mapping"


class HostMappingNotFound(NotFound):
    msg_fmt = "Host %(host)s is not mapped to any cell"


class ReferenceNotFound(DBError):
    msg_fmt = "A %(table)s row refers to a row that does not exist: %(reason)s"


# --- resource tracking -----------------------------------------------------

class DoesNotFit(HoststateError):
    """What was asked for does not fit a node.

    ``reasons`` are readable texts, one per reason; ``shortfalls`` the
    structured ones among them (``hardware.capacity.Shortfall``: which
    resource, requested, free, capacity, node), so a caller can count
    them without parsing text. A reason given as text (a node that is
    gone, a claim still contended) has no shortfall.
    """

    msg_fmt = "%(node)s cannot take it: %(reason)s"

    def __init__(self, node, reasons):
        given = list(reasons)
        texts = [str(r) for r in given]
        super().__init__(node=node, reasons=texts, reason="; ".join(texts))
        self.shortfalls = [r for r in given if not isinstance(r, str)]


class ComputeResourcesUnavailable(DoesNotFit):
    """A claim did not fit; ``reasons`` lists every resource that was short."""

    msg_fmt = "Insufficient compute resources on %(node)s: %(reason)s"


# --- service liveness ------------------------------------------------------

class ServiceGroupUnavailable(HoststateError):
    """Liveness is unknown right now (the backend cannot be reached).

    Raised instead of answering "down" (or "up") for every service, which
    would make a scheduler drop (or pick) hosts on the backend's account.
    """

    msg_fmt = "Service liveness unknown: the %(driver)s backend is unavailable: %(reason)s"


class UnknownServiceGroupDriver(HoststateError, ValueError):
    msg_fmt = "Unknown servicegroup_driver %(name)r; known drivers: %(known)s"


class PluginNotFound(HoststateError, LookupError):
    msg_fmt = "Unknown scheduler %(kind)s %(name)r; known: %(known)s"


class DuplicatePlugin(HoststateError, ValueError):
    msg_fmt = ("Scheduler %(kind)s name %(name)r is registered twice: "
               "%(first)s and %(second)s")


class NoValidHost(HoststateError):
    """No node can take the request. ``reasons`` explains it: one entry per
    filter that removed hosts (how many, and for capacity what was short)."""

    msg_fmt = "No valid host was found. %(reason)s"

    def __init__(self, message=None, reasons=(), **kwargs):
        self.reasons = list(reasons)
        if message is None and "reason" not in kwargs:
            kwargs["reason"] = "; ".join(str(r) for r in self.reasons) or \
                "There are not enough hosts available."
        super().__init__(message, **kwargs)

    @property
    def shortfalls(self):
        """The structured shortfalls of the reasons (a capacity filter or
        the claim check that removed every host): which resources were
        short, without parsing the text."""
        return [shortfall for reason in self.reasons
                for shortfall in getattr(reason, "shortfalls", ())]


class InvalidSchedulerRequest(HoststateError, ValueError):
    """A request the scheduler refuses before looking at any host."""

    msg_fmt = "Invalid scheduling request: %(field)s=%(value)r: %(reason)s"


class MetricNotFound(HoststateError, LookupError):
    msg_fmt = "Host %(host)s does not report metric %(name)s"


class ClaimRejected(DoesNotFit):
    """A node could not take a scheduler's claim (it filled up since the
    scheduler last looked); ``reasons`` names each shortfall."""

    msg_fmt = "Node %(node)s cannot take the claim: %(reason)s"


# --- the conductor -----------------------------------------------------------

class ConductorRefused(HoststateError, PermissionError):
    """The conductor refused a remotable call: not on its allow-list, or a
    write to a row the calling host does not own."""

    msg_fmt = ("conductor refused %(objname)s.%(method)s for host "
               "%(caller)r: %(reason)s")


class UnknownObject(HoststateError, LookupError):
    """A primitive or a call names an object class or version this side
    does not know."""

    msg_fmt = "unknown object %(objname)s %(version)s: %(reason)s"


class BuildFailed(HoststateError):
    """A driver could not start an instance on a node."""

    msg_fmt = "build of instance %(instance)s on node %(node)s failed: %(reason)s"


class MalformedObject(HoststateError, ValueError):
    """A versioned object's primitive that is not one: a part missing or of
    the wrong shape."""

    msg_fmt = "malformed %(objname)s primitive: %(reason)s"


# --- cells -------------------------------------------------------------------

class CellInputInvalid(HoststateError, ValueError):
    """A cell's name, path, transport URL or weight that cannot be
    stored: refused before anything is read or written."""

    msg_fmt = "invalid cell input: %(reason)s"


class InvalidCellName(CellInputInvalid):
    msg_fmt = "invalid cell name %(name)s: %(reason)s"


class InvalidCellPath(CellInputInvalid):
    msg_fmt = "invalid cell path %(path)s: %(reason)s"


class InvalidCellTransportURL(CellInputInvalid):
    """``url`` is the URL as shown: its passwords hidden."""

    msg_fmt = "invalid transport URL %(url)s for cell %(name)s: %(reason)s"


class InvalidCellWeight(CellInputInvalid):
    msg_fmt = "invalid %(field)s %(value)s for cell %(name)s: %(reason)s"


class CellExists(HoststateError):
    msg_fmt = "a cell named %(name)s already exists (a %(role)s of this cell)"


class CellIsSelf(HoststateError):
    """This cell named as its own parent or child: the tree would have a
    cycle."""

    msg_fmt = ("cell %(name)s is this cell ([cells] name); it cannot be "
               "its own %(role)s")


class CellParentExists(HoststateError):
    msg_fmt = ("this cell already has a parent, %(parent)s; a cell has at "
               "most one (remove it first)")


class CellNotFound(NotFound):
    msg_fmt = "Cell %(name)s could not be found"


class InvalidCellCapability(CellInputInvalid):
    """An entry of ``[cells] capabilities`` that is not ``key=v1;v2``
    (or repeats a key): refused when the configuration is read."""

    msg_fmt = "invalid cell capability %(entry)r: %(reason)s"


class InvalidCapacityFlavor(CellInputInvalid):
    """An entry of ``[cells] capacity_flavors`` that is not
    ``NAME:VCPUS:MEMORY_MB:DISK_GB`` with sizes in bounds (or repeats a
    name): refused when the configuration is read."""

    msg_fmt = "invalid capacity flavor %(entry)r: %(reason)s"


class InvalidCellInstance(CellInputInvalid):
    """A field of an instance a cell sends up (or the top records before
    it forwards a build) that cannot be stored: refused, with every other
    row of the same call, before anything is written."""

    msg_fmt = ("invalid %(field)s %(value)s of cell instance %(uuid)s: "
               "%(reason)s")


# --- cells: the service -------------------------------------------------------

class CellPathUnknown(HoststateError):
    msg_fmt = ("cell %(name)s does not know its path yet: its parent has "
               "not answered")


class CellHopLimit(HoststateError):
    """A request passed more cells than ``[cells] max_hop_count``: a tree
    that deep, or a loop of URLs (a child's URL naming an ancestor's
    bus)."""

    msg_fmt = ("a request passed %(hops)s cells, more than [cells] "
               "max_hop_count (%(limit)s): is there a loop in the tree?")


class CellRequestExpired(HoststateError):
    msg_fmt = ("cell %(name)s dropped a build %(late)s s after its caller "
               "stopped waiting")


class CellUnreachable(HoststateError):
    msg_fmt = ("no cells service of cell %(name)s answered within "
               "%(timeout)s s; nothing was stored")


class CellBuildTimedOut(HoststateError):
    """A cell below could not build an instance because a cell or a
    conductor under it did not answer in time: it may still be built
    there, late (the top reconciles: an instance lives in one cell)."""

    msg_fmt = "%(reason)s"


class CellMismatch(HoststateError):
    msg_fmt = ("the cells service at %(url)s is cell %(answered)s, not "
               "%(name)s; nothing was stored")


class CellCycle(HoststateError):
    msg_fmt = ("cell %(name)s cannot be linked here: %(reason)s (the tree "
               "would have a loop); nothing was stored")


class CellNotAnswering(HoststateError):
    msg_fmt = ("cell %(name)s did not answer within %(timeout)s s; "
               "%(what)s")
