"""PCI devices in view while a guest's NUMA cells are fitted to a host.

Nova 34's ``numa_fit_instance_to_host``, given the instance's PCI
requests and the host's PCI pools (``pci_stats``), does two things more
than a plain NUMA fit, both reproduced here for numa_fit.py:

* **order** (:func:`order_cells`): when the host has more cells than the
  guest, after its spread / pack sorts, the host cells are sorted once
  more by the free PCI devices each holds (every pool counts, matching
  the request or not): the most first when the guest asks for devices,
  the fewest first when it does not (keeping PCI cells free for guests
  that need them). Stable, so ties keep the earlier order. With as many
  host cells as guest cells nothing is sorted;
* **check** (:class:`DeviceCheck`): a permutation of host cells on which
  every guest cell fits is taken only if the pools support every request
  on those cells (``PciDeviceStats.support_requests`` with the cell ids,
  under each request's NUMA affinity policy), else the next permutation
  is tried. So under ``required`` or ``legacy`` a guest moves to the
  cell that holds its device; under ``preferred`` the first fitting
  permutation is kept (the device may come from another cell when the
  guest's cells have none); under ``socket`` any cell of the device's
  socket will do.

PCI requests with no pools (``pci_stats`` None) are not checked here;
callers pass an empty PciDeviceStats for a host without devices, which
then fails every request, as Nova's empty stats do.

:func:`numa_policy` reads ``hw:pci_numa_affinity_policy`` /
``hw_pci_numa_affinity_policy``, and :func:`with_numa_policy` gives it to
the requests, as Nova's API does before the requests reach a scheduler.
"""
import collections

from hoststate.hardware import pci as hw_pci
from hoststate.hardware.numa_errors import InvalidNUMARequest
from hoststate.objects import fields

_POLICY = fields.PCINUMAAffinityPolicy


def has_requests(pci_requests):
    """Whether ``pci_requests`` (InstancePCIRequests, a list or None)
    asks for any device."""
    return bool(hw_pci.request_list(pci_requests))


def devices_per_cell(pci_stats):
    """{NUMA node: free devices on it} over every pool of ``pci_stats``."""
    counts = collections.Counter()
    for pool in pci_stats.pools():
        counts[pool["numa_node"]] += pool["count"]
    return counts


def order_cells(host_cells, wants_devices, pci_stats):
    """``host_cells`` (already in spread / pack order) with the cells
    holding the most free devices first when the guest ``wants_devices``,
    the fewest first otherwise (see the module docstring)."""
    counts = devices_per_cell(pci_stats)
    return sorted(host_cells, key=lambda cell: counts.get(cell.id, 0),
                  reverse=wants_devices)


class DeviceCheck:
    """Whether a set of host cells can serve the PCI requests; the
    answers are kept by set of cells (the order of the cells does not
    matter to the devices), and the first refusal is kept for the
    reason a fit gives."""

    def __init__(self, pci_requests, pci_stats, host_topology):
        self.requests = hw_pci.request_list(pci_requests)
        self.stats = pci_stats
        self.host_topology = host_topology
        self.answers = {}
        #: (sorted host cell ids, PciDeviceRequestFailed) of the first
        #: set of cells refused, or None
        self.first_refusal = None

    @classmethod
    def of(cls, pci_requests, pci_stats, host_topology):
        """A check, or None when there is nothing to check."""
        if pci_stats is None or not has_requests(pci_requests):
            return None
        return cls(pci_requests, pci_stats, host_topology)

    def __call__(self, cell_ids):
        key = frozenset(cell_ids)
        if key not in self.answers:
            refusal = self.stats.rejection(self.requests, sorted(key),
                                           self.host_topology)
            if refusal is not None and self.first_refusal is None:
                self.first_refusal = (sorted(key), refusal)
            self.answers[key] = refusal is None
        return self.answers[key]

    def reason(self):
        """Why no fitting placement of the guest cells serves the
        devices (call only after every placement was refused)."""
        cells, refusal = self.first_refusal
        return ("the PCI requests are met on none of the %d sets of host "
                "cells the guest's NUMA cells fit on (host cells %s: %s)"
                % (len(self.answers), cells, refusal))


# --- the policy a flavor or an image asks for --------------------------------

def numa_policy(flavor, image_props=None):
    """The PCI NUMA affinity policy ``flavor`` (``hw:pci_numa_affinity_
    policy``) or the image (ImageMetaProps ``hw_pci_numa_affinity_policy``)
    asks for, or None. The two must agree when both speak (Nova's
    ImagePCINUMAPolicyForbidden); a flavor value that is not a policy is
    refused (Nova's InvalidPCINUMAAffinity). Both raise
    InvalidNUMARequest naming the key and value."""
    key = "hw:pci_numa_affinity_policy"
    raw = (flavor.extra_specs or {}).get(key)
    flavor_policy = None
    if raw is not None and str(raw).strip() != "":
        flavor_policy = str(raw).strip()
        if flavor_policy not in _POLICY.ALL:
            raise InvalidNUMARequest(
                key=key, value=raw,
                reason="must be one of %s" % ", ".join(_POLICY.ALL))
    image_policy = None if image_props is None else \
        image_props.obj_get("hw_pci_numa_affinity_policy")
    if flavor_policy and image_policy and flavor_policy != image_policy:
        raise InvalidNUMARequest(
            key="hw_pci_numa_affinity_policy", value=image_policy,
            reason="the flavor's %s is %s" % (key, flavor_policy))
    return flavor_policy or image_policy


def with_numa_policy(pci_requests, policy):
    """Copies of the InstancePCIRequests ``pci_requests`` carrying
    ``policy`` as Nova's API gives it: a request for a flavor alias
    (``alias_name`` set) takes the flavor's or image's policy over its
    own; any other request (a port's) keeps its own and takes the
    policy only when it has none. ``pci_requests`` is not changed; None
    or no policy give ``pci_requests`` back as it is."""
    if pci_requests is None or not policy:
        return pci_requests
    result = pci_requests.obj_clone()
    for request in hw_pci.request_list(result):
        if request.obj_get("alias_name") or \
                not request.obj_get("numa_policy"):
            request.numa_policy = policy
    return result
