"""Errors of the virt-driver side of the resource tracker.

Each carries the facts behind it as attributes (which driver, which node,
which keys), like every :class:`hoststate.exception.HoststateError`.
"""
from hoststate import exception


class NotSupportedByDriver(exception.HoststateError, NotImplementedError):
    """A driver does not implement an optional host operation.

    Also a ``NotImplementedError``, which is what Nova's API layer turns into
    "501 Not Implemented" for host power actions and maintenance mode.
    """

    msg_fmt = "Virt driver %(driver)s does not support %(operation)s"


class DriverResourcesInvalid(exception.HoststateError, ValueError):
    """``get_available_resource`` returned a dict without required keys."""

    msg_fmt = ("Virt driver resources of node %(nodename)s are missing "
               "required keys: %(keys)s")

    def __init__(self, nodename, missing, message=None):
        missing = list(missing)
        super().__init__(message, nodename=nodename, missing=missing,
                         keys=", ".join(missing))


class VirtNodeNotFound(exception.NotFound):
    """A driver was asked about a node it does not manage."""

    msg_fmt = "Virt driver %(driver)s has no node %(nodename)s"


class LocalNodeUUIDInvalid(exception.HoststateError, ValueError):
    """The local node uuid file exists but does not hold a uuid."""

    msg_fmt = "Local node uuid file %(path)s does not hold a uuid: %(content)r"
