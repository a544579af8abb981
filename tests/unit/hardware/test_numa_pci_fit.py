"""Issue 13, case 6: the guest's NUMA cells fitted with its PCI devices in
view, as Nova 34's numa_fit_instance_to_host does with pci_requests and
pci_stats (numa_pci_fit.py).

The hosts are plain: cells of two shared CPUs and 1024 MiB, one thread
per core, 4 KiB pages. The guest is one cell of one shared vCPU and 512
MiB unless a test says otherwise. Without PCI in view such a guest goes
to host cell 0 (equal cells keep their order). Every expected answer is
Nova 34's, checked by running its numa_fit_instance_to_host on the same
inputs. (Nova's per-call fit cache is keyed by the guest cell's id, which
its fit rewrites to the host cell's: on some multi-cell guests it then
skips a permutation that fits. hoststate tries every permutation.)
"""
import pytest

from hoststate.hardware import consumption as cons
from hoststate.hardware import numa as hw
from hoststate.hardware import numa_pci_fit
from hoststate.hardware import pci as hw_pci
from hoststate.hardware.numa_errors import InvalidNUMARequest
from hoststate.objects import image_meta
from hoststate.objects import pci as pci_obj

from .numa_builders import flavor, guest, guest_cell, host, host_cell, limits

VF = {"vendor_id": "8086", "product_id": "154c"}
GPU = {"vendor_id": "10de", "product_id": "1db4"}
REQUIRED, LEGACY, PREFERRED, SOCKET = "required", "legacy", "preferred", \
    "socket"


def cells(n, socket_of=lambda i: 0, **per_cell):
    """A host of ``n`` plain cells; ``per_cell`` maps a cell id to extra
    NUMACell fields (memory_usage=..., cpu_usage=...)."""
    return host(*(host_cell(i, cpuset={2 * i, 2 * i + 1}, memory=1024,
                            socket=socket_of(i), **per_cell.get(str(i), {}))
                  for i in range(n)))


def stats(*pools):
    """PciDeviceStats of (ids, numa node, count) pools."""
    return hw_pci.PciDeviceStats.from_pools([
        dict(ids, numa_node=numa, count=count, dev_type="type-PCI")
        for ids, numa, count in pools])


def vf_request(policy=None, count=1):
    return pci_obj.InstancePCIRequests(requests=[pci_obj.InstancePCIRequest(
        count=count, spec=[dict(VF)], numa_policy=policy)])


def small_guest():
    return guest(guest_cell(0, cpuset={0}, memory=512))


def placed_on(fit):
    """The host cell ids the guest cells went to, or the reasons."""
    if not fit.fits:
        return fit.reasons
    return [cell.id for cell in fit.topology.cells]


def fit(topology, pci_requests=None, pci_stats=None, guest_topology=None,
        limits_=None):
    return hw.fit_instance_to_host(
        topology, guest_topology or small_guest(), limits_ or limits(),
        pci_requests=pci_requests, pci_stats=pci_stats)


# --- the case --------------------------------------------------------

@pytest.mark.parametrize("policy", [None, REQUIRED, LEGACY, PREFERRED,
                                    SOCKET])
def test_a_device_on_cell_1_brings_the_guest_to_cell_1(policy):
    """Two equal cells, one VF on cell 1: without PCI in view the guest
    takes cell 0 (where a required device is missing, so hoststate used
    to refuse the host); with it, cell 1 is tried first (it holds a
    device) and takes the guest under every policy (both cells on socket
    0)."""
    topology = cells(2)
    assert placed_on(fit(topology)) == [0]
    assert placed_on(fit(topology, vf_request(policy),
                         stats((VF, 1, 1)))) == [1]


def test_every_permutation_is_tried_until_the_devices_fit():
    """Three cells; cell 0 holds 2 GPUs, cell 2 one VF, cell 1 nothing.
    Nova's sort counts every free device, matching or not: order 0, 2, 1.
    A required VF is refused on cell 0 and found on cell 2; preferred
    takes the first cell that fits (0) and the VF from cell 2; legacy,
    with no device of unknown NUMA node, moves on to cell 2 too."""
    topology = cells(3)
    pools = stats((GPU, 0, 2), (VF, 2, 1))
    assert placed_on(fit(topology, vf_request(REQUIRED), pools)) == [2]
    assert placed_on(fit(topology, vf_request(LEGACY), pools)) == [2]
    assert placed_on(fit(topology, vf_request(PREFERRED), pools)) == [0]


