"""PCI device pools of one host, and fitting instance PCI requests to them.

:class:`PciDeviceStats` holds a host's *free* PCI devices as pools of
identical devices. A pool's identity (its *key*) is every attribute of its
flat dict except ``count``: ``vendor_id``, ``product_id``, ``numa_node``,
``dev_type`` and every other tag. The same stats serve the scheduler (built
from the pools a node reported, counts only) and the resource tracker (built
from the driver's device list, so an allocation names device addresses).

Matching, as Nova's ``nova/pci/stats.py`` does it:

* a request matches a pool when ANY dict of its ``spec`` matches: every key
  equals the pool's value as strings (hex ids ignoring case); a key the pool
  lacks never matches. PF, vDPA and remote-managed pools serve only
  requests whose spec names them;
* NUMA affinity follows the request's ``numa_policy`` (None means legacy),
  see :func:`_numa_filter`. ``numa_cells`` are the *host* cell ids the
  instance was fitted to: ints, or objects with an ``id`` (InstanceNUMACell,
  NUMACell), or an InstanceNUMATopology. None or empty: no NUMA topology,
  any pool will do. The socket policy also needs the host NUMATopology;
* devices come from NUMA-affine pools first, then pools with fewer tags
  (sparing specific ones), in a fixed order, so a fit is repeatable.

Every request of one call is satisfied together or not at all, each request
seeing what the ones before it took.
"""
import collections
import dataclasses

from hoststate import exception
from hoststate.objects import fields
from hoststate.objects import pci as pci_obj

_POLICY = fields.PCINUMAAffinityPolicy
_HEX_KEYS = ("vendor_id", "product_id")
#: keys of a device dict that describe the one device, never its pool
#: (Nova's per-device PciDevice fields); every other key is a pool tag
DEVICE_ONLY_KEYS = frozenset((
    "address", "parent_addr", "dev_id", "label", "status", "request_id",
    "instance_uuid", "compute_node_id", "extra_info", "id", "uuid", "count"))
#: (key, value) a pool may hold that only a spec naming it may use
_OPT_IN = (("dev_type", "type-pf"), ("dev_type", "vdpa"),
           ("remote_managed", "true"))


class PciDeviceRequestFailed(exception.HoststateError):
    """``free`` and ``pools`` are what the earlier requests of the call
    left free when ``request`` was tried."""

    msg_fmt = ("PCI request %(request)s cannot be met: %(reason)s "
               "(free: %(free)s)")


class PciDeviceFreeInvalid(exception.HoststateError, ValueError):
    msg_fmt = "Cannot free PCI allocation %(allocation)s: %(reason)s"


# --- pool keys ---------------------------------------------------------------

def _pool_key(flat):
    """The key of the pool ``flat`` (a pool or device dict) belongs to:
    sorted (name, value) pairs. numa_node is an int or None, hex ids are
    lowercase, tags are strings; tags that are None are left out."""
    items = {"numa_node": None}
    for name, value in flat.items():
        if name in DEVICE_ONLY_KEYS or value is None:
            continue
        if name == "numa_node":
            value = int(value)
        else:
            value = str(value).lower() if name in _HEX_KEYS else str(value)
        items[name] = value
    for name in _HEX_KEYS:
        if not items.get(name):
            raise ValueError("a PCI pool needs a %s: %r" % (name, flat))
    return tuple(sorted(items.items()))


def _sortable(key):
    return tuple((name, value is None, str(value)) for name, value in key)


def _describe_pool(key, count):
    attrs = dict(key)
    return "%s:%s numa %s %s x%d" % (
        attrs.pop("vendor_id"), attrs.pop("product_id"),
        attrs.pop("numa_node"), attrs, count)


# --- allocations -------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class PoolTake:
    """``count`` devices taken from the pool ``pool`` (a pool key); their
    ``addresses`` when the pool knows them, else ()."""

    pool: tuple
    count: int
    addresses: tuple = ()


@dataclasses.dataclass(frozen=True)
class RequestAllocation:
    """What one InstancePCIRequest took."""

    request_id: object
    alias_name: object
    count: int
    takes: tuple = ()


