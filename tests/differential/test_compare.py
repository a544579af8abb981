"""The differential test's own parts, without Nova: the comparison finds
each kind of difference (so the test can fail), the known differences
recognise only their own, and the generated batch covers what the issue
asks for."""
import collections
import copy

import pytest

from differential import compare
from differential import generator
from differential import known


def answer(**instance):
    """A one-instance answer on nodes n1 and n2, n1 chosen."""
    trace = {"candidates": ["n1", "n2"], "narrowed": ["n1", "n2"],
             "filters": [["ComputeFilter", ["n1", "n2"]],
                         ["RamFilter", ["n1", "n2"]]],
             "weights": {"RAMWeigher": {"n1": 1.0, "n2": 0.0}},
             "total": {"n1": 1.0, "n2": 0.0}, "chosen": "n1"}
    trace.update(instance)
    return {"inputs": {"numa_request": None, "pci_requests": []},
            "instances": [trace], "outcome": None, "selected": ["n1"]}


def test_equal_answers_have_no_difference():
    assert compare.first_difference(answer(), answer()) is None


@pytest.mark.parametrize("ours, expected", [
    (answer(candidates=["n1"]),
     "instance 0: candidates (nodes): Nova ['n1', 'n2'], hoststate ['n1']"),
    (answer(filters=[["ComputeFilter", ["n1", "n2"]],
                     ["RamFilter", ["n2"]]]),
     "instance 0: hosts passing RamFilter: Nova ['n1', 'n2'], "
     "hoststate ['n2']"),
    (answer(weights={"RAMWeigher": {"n1": 1.0, "n2": 0.5}}),
     "instance 0: RAMWeigher: weight of n2: Nova 0.0, hoststate 0.5"),
    (answer(chosen="n2"),
     "instance 0: the chosen node: Nova 'n1', hoststate 'n2'"),
])
def test_the_first_differing_item_is_named(ours, expected):
    assert compare.first_difference(answer(), ours) == expected


def test_weights_within_the_tolerance_agree():
    """1e-7 apart agrees; a 1e6 multiplier scales the tolerance with it
    (0.5 x 1e6 against 0.5 x 1e6 + 0.1: 2e-7 relative)."""
    ours = answer(weights={"RAMWeigher": {"n1": 1.0 + 1e-7, "n2": 0.0}})
    assert compare.first_difference(answer(), ours) is None
    assert compare.close(500000.0, 500000.1)
    assert not compare.close(0.0, 2e-6)


def test_a_filter_only_one_side_runs_must_remove_nothing():
    """Nova runs ImagePropertiesFilter for the first instance only: an
    extra run on hoststate's side that keeps every host is no difference,
    one that removes a host is."""
    extra = [["ComputeFilter", ["n1", "n2"]],
             ["ImagePropertiesFilter", ["n1", "n2"]],
             ["RamFilter", ["n1", "n2"]]]
    assert compare.first_difference(answer(), answer(filters=extra)) is None
    extra[1][1] = ["n1"]
    assert compare.first_difference(answer(), answer(filters=extra)) == (
        "instance 0: ImagePropertiesFilter ran on hoststate's side only "
        "and removed ['n2']")


def test_select_destinations_is_compared_with_novas_choices():
    ours = answer()
    ours["selected"] = {"no_valid_host": True}
    assert compare.first_difference(answer(), ours) == (
        "select_destinations: Nova ['n1'], hoststate "
        "{'no_valid_host': True}")


def test_the_message_says_how_to_replay():
    case = {"seed": 7, "index": 42, "configuration": "full"}
    assert compare.message(case, "x") == (
        "seed 7 case 42 (full): x\nreplay: HOSTSTATE_DIFF_SEED=7 pytest "
        "tests/differential -k 's7-i42-'")


# --- known differences -------------------------------------------------------

def _case(**request):
    case = copy.deepcopy(generator.case(13, 0))
    case["request"].update(request)
    return case


def test_several_forced_hosts_is_recognised_only_when_forcing_several():
    """Nova narrows to the first forced host's node; the same difference
    with one forced host is something else."""
    nova, ours = answer(narrowed=["node2"]), answer(narrowed=["node2",
                                                             "node3"])
    difference = compare.first_difference(nova, ours)
    several = _case(force_hosts=["HOST2", "host3"])
    assert known.explain(several, nova, ours, difference).startswith(
        "several forced hosts")
    assert known.explain(_case(force_hosts=["host2"]), nova, ours,
                         difference) is None


def test_an_unexplained_difference_is_not_known():
    nova, ours = answer(), answer(chosen="n2")
    difference = compare.first_difference(nova, ours)
    assert known.explain(_case(), nova, ours, difference) is None


# --- the generated batch -----------------------------------------------------

def test_a_run_covers_every_configuration_and_feature():
    """The default batch (240 cases of seed 13): at least 200 cases, a
    third per configuration, and each feature the issue lists in some."""
    cases = generator.cases(13, 240)
    seen = collections.Counter()
    for case in cases:
        nodes, request = case["nodes"], case["request"]
        specs = request["flavor"]["extra_specs"]
        seen[case["configuration"]] += 1
        seen["numa hosts"] += any(n["numa_topology"] for n in nodes)
        seen["pci pools"] += any(n["pci_pools"] for n in nodes)
        seen["over-committed"] += any(
            n["memory_mb_used"] > n["memory_mb"] * n["ram_allocation_ratio"]
            for n in nodes)
        seen["metrics"] += "metrics" in case["conf"]
        seen["several instances"] += len(request["instance_uuids"]) > 1
        seen["group"] += request["group"] is not None
        seen["forced"] += bool(request["force_hosts"] or
                               request["force_nodes"])
        seen["ignored"] += bool(request["ignore_hosts"])
        seen["numa request"] += any(k.startswith("hw:") for k in specs)
        seen["pci request"] += "pci_passthrough:alias" in specs
        seen["aggregates"] += bool(case["aggregates"])
    assert len(cases) >= 200
    assert [seen[c] for c in generator.CONFIGURATIONS] == [80, 80, 80]
    assert min(seen.values()) >= 10, seen


def test_a_case_replays_alone():
    assert generator.case(13, 57) == generator.cases(13, 58)[57]