def test_a_two_cell_guest_takes_the_device_cell_for_its_cell_0():
    """Three equal cells, the VF on cell 2: order 2, 0, 1, so guest cell
    0 goes to host cell 2 and guest cell 1 to host cell 0 (without PCI:
    0 and 1)."""
    two = guest(guest_cell(0, cpuset={0}, memory=256),
                guest_cell(1, cpuset={1}, memory=256))
    topology = cells(3)
    assert placed_on(fit(topology, guest_topology=two)) == [0, 1]
    assert placed_on(fit(topology, vf_request(REQUIRED), stats((VF, 2, 1)),
                         guest_topology=two)) == [2, 0]


# --- when the device's cell cannot take the guest ------------------------------

def _busy_device_cell(socket_of=lambda i: 0):
    """Cell 1 has 900 of 1024 MiB in use: 900 + 512 > 1024 x ratio 1, so
    the guest fits cell 0 only. The VF is on cell 1."""
    return cells(2, socket_of, **{"1": dict(memory_usage=900)})


def test_required_refuses_and_says_why():
    reasons = placed_on(fit(_busy_device_cell(), vf_request(REQUIRED),
                            stats((VF, 1, 1))))
    assert reasons == [(
        "the PCI requests are met on none of the 1 sets of host cells the "
        "guest's NUMA cells fit on (host cells [0]: PCI request #0 (1 x "
        "[{'vendor_id': '8086', 'product_id': '154c'}], numa_policy "
        "required) cannot be met: 0 matching devices free on or near NUMA "
        "cells [0], 1 requested (free: 8086:154c numa 1 {'dev_type': "
        "'type-PCI'} x1))")]


def test_legacy_refuses_unless_a_device_of_unknown_node_is_free():
    topology = _busy_device_cell()
    assert not fit(topology, vf_request(LEGACY), stats((VF, 1, 1)))
    assert placed_on(fit(topology, vf_request(LEGACY),
                         stats((VF, 1, 1), (VF, None, 1)))) == [0]


def test_preferred_falls_back_to_a_device_on_another_cell():
    assert placed_on(fit(_busy_device_cell(), vf_request(PREFERRED),
                         stats((VF, 1, 1)))) == [0]


def test_socket_takes_a_cell_on_the_device_socket_only():
    # one socket: cell 0 shares cell 1's socket
    assert placed_on(fit(_busy_device_cell(), vf_request(SOCKET),
                         stats((VF, 1, 1)))) == [0]
    # a socket per cell: no cell the guest fits is on the VF's socket
    assert not fit(_busy_device_cell(socket_of=lambda i: i),
                   vf_request(SOCKET), stats((VF, 1, 1)))


