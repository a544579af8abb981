"""Filters on where other instances are: server groups, same/different host
hints, and the network neighbourhood of a given address.

Instance locations come from the request (``request.instance_hosts``,
filled by the HostManager for group members and hinted instances, and
extended as this request places instances). Nova keeps instances per host
(not per node), so every node of a host shares its host's answer: the
filters compute per host code and gather by the rows' host codes.
"""
import ipaddress

import numpy as np

from hoststate.scheduler.filters import BaseHostFilter
from hoststate.scheduler.filters import all_rows_pass

#: Nova's default prefix for the build_near_host_ip hint.
DEFAULT_CIDR = "/24"


def _rows_on_hosts(table, rows, hosts):
    """Mask over ``rows``: the row's host is one of ``hosts`` (names)."""
    wanted = table.host_codes(sorted(hosts))
    return np.isin(table.codes("host")[rows], wanted)


def _per_host(table, rows, counts):
    """Gather ``counts`` ({host name: number}) at ``rows`` (0 elsewhere)."""
    column = table.interned["host"]
    by_code = np.zeros(len(column), dtype=np.float64)
    for host, count in counts.items():
        code = column.find(host)
        if code is not None:
            by_code[code] = count
    return by_code[column.codes[rows]]


# --- server groups -----------------------------------------------------------

def max_server_per_host(request):
    """The anti-affinity group's ``max_server_per_host`` rule (default 1).

    Rules travel as strings here; a value that is not an integer reads as
    the default (Nova would fail comparing it), the strict choice.
    """
    value = request.group_rules.get("max_server_per_host")
    if value is None:
        return 1
    try:
        return int(value)
    except (TypeError, ValueError):
        return 1


class ServerGroupAntiAffinityFilter(BaseHostFilter):
    """For an ``anti-affinity`` group: hosts holding fewer group members
    than ``max_server_per_host``.

    The host that already runs the instance passes (a resize to the same
    host must not be refused because of the instance itself).
    """

    RUN_ON_REBUILD = False
    policy = "anti-affinity"
    MASK_READS_USAGE = False

    def mask_key(self, request):
        """Without an anti-affinity group every host passes, whatever the
        table holds: a derived column; with one, computed per request."""
        return ("no group",) if request.group_policy != self.policy \
            else None

    def filter_mask(self, table, rows, request):
        if request.group_policy != self.policy:
            return all_rows_pass(rows)
        members = _per_host(table, rows, request.members_per_host())
        passes = members < max_server_per_host(request)
        own_host = request.instance_hosts.get(request.instance_uuid)
        if own_host is not None:
            passes |= _rows_on_hosts(table, rows, [own_host])
        return passes

    def explain(self, table, removed_rows, request):
        return (f"every host already holds {max_server_per_host(request)} "
                f"or more members of the anti-affinity group")


class ServerGroupAffinityFilter(BaseHostFilter):
    """For an ``affinity`` group with members placed: only their hosts."""

    RUN_ON_REBUILD = False
    policy = "affinity"
    MASK_READS_USAGE = False

    def mask_key(self, request):
        """Without an affinity group placed somewhere every host passes:
        a derived column; with one, computed per request."""
        return ("no group",) if request.group_policy != self.policy or \
            not request.group_hosts else None

    def filter_mask(self, table, rows, request):
        if request.group_policy != self.policy or not request.group_hosts:
            return all_rows_pass(rows)
        return _rows_on_hosts(table, rows, request.group_hosts)

    def explain(self, table, removed_rows, request):
        hosts = ", ".join(sorted(request.group_hosts))
        return f"the affinity group is on {hosts}, none of them a candidate"


# --- same_host / different_host hints ----------------------------------------

class _InstanceHintFilter(BaseHostFilter):
    """Hosts judged by where the instances of one hint (uuids) run."""

    # Where those instances run does not change within a request.
    run_filter_once_per_request = True
    RUN_ON_REBUILD = False
    hint = None
    #: True: keep hosts running one of them; False: keep hosts running none
    keep_matching = True

    def filter_mask(self, table, rows, request):
        uuids = request.hint_list(self.hint)
        if not uuids:
            return all_rows_pass(rows)
        matching = _rows_on_hosts(table, rows, request.hosts_of(uuids))
        return matching if self.keep_matching else ~matching


class SameHostFilter(_InstanceHintFilter):
    """Hint ``same_host`` (instance uuids): hosts running one of them."""

    hint = "same_host"

    def explain(self, table, removed_rows, request):
        return "no candidate host runs an instance named by same_host"


class DifferentHostFilter(_InstanceHintFilter):
    """Hint ``different_host`` (instance uuids): hosts running none."""

    hint = "different_host"
    keep_matching = False

    def explain(self, table, removed_rows, request):
        return "every candidate host runs an instance named by different_host"


# --- build_near_host_ip ------------------------------------------------------

_LOW64 = (1 << 64) - 1


def _split(number):
    """A 128-bit integer as (high, low) 64-bit halves."""
    return number >> 64, number & _LOW64


def _address_parts(text):
    """(version, high 64 bits, low 64 bits) of an IP address; version 0
    when ``text`` is not one (such a host is in no network)."""
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return 0, 0, 0
    return (address.version, *_split(int(address)))


def _address_columns(table, rows):
    """(version, high, low) arrays of the rows' host_ip, parsed once per
    distinct address."""
    column = table.interned["host_ip"]
    parts = [column.map(lambda text, i=i: _address_parts(text)[i],
                        dtype=dtype, key=("host_ip_parts", i))
             for i, dtype in enumerate((np.int8, np.uint64, np.uint64))]
    codes = column.codes[rows]
    return [part[codes] for part in parts]


def requested_network(request):
    """The hinted network (``build_near_host_ip`` + ``cidr``), None when
    there is no address hint; ValueError when the hints do not make one."""
    address = request.hint("build_near_host_ip")
    if not address:
        return None
    cidr = request.hint("cidr", DEFAULT_CIDR)
    if not isinstance(address, str) or not isinstance(cidr, str):
        raise ValueError(f"{address!r}{cidr!r}")
    # Nova joins the two strings: "10.0.0.5" + "/24".
    return ipaddress.ip_network(address + cidr, strict=False)


class SimpleCIDRAffinityFilter(BaseHostFilter):
    """Hints ``build_near_host_ip`` and ``cidr`` (default /24): hosts whose
    ``host_ip`` is in that network.

    Addresses are compared as integers, masked with the network's netmask
    (IPv6 as two 64-bit halves), so the check is one vector expression.
    Hints that do not form a network fail every host (Nova raised an
    error from the filter, which ended the request as well).
    """

    # Host addresses do not change within a request.
    run_filter_once_per_request = True
    RUN_ON_REBUILD = False

    def filter_mask(self, table, rows, request):
        try:
            network = requested_network(request)
        except ValueError:
            return np.zeros(len(rows), dtype=bool)
        if network is None:
            return all_rows_pass(rows)
        version, high, low = _address_columns(table, rows)
        mask_high, mask_low = map(np.uint64, _split(int(network.netmask)))
        net_high, net_low = map(np.uint64,
                                _split(int(network.network_address)))
        return ((version == network.version)
                & ((high & mask_high) == net_high)
                & ((low & mask_low) == net_low))

    def explain(self, table, removed_rows, request):
        try:
            network = requested_network(request)
        except ValueError:
            near = request.hint("build_near_host_ip")
            cidr = request.hint("cidr", DEFAULT_CIDR)
            return (f"build_near_host_ip {near!r} with cidr {cidr!r} is "
                    f"not a network")
        return f"no candidate host has its host_ip in {network}"
