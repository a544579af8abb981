"""The request vector is read, never changed, while its instances are
placed: each instance sees the request through its own view."""
from hoststate.objects import flavor as flavor_obj
from hoststate.objects import pci as pci_obj
from hoststate.objects import request_spec
from hoststate.scheduler import request as request_mod

from .weights.weigher_support import make_group, make_request


def test_a_view_adds_the_earlier_placements_and_leaves_the_request_be():
    request = make_request(group=make_group("anti-affinity", ["old"]),
                           instance_hosts={"old": "host9"})
    view = request.for_instance(2, "c", [("a", "host1"), ("b", "host1")])
    assert (view.index, view.instance_uuid, view.placed) == \
        (2, "c", (("a", "host1"), ("b", "host1")))
    assert view.group_members == {"old", "a", "b"}
    assert view.group_hosts == ["host1"]
    assert view.instance_hosts == {"old": "host9", "a": "host1",
                                   "b": "host1"}
    assert view.members_per_host() == {"host9": 1, "host1": 2}
    # the request itself is as it was built
    assert (request.index, request.placed) == (0, ())
    assert request.group_members == {"old"}
    assert request.group_hosts == []
    assert request.instance_hosts == {"old": "host9"}


def test_views_share_what_is_computed_once_per_request():
    request = make_request()
    first, second = request.for_instance(0, "a"), request.for_instance(1, "b")
    first.per_request["computed"] = 1
    assert second.per_request == {"computed": 1} == request.per_request


def test_a_view_without_placements_keeps_the_group_as_it_was():
    request = make_request(group=make_group("affinity", ["m1"]))
    view = request.for_instance(0, "a")
    assert (view.group_members, view.group_hosts, view.placed) == \
        ({"m1"}, [], ())


def _pci_spec(extra_specs, image_props=None):
    vf = {"vendor_id": "8086", "product_id": "1515"}
    requests = pci_obj.InstancePCIRequests(requests=[
        pci_obj.InstancePCIRequest(count=1, spec=[vf], alias_name="vf"),
        pci_obj.InstancePCIRequest(count=1, spec=[vf], request_id="00000000-0000-4000-8000-000000000001",
                                   numa_policy="required"),
        pci_obj.InstancePCIRequest(count=1, spec=[vf], request_id="00000000-0000-4000-8000-000000000002")])
    flavor = flavor_obj.Flavor(flavorid="m1", name="m1", memory_mb=512,
                               vcpus=1, extra_specs=extra_specs)
    image = {"id": "22222222-2222-2222-2222-222222222222",
             "properties": image_props or {}}
    return request_spec.RequestSpec.from_components(
        "11111111-1111-1111-1111-111111111111", flavor, image=image,
        pci_requests=requests)


def test_the_pci_numa_policy_is_carried_onto_the_requests():
    """As Nova's API copies it (issue 13, case 6): the flavor's (or the
    image's) policy replaces an alias request's, and fills a port
    request's only when it has none; the spec's requests stay as they
    were."""
    for specs, props in (({"hw:pci_numa_affinity_policy": "preferred"}, {}),
                         ({}, {"hw_pci_numa_affinity_policy": "preferred"})):
        spec = _pci_spec(specs, props)
        request = request_mod.RequestVector(spec)
        assert [r.numa_policy for r in request.pci_requests.requests] == \
            ["preferred", "required", "preferred"]
        assert [r.numa_policy for r in spec.pci_requests.requests] == \
            [None, "required", None]
    request = request_mod.RequestVector(_pci_spec({}))
    assert [r.numa_policy for r in request.pci_requests.requests] == \
        [None, "required", None]
