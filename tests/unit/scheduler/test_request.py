"""The request vector is read, never changed, while its instances are
placed: each instance sees the request through its own view."""
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