@dataclasses.dataclass(frozen=True)
class Allocation:
    """The devices one call of :meth:`PciDeviceStats.apply_requests` took,
    one :class:`RequestAllocation` per request, in request order. Plain
    data: :meth:`to_dict` gives JSON-ready dicts and lists."""

    requests: tuple = ()

    @property
    def count(self):
        return sum(request.count for request in self.requests)

    @property
    def addresses(self):
        """Every device address taken (empty for count-only pools)."""
        return [address for request in self.requests
                for take in request.takes for address in take.addresses]

    def _takes(self):
        return [take for request in self.requests for take in request.takes]

    def to_dict(self):
        return {"requests": [{
            "request_id": r.request_id, "alias_name": r.alias_name,
            "count": r.count, "takes": [{
                "pool": dict(t.pool), "count": t.count,
                "addresses": list(t.addresses)} for t in r.takes]}
            for r in self.requests]}

    @classmethod
    def from_dict(cls, value):
        """The Allocation :meth:`to_dict` gave (None gives an empty one)."""
        return cls(tuple(
            RequestAllocation(r.get("request_id"), r.get("alias_name"),
                              int(r["count"]), tuple(
                                  PoolTake(_pool_key(t["pool"]),
                                           int(t["count"]),
                                           tuple(t.get("addresses") or ()))
                                  for t in r["takes"]))
            for r in (value or {}).get("requests", ())))


# --- the stats ---------------------------------------------------------------

class _Pool:
    """Free devices of one pool. ``addresses`` (a sorted tuple of the free
    ones) and ``known`` (all of them) are None for a count-only pool."""

    __slots__ = ("key", "attrs", "free", "total", "addresses", "known")

    def __init__(self, key, free, total, addresses=None, known=None):
        self.key, self.attrs = key, dict(key)
        self.free, self.total = free, total
        self.addresses, self.known = addresses, known

    def copy(self):
        # attrs, addresses and known are never changed in place: shared
        clone = _Pool.__new__(_Pool)
        for name in self.__slots__:
            setattr(clone, name, getattr(self, name))
        return clone

    def state(self):
        return (self.free, self.total, self.addresses)


def _spec_matches(spec, attrs):
    return all(attrs.get(name) is not None and str(attrs[name]) == (
        str(wanted).lower() if name in _HEX_KEYS else str(wanted))
        for name, wanted in spec.items())


def _opted_out(attrs, specs):
    """Whether the pool holds devices the request must ask for by name."""
    for name, value in _OPT_IN:
        if str(attrs.get(name, "")).lower() == value and not any(
                str(spec.get(name, "")).lower() == value for spec in specs):
            return True
    return False


def _free(pools):
    return sum(pool.free for pool in pools)


def _socket_cells(cells, host_topology):
    """Host cell ids on the same socket as one of ``cells``; empty when
    the host topology or a cell's socket is unknown (as Nova bails out)."""
    host_cells = list(host_topology.cells) if host_topology else []
    if not host_cells or any(cell.socket is None for cell in host_cells):
        return set()
    sockets = {cell.socket for cell in host_cells if cell.id in cells}
    return {cell.id for cell in host_cells if cell.socket in sockets}


def _numa_filter(pools, count, policy, cells, host_topology):
    """The pools a request of ``count`` devices may use under ``policy``.

    required: pools on ``cells`` only. legacy: those if they have enough,
    else also pools whose NUMA node is unknown. preferred: as legacy, else
    any pool. socket: pools on ``cells`` if they have enough, else pools on
    a cell of the same socket. Affine pools come first in every case.
    """
    if cells is None:
        return pools
    affine = [pool for pool in pools if pool.attrs["numa_node"] in cells]
    if policy == _POLICY.REQUIRED or _free(affine) >= count:
        return affine
    if policy == _POLICY.SOCKET:
        same = _socket_cells(cells, host_topology)
        chosen = [pool for pool in pools if pool.attrs["numa_node"] in same]
    else:
        chosen = [pool for pool in pools if pool.attrs["numa_node"] in cells
                  or pool.attrs["numa_node"] is None]
        if policy != _POLICY.LEGACY and _free(chosen) < count:
            chosen = pools
    return sorted(chosen,
                  key=lambda pool: pool.attrs["numa_node"] not in cells)


def _cell_ids(numa_cells):
    if numa_cells is not None and hasattr(numa_cells, "cells"):
        numa_cells = numa_cells.cells
    if not numa_cells:
        return None
    return {getattr(cell, "id", cell) for cell in numa_cells}


def request_list(requests):
    """The InstancePCIRequest list of ``requests`` (InstancePCIRequests,
    a list, or None: [])."""
    if requests is None:
        return []
    return list(getattr(requests, "requests", requests) or ())


def _describe_request(index, request):
    name = request.alias_name or request.request_id
    return "#%d%s (%d x %s, numa_policy %s)" % (
        index, " %s" % name if name else "", request.count,
        list(request.spec), request.numa_policy or _POLICY.LEGACY)


