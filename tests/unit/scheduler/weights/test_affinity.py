"""Soft affinity and soft anti-affinity weighers: Nova conformance item 16
and the vectorized weights against Nova's host-by-host weighing."""
import hypothesis
import hypothesis.strategies as st
import pytest

from hoststate.scheduler.weights import affinity

from .weigher_support import (make_conf, make_group, make_request,
                              nova_multiplier, nova_weigh, table_of,
                              weights_by_host)

THREE_HOSTS = [dict(host="host1"), dict(host="host2"), dict(host="host3")]

#: Where instances run: two groups' members and an unrelated instance.
PLACEMENT = {
    "a1": "host2", "a2": "host2", "a3": "host3",      # group A
    "b1": "host1", "b2": "host1", "b3": "host1",      # group B
    "lone": "host3",                                  # in no group
}
GROUP_A = ["a1", "a2", "a3"]
GROUP_B = ["b1", "b2", "b3"]


def group_weights(cls, policy, members, hosts=THREE_HOSTS, **options):
    request = make_request(group=make_group(policy, members),
                           instance_hosts=PLACEMENT)
    return weights_by_host([cls(make_conf(**options))], table_of(hosts),
                           request)


def test_soft_affinity_prefers_the_host_with_most_members():
    # group A: 0, 2, 1 members -> 0, 1, 0.5
    got = group_weights(affinity.ServerGroupSoftAffinityWeigher,
                        "soft-affinity", GROUP_A)
    assert got == {"host1": 0.0, "host2": 1.0, "host3": 0.5}


def test_soft_affinity_counts_only_members_of_the_requests_group():
    # host1 runs three instances of group B, so it wins for group B only;
    # running the same weigher twice shares nothing between requests
    weigher = affinity.ServerGroupSoftAffinityWeigher(make_conf())
    table = table_of(THREE_HOSTS)
    for members, winner in ((GROUP_A, "host2"), (GROUP_B, "host1"),
                            (GROUP_A, "host2")):
        request = make_request(group=make_group("soft-affinity", members),
                               instance_hosts=PLACEMENT)
        got = weights_by_host([weigher], table, request)
        assert max(got, key=got.get) == winner
        assert got[winner] == 1.0


def test_soft_anti_affinity_prefers_the_host_with_fewest_members():
    # raw 0, -2, -1 -> 1, 0, 0.5
    got = group_weights(affinity.ServerGroupSoftAntiAffinityWeigher,
                        "soft-anti-affinity", GROUP_A,
                        soft_anti_affinity_weight_multiplier=2.0)
    assert got == {"host1": 2.0, "host2": 0.0, "host3": 1.0}


def test_instances_placed_earlier_in_the_request_count():
    request = make_request(group=make_group("soft-affinity", []),
                           instance_hosts=PLACEMENT)
    request = request.for_instance(1, "new-2", [("new-1", "host3")])
    got = weights_by_host(
        [affinity.ServerGroupSoftAffinityWeigher(make_conf())],
        table_of(THREE_HOSTS), request)
    assert got == {"host1": 0.0, "host2": 0.0, "host3": 1.0}


@pytest.mark.parametrize("cls,policy", [
    (affinity.ServerGroupSoftAffinityWeigher, "affinity"),
    (affinity.ServerGroupSoftAffinityWeigher, "soft-anti-affinity"),
    (affinity.ServerGroupSoftAntiAffinityWeigher, "anti-affinity"),
    (affinity.ServerGroupSoftAntiAffinityWeigher, "soft-affinity"),
    (affinity.ServerGroupSoftAffinityWeigher, None),
])
def test_other_policies_weigh_zero(cls, policy):
    if policy is None:
        request = make_request(instance_hosts=PLACEMENT)
        got = weights_by_host([cls(make_conf())], table_of(THREE_HOSTS),
                              request)
    else:
        got = group_weights(cls, policy, GROUP_A)
    assert set(got.values()) == {0.0}


def test_members_on_hosts_the_table_does_not_know_are_ignored():
    table = table_of(THREE_HOSTS)
    counts = affinity.members_by_host_code(table, {"host2": 3, "gone": 5})
    host_codes = table.codes("host")
    assert counts[host_codes[table.row_of_host_node[("host2", "node2")]]] \
        == 3
    assert counts.sum() == 3


def test_every_node_of_a_host_sees_the_host_members():
    hosts = [dict(host="host1", nodename="n1"),
             dict(host="host1", nodename="n2"), dict(host="host2")]
    request = make_request(group=make_group("soft-affinity", ["a1"]),
                           instance_hosts={"a1": "host1"})
    table = table_of(hosts)
    got = affinity.ServerGroupSoftAffinityWeigher(make_conf()).raw_weights(
        table, [0, 1, 2], request)
    assert got.tolist() == [1.0, 1.0, 0.0]


# --- vectorized == Nova host by host -----------------------------------------

@st.composite
def group_scenarios(draw):
    """Hosts, instances on them (members or not), a policy, aggregates."""
    count = draw(st.integers(2, 6))
    names = [f"host{i}" for i in range(count)]
    where = st.none() | st.sampled_from(names)
    members = {f"m{i}": draw(where) for i in range(draw(st.integers(0, 8)))}
    others = {f"o{i}": draw(where) for i in range(draw(st.integers(0, 4)))}
    policy = draw(st.sampled_from(["soft-affinity", "soft-anti-affinity",
                                   "affinity", None]))
    key = draw(st.sampled_from(["soft_affinity_weight_multiplier",
                                "soft_anti_affinity_weight_multiplier"]))
    aggregates = [(f"agg{i}", draw(st.sets(st.sampled_from(names))),
                   {key: draw(st.sampled_from(["0", "0.5", "3", "bad"]))})
                  for i in range(draw(st.integers(0, 2)))]
    return names, members, others, policy, aggregates


def nova_members_on(host, members, placement):
    """Nova: instances on the host that are members of the group."""
    on_host = {uuid for uuid, where in placement.items() if where == host}
    return len(on_host & set(members))


@pytest.mark.parametrize("cls,policy,sign", [
    (affinity.ServerGroupSoftAffinityWeigher, "soft-affinity", 1),
    (affinity.ServerGroupSoftAntiAffinityWeigher, "soft-anti-affinity", -1),
])
def test_soft_group_weighers_match_nova(cls, policy, sign):
    @hypothesis.settings(max_examples=60, deadline=None)
    @hypothesis.given(scenario=group_scenarios(),
                      multiplier=st.sampled_from([1.0, 0.0, 2.0]))
    def check(scenario, multiplier):
        names, members, others, group_policy, aggregates = scenario
        key = cls.multiplier_option
        conf = make_conf(**{key: multiplier})
        placement = {u: h for u, h in {**members, **others}.items()
                     if h is not None}
        group = make_group(group_policy, members) if group_policy else None
        request = make_request(group=group, instance_hosts=placement)
        raws = [sign * nova_members_on(h, members, placement)
                if group_policy == policy else 0 for h in names]
        expected = nova_weigh(raws, [nova_multiplier(aggregates, h, key,
                                                     multiplier)
                                     for h in names])
        got = weights_by_host([cls(conf)],
                              table_of([dict(host=h) for h in names],
                                       aggregates), request)
        assert list(got.values()) == pytest.approx(expected)
    check()
