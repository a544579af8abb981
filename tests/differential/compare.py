"""The first difference between Nova's answer to a case and hoststate's.

Both answers have the shape ``hoststate_side`` documents. Items are
compared in the order a request goes through them, so the first
difference is the one that explains the rest: the request as each side
understood it (NUMA constraints, PCI requests), then per instance the
candidates (request filters and Placement's capacity rule), the hosts
left by forced/ignored hosts, the hosts passing each filter, each
weigher's multiplier x normalised weight and the totals (within
``TOLERANCE``), the chosen node; then the outcome (NoValidHost at which
instance, or an error) and what ``select_destinations`` answered.
"""
import math

#: Weights agree when they differ by at most this, relative to their
#: size when that is above 1 (a multiplier of 1e6 scales a normalised
#: weight's rounding with it).
TOLERANCE = 1e-6


def first_difference(nova, ours):
    """A sentence naming the first differing item, or None."""
    for side, answer in (("Nova", nova), ("hoststate", ours)):
        if "harness_error" in answer:
            return f"the harness failed on {side}'s side:\n" \
                   f"{answer['harness_error']}"
    nova_api = (nova.get("outcome") or {}).get("api_error")
    our_api = (ours.get("outcome") or {}).get("api_error")
    if nova_api or our_api:
        if bool(nova_api) != bool(our_api):
            return _differ("the request's validity (API error)", nova_api,
                           our_api)
        return None
    if nova.get("inputs") and ours.get("inputs"):
        for key in ("numa_request", "pci_requests"):
            if nova["inputs"][key] != ours["inputs"][key]:
                return _differ(f"the request's {key}", nova["inputs"][key],
                               ours["inputs"][key])
    for index, (theirs, mine) in enumerate(zip(nova["instances"],
                                               ours["instances"])):
        found = _instance_difference(theirs, mine)
        if found:
            return f"instance {index}: {found}"
    if nova["outcome"] != ours["outcome"]:
        return _differ("the outcome", nova["outcome"], ours["outcome"])
    return _selected_difference(nova, ours["selected"])


def _instance_difference(nova, ours):
    for key in ("candidates", "narrowed"):
        if key in nova and nova[key] != ours.get(key):
            return _differ(f"{key} (nodes)", nova[key], ours.get(key))
    found = _filters_difference(nova.get("filters", []),
                                ours.get("filters", []),
                                nova.get("narrowed"))
    if found:
        return found
    for name, weights in nova.get("weights", {}).items():
        found = _weights_difference(weights, ours["weights"].get(name))
        if found:
            return f"{name}: {found}"
    if "total" in nova:
        found = _weights_difference(nova["total"], ours.get("total"))
        if found:
            return f"total weight: {found}"
    if nova.get("chosen") != ours.get("chosen"):
        return _differ("the chosen node", nova.get("chosen"),
                       ours.get("chosen"))
    return None


def _filters_difference(nova, ours, narrowed):
    """The first filter whose survivors differ. A filter one side runs
    and the other skips for this instance (Nova runs some only for the
    first instance of a request) must have removed nothing."""
    nova, ours = list(nova), list(ours)
    before = narrowed
    while nova or ours:
        if nova and ours and nova[0][0] == ours[0][0]:
            (name, theirs), (_, mine) = nova.pop(0), ours.pop(0)
            if theirs != mine:
                return _differ(f"hosts passing {name}", theirs, mine)
            before = theirs
            continue
        names = {step[0] for step in nova}
        side, steps = ("hoststate", ours) if ours and \
            ours[0][0] not in names else ("Nova", nova)
        name, passed = steps.pop(0)
        if passed != before:
            return (f"{name} ran on {side}'s side only and removed "
                    f"{sorted(set(before) - set(passed))}")
    return None


def _weights_difference(nova, ours):
    if ours is None or set(nova) != set(ours):
        return _differ("weighed nodes", sorted(nova),
                       sorted(ours or {}))
    for node, value in nova.items():
        if not close(value, ours[node]):
            return _differ(f"weight of {node}", value, ours[node])
    return None


def close(a, b):
    """Whether two weights agree (infinities and NaN as text agree when
    they are the same text)."""
    if isinstance(a, str) or isinstance(b, str):
        return a == b
    return abs(a - b) <= TOLERANCE * max(1.0, abs(a), abs(b)) or \
        (math.isnan(a) and math.isnan(b))


def _selected_difference(nova, selected):
    """select_destinations against Nova's chosen nodes and outcome."""
    outcome = nova["outcome"] or {}
    if "no_valid_host" in outcome:
        expected = {"no_valid_host": True}
    elif "error" in outcome:
        expected = {"error": outcome["error"]}
    else:
        expected = [i["chosen"] for i in nova["instances"]]
    if selected != expected:
        return _differ("select_destinations", expected, selected)
    return None


def _differ(item, nova, ours):
    return f"{item}: Nova {nova!r}, hoststate {ours!r}"


def message(case, difference):
    """The assertion message: how to replay the case, and what differs."""
    return (f"seed {case['seed']} case {case['index']} "
            f"({case['configuration']}): {difference}\n"
            f"replay: HOSTSTATE_DIFF_SEED={case['seed']} pytest "
            f"tests/differential -k 's{case['seed']}-i{case['index']}-'")
