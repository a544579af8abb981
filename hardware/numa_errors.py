"""Errors of the NUMA fitting code (re-exported by hardware/numa.py)."""
from hoststate import exception


class InvalidNUMARequest(exception.HoststateError, ValueError):
    """A flavor/image NUMA request that cannot be honoured as written.

    ``key`` names the extra spec or image property, ``value`` its value,
    ``reason`` what is wrong with it.
    """

    msg_fmt = "Invalid NUMA request %(key)s=%(value)r: %(reason)s"


class NUMACellNotPlaced(exception.HoststateError, ValueError):
    """A guest cell that was never fitted cannot be counted on a host."""

    msg_fmt = "Guest NUMA cell on host cell %(cell)s is not placed: %(reason)s"


class NUMARequestTooLarge(exception.HoststateError, ValueError):
    """A guest that wants a NUMA topology (or pinning, or a page size) with
    more vCPUs than any host it could go to has CPUs: it can fit nowhere,
    and its CPU sets are not even built (their size would be set by a
    number in the request, not by the hosts)."""

    msg_fmt = ("vcpus: a NUMA guest of %(vcpus)d vCPUs is larger than "
               "%(where)s (%(limit)d CPUs)")