class PciDeviceStats:
    """The free PCI devices of one host, pooled.

    Build with :meth:`from_pools` or :meth:`from_devices`; fit requests with
    :meth:`support_requests` / :meth:`apply_requests`; give devices back
    with :meth:`free`; take a stored allocation again with :meth:`take`.
    :meth:`copy` is cheap (one small object per pool). Pools never appear
    or vanish after construction; a pool with nothing free stays known but
    is left out of :meth:`to_pool_list`, as Nova drops empty pools.
    """

    def __init__(self, pools=()):
        self._pools = {pool.key: pool for pool in
                       sorted(pools, key=lambda p: (len(p.key),
                                                    _sortable(p.key)))}
        #: allocations taken and not freed yet (a multiset)
        self._live = collections.Counter()

    @classmethod
    def from_pools(cls, pools, allocations=()):
        """From the free devices in ``pools`` (a PciDevicePoolList, a list
        of PciDevicePool or of flat pool dicts, or None), counts only; pools
        with one key are summed. ``allocations`` are held by instances: they
        count towards each pool's devices and may be freed (a pool they
        emptied, so missing from ``pools``, is made again)."""
        free, held = collections.Counter(), collections.Counter()
        for pool in getattr(pools, "objects", pools) or ():
            flat = pool if isinstance(pool, dict) else pool.to_dict()
            free[_pool_key(flat)] += int(flat.get("count", 0))
        allocations = [a for a in allocations if a and a.requests]
        for take in (t for a in allocations for t in a._takes()):
            held[take.pool] += take.count
        stats = cls(_Pool(key, free[key], free[key] + held[key])
                    for key in free.keys() | held.keys())
        stats._live.update(allocations)
        return stats

    @classmethod
    def from_devices(cls, devices):
        """From device dicts ``{address, vendor_id, product_id, numa_node,
        dev_type, ...tags}``: one pool per key, knowing its addresses.
        ``parent_addr`` describes a device, not a pool, like ``address``."""
        grouped = collections.defaultdict(list)
        seen = set()
        for device in devices or ():
            address = device.get("address")
            if not address or address in seen:
                raise ValueError("a PCI device needs a unique address: %r"
                                 % (device,))
            seen.add(address)
            grouped[_pool_key(device)].append(str(address))
        return cls(_Pool(key, len(addrs), len(addrs), tuple(sorted(addrs)),
                         frozenset(addrs)) for key, addrs in grouped.items())

    def copy(self):
        clone = PciDeviceStats.__new__(PciDeviceStats)
        clone._pools = {key: pool.copy() for key, pool in self._pools.items()}
        clone._live = collections.Counter(self._live)
        return clone

    def __eq__(self, other):
        if not isinstance(other, PciDeviceStats):
            return NotImplemented
        return (self._live == other._live and self._pools.keys() ==
                other._pools.keys() and all(
                    pool.state() == other._pools[key].state()
                    for key, pool in self._pools.items()))

    def __repr__(self):
        return "PciDeviceStats(%s)" % self._summary()

    # -- reading --

    def free_count(self):
        """Free devices over all pools (what the PCIWeigher reads)."""
        return _free(self._pools.values())

    def pools(self):
        """Every pool as a flat dict whose ``count`` is its free devices."""
        return [dict(pool.key, count=pool.free)
                for pool in self._pools.values()]

    def to_pool_list(self):
        """The PciDevicePoolList for ComputeNode.pci_device_pools: pools
        with free devices; pools without a dev_type carry none."""
        return pci_obj.PciDevicePoolList.from_dicts(
            [flat for flat in self.pools() if flat["count"]])

    def _summary(self):
        return ", ".join(_describe_pool(pool.key, pool.free)
                         for pool in self._pools.values() if pool.free) \
            or "none"

    # -- fitting --

    def _take(self, index, request, cells, host_topology):
        """Take ``request``'s devices from these pools in place; return its
        RequestAllocation, or raise PciDeviceRequestFailed (the pools are
        then in an undefined state: callers work on a copy)."""
        specs = list(request.spec or ())
        count = request.count
        candidates = [pool for pool in self._pools.values() if pool.free
                      and any(_spec_matches(spec, pool.attrs)
                              for spec in specs)
                      and not _opted_out(pool.attrs, specs)]
        reason = None
        if _free(candidates) < count:
            reason = "%d matching devices free, %d requested" % (
                _free(candidates), count)
        else:
            policy = request.numa_policy or _POLICY.LEGACY
            candidates = _numa_filter(candidates, count, policy, cells,
                                      host_topology)
            if _free(candidates) < count:
                reason = ("%d matching devices free on or near NUMA cells "
                          "%s, %d requested" % (_free(candidates),
                                                sorted(cells), count))
        if reason:
            raise PciDeviceRequestFailed(
                request=_describe_request(index, request), reason=reason,
                free=self._summary(), requested=count, pools=self.pools())
        takes, left = [], count
        for pool in (pool for pool in candidates if pool.free):
            n = min(pool.free, left)
            taken = pool.addresses[:n] if pool.addresses is not None else ()
            if pool.addresses is not None:
                pool.addresses = pool.addresses[n:]
            pool.free, left = pool.free - n, left - n
            takes.append(PoolTake(pool.key, n, taken))
            if not left:
                break
        return RequestAllocation(request.request_id, request.alias_name,
                                 count, tuple(takes))

    def _fit(self, requests, numa_cells, host_topology):
        work, cells = self.copy(), _cell_ids(numa_cells)
        allocation = Allocation(tuple(
            work._take(index, request, cells, host_topology)
            for index, request in enumerate(request_list(requests))))
        return work, allocation

    def rejection(self, requests, numa_cells=None, host_topology=None):
        """Why ``requests`` cannot be met here (a PciDeviceRequestFailed
        naming the first request that fails), or None if they can."""
        try:
            self._fit(requests, numa_cells, host_topology)
        except PciDeviceRequestFailed as exc:
            return exc
        return None

    def support_requests(self, requests, numa_cells=None, host_topology=None):
        """Whether every request can be met together; changes nothing.

        ``requests`` is an InstancePCIRequests, a list of
        InstancePCIRequest, or None (trivially supported).
        """
        return self.rejection(requests, numa_cells, host_topology) is None

    def apply_requests(self, requests, numa_cells=None, host_topology=None):
        """Take devices for every request and return the Allocation; on
        failure raise PciDeviceRequestFailed and change nothing."""
        work, allocation = self._fit(requests, numa_cells, host_topology)
        self._adopt(work, allocation, +1)
        return allocation

    def _adopt(self, work, allocation, sign):
        self._pools = work._pools
        if allocation.requests:
            self._live[allocation] += sign
            if not self._live[allocation]:
                del self._live[allocation]

    def _move(self, allocation, sign):
        """A copy of these stats with ``allocation``'s devices taken (sign
        +1) or given back (-1), and None; or None and why it cannot be."""
        work = self.copy()
        for take in allocation._takes():
            pool = work._pools.get(take.pool)
            if pool is None:
                return None, "no pool %s here" % _describe_pool(take.pool, 0)
            free = pool.free - sign * take.count
            if not 0 <= free <= pool.total:
                return None, "pool %s has %d of %d devices free" % (
                    _describe_pool(take.pool, take.count), pool.free,
                    pool.total)
            if pool.addresses is not None:
                given, current = set(take.addresses), set(pool.addresses)
                if len(given) != take.count or not given <= pool.known or (
                        given - current if sign > 0 else given & current):
                    return None, "devices %s are not all %s" % (
                        sorted(given), "free" if sign > 0 else "taken")
                current = current - given if sign > 0 else current | given
                pool.addresses = tuple(sorted(current))
            pool.free = free
        return work, None

    def take(self, allocation):
        """Take exactly the devices ``allocation`` names again (the tracker
        rebuilding a node's stats from its instances). All or nothing;
        raises PciDeviceRequestFailed when they are not all free."""
        work, reason = self._move(allocation, +1)
        if reason:
            raise PciDeviceRequestFailed(
                request=[r.alias_name or r.request_id or r.count
                         for r in allocation.requests],
                reason=reason, free=self._summary(),
                requested=allocation.count, pools=self.pools())
        self._adopt(work, allocation, +1)

    def free(self, allocation):
        """Give back the devices ``allocation`` took. Raises
        PciDeviceFreeInvalid, changing nothing, if it is not a live
        allocation of these stats (never taken here, or freed already).
        An empty allocation frees nothing and is always accepted."""
        if not allocation.requests:
            return
        work, reason = None, "it is not allocated here (freed already?)"
        if self._live[allocation]:
            work, reason = self._move(allocation, -1)
        if reason:
            raise PciDeviceFreeInvalid(allocation=allocation.to_dict(),
                                       reason=reason)
        self._adopt(work, allocation, -1)