def test_socket_moves_the_guest_to_the_device_socket():
    """Four cells, two sockets (0, 1 | 2, 3), the VF on cell 1 and cell 1
    busy: the guest goes to cell 0, on the VF's socket, though cells 2
    and 3 have as much room."""
    topology = cells(4, lambda i: i // 2, **{"1": dict(memory_usage=900)})
    assert placed_on(fit(topology, vf_request(SOCKET),
                         stats((VF, 1, 1)))) == [0]
    topology.cells[0].memory_usage = 900
    assert not fit(topology, vf_request(SOCKET), stats((VF, 1, 1)))
    assert placed_on(fit(topology, vf_request(PREFERRED),
                         stats((VF, 1, 1)))) == [2]


# --- the pools given, no devices wanted, or no pools ----------------------------

def test_a_guest_without_pci_requests_keeps_off_the_device_cells():
    """Nova sorts the cells holding devices last for a guest that asks
    for none, keeping them for guests that do."""
    topology = cells(2)
    assert placed_on(fit(topology, None, stats((VF, 0, 1)))) == [1]
    assert placed_on(fit(topology, vf_request().requests[:0],
                         stats((VF, 0, 1)))) == [1]


def test_a_host_without_devices_refuses_a_guest_that_wants_one():
    reasons = placed_on(fit(cells(2), vf_request(), stats()))
    assert len(reasons) == 1 and "0 matching devices free, 1 requested" \
        in reasons[0]


def test_without_pools_the_requests_are_not_checked():
    assert placed_on(fit(cells(2), vf_request(REQUIRED), None)) == [0]


def test_the_pools_are_only_read():
    pools = stats((VF, 1, 1))
    before = pools.copy()
    fit(cells(2), vf_request(REQUIRED), pools)
    assert pools == before


def test_a_numa_misfit_gives_the_numa_reasons_not_the_devices():
    """When no placement takes the guest's cells the devices are never
    asked: the reasons are the cells'."""
    big = guest(guest_cell(0, cpuset={0}, memory=2048))
    reasons = placed_on(fit(cells(2), vf_request(REQUIRED),
                            stats((VF, 1, 1)), guest_topology=big))
    assert reasons == [
        "guest cell 0 on host cell %d: needs 2048 MiB of 4 KiB pages, the "
        "cell has 1024 MiB" % cell for cell in (1, 0)]


# --- hw:pci_numa_affinity_policy ---------------------------------------------

def props(**values):
    return image_meta.ImageMetaProps(**values)


@pytest.mark.parametrize("specs, image, expected", [
    ({}, {}, None),
    ({"hw:pci_numa_affinity_policy": "required"}, {}, "required"),
    ({}, {"hw_pci_numa_affinity_policy": "socket"}, "socket"),
    ({"hw:pci_numa_affinity_policy": "preferred"},
     {"hw_pci_numa_affinity_policy": "preferred"}, "preferred"),
])
def test_the_policy_comes_from_the_flavor_or_the_image(specs, image,
                                                        expected):
    assert numa_pci_fit.numa_policy(flavor(**specs), props(**image)) == \
        expected


def test_flavor_and_image_policies_must_agree():
    with pytest.raises(InvalidNUMARequest) as err:
        numa_pci_fit.numa_policy(
            flavor(**{"hw:pci_numa_affinity_policy": "required"}),
            props(hw_pci_numa_affinity_policy="legacy"))
    assert (err.value.kwargs["key"], err.value.kwargs["value"]) == \
        ("hw_pci_numa_affinity_policy", "legacy")
    assert "the flavor's hw:pci_numa_affinity_policy is required" in \
        str(err.value)


def test_a_flavor_policy_that_is_no_policy_is_refused():
    with pytest.raises(InvalidNUMARequest) as err:
        numa_pci_fit.numa_policy(
            flavor(**{"hw:pci_numa_affinity_policy": "strict"}))
    assert (err.value.kwargs["key"], err.value.kwargs["value"]) == \
        ("hw:pci_numa_affinity_policy", "strict")


def test_an_alias_request_takes_the_policy_a_port_request_keeps_its_own():
    requests = pci_obj.InstancePCIRequests(requests=[
        pci_obj.InstancePCIRequest(count=1, spec=[dict(VF)],
                                   alias_name="vf", numa_policy="legacy"),
        pci_obj.InstancePCIRequest(count=1, spec=[dict(VF)],
                                   request_id="5d3c0c1e-8f43-4f0e-9c87-3b8a7c1f1f10",
                                   numa_policy="preferred"),
        pci_obj.InstancePCIRequest(count=1, spec=[dict(VF)],
                                   request_id="6e4d1d2f-9a54-4a1f-8d98-4c9b8d2a2a21")])
    given = numa_pci_fit.with_numa_policy(requests, "required")
    assert [r.numa_policy for r in given.requests] == \
        ["required", "preferred", "required"]
    assert [r.numa_policy for r in requests.requests] == \
        ["legacy", "preferred", None]
    assert numa_pci_fit.with_numa_policy(requests, None) is requests
    assert numa_pci_fit.with_numa_policy(None, "required") is None


# --- the claims' fit: the cells and the devices taken agree --------------------

def _pool_list(*pools):
    return pci_obj.PciDevicePoolList.from_dicts([
        dict(ids, numa_node=numa, count=count, dev_type="type-PCI")
        for ids, numa, count in pools])


@pytest.mark.parametrize("topology, policy, cell, device_nodes", [
    (cells(2), REQUIRED, 1, [1]),               # the case
    (_busy_device_cell(), PREFERRED, 0, [1]),   # the fallback
])
def test_fit_devices_takes_the_devices_on_the_cells_it_chose(
        topology, policy, cell, device_nodes):
    devices = cons.fit_devices(topology, small_guest(), limits(),
                               vf_request(policy), _pool_list((VF, 1, 1)))
    assert (devices.numa_reasons, devices.pci_refused) == ([], False)
    assert [c.id for c in devices.numa_topology.cells] == [cell]
    assert [dict(take.pool)["numa_node"] for r in devices.allocation.requests
            for take in r.takes] == device_nodes
    assert devices.stats.free_count() == 0


def test_fit_devices_refuses_with_the_numa_reason():
    devices = cons.fit_devices(_busy_device_cell(), small_guest(), limits(),
                               vf_request(REQUIRED), _pool_list((VF, 1, 1)))
    assert devices.numa_topology is None
    assert devices.numa_reasons[0].startswith(
        "the PCI requests are met on none of the 1 sets")
    # the devices alone (no cells) are free: the one refusal is the NUMA
    # fit's, as Nova's claim says ("NUMA topology together with requested
    # PCI devices cannot fit")
    assert devices.pci_refused is False


def test_fit_devices_without_numa_or_pci_reads_nothing():
    devices = cons.fit_devices(None, None, None, None, "not read")
    assert devices == cons.DeviceFit(None, [], None, False, None)
