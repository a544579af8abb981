"""Differences from Nova this test has found that hoststate keeps on
purpose, each listed with its reason in README ("Comparing with real
Nova").

A case whose first difference is one of these is expected to fail
(``pytest.xfail`` with the entry's reason); any other difference fails
the test. Should hoststate come to agree with Nova on one, its entry goes
(the cases then pass), and so does its README line.

Each entry recognises its difference precisely (the item that differs
and the case's shape), so that it cannot hide another one.
"""
import dataclasses

LEGACY_CAPACITY = {"RamFilter", "CoreFilter", "DiskFilter"}


@dataclasses.dataclass(frozen=True)
class Known:
    name: str
    reason: str
    matches: object     # (case, nova, ours, difference) -> bool


def explain(case, nova, ours, difference):
    """The reason of the known difference ``difference`` is, or None."""
    for known in KNOWN:
        if known.matches(case, nova, ours, difference):
            return f"{known.name}: {known.reason}"
    return None


def _several_forced_hosts(case, nova, ours, difference):
    forced = case["request"]["force_hosts"]
    if not difference.startswith("instance 0: narrowed") or len(forced) < 2:
        return False
    first = {n["nodename"] for n in case["nodes"]
             if n["host"].lower() == forced[0].lower()}
    return set(nova["instances"][0]["narrowed"]) <= first


def _resolved_page_size(case, nova, ours, difference):
    """Nova passes fewer hosts through NUMATopologyFilter for a request
    asking for "any" or "large" pages."""
    pages = case["request"]["flavor"]["extra_specs"].get("hw:mem_page_size")
    return pages in ("any", "large") and \
        "hosts passing NUMATopologyFilter" in difference and \
        _nova_passes_fewer(nova, ours, difference)


def _nova_passes_fewer(nova, ours, difference):
    index = int(difference.split()[1].rstrip(":"))
    passing = [{name: set(hosts) for name, hosts in side["instances"][index]
                ["filters"]}.get("NUMATopologyFilter", set())
               for side in (nova, ours)]
    return passing[0] < passing[1]


def _partial_consume(case, nova, ours, difference):
    """A later instance, after devices were asked of a forced host (the
    filters that would have refused it skipped)."""
    request = case["request"]
    specs = request["flavor"]["extra_specs"]
    asks = "pci_passthrough:alias" in specs or \
        any(key.startswith("hw:") for key in specs)
    return asks and bool(request["force_hosts"] or request["force_nodes"]) \
        and difference.startswith("instance ") and \
        not difference.startswith("instance 0:")


KNOWN = (
    Known("several forced hosts",
          "Nova asks Placement for the first forced host's node only "
          "(in_tree); hoststate keeps every forced host",
          _several_forced_hosts),
    Known("resolved page size kept",
          "Nova writes the page size it resolved for \"any\" or \"large\" "
          "into the request's cell: the next host cell of the same fit is "
          "tried with the size the previous one offered, and after "
          "consume_from_request later instances keep the first's; "
          "hoststate resolves it per cell (not copied)",
          _resolved_page_size),
    Known("consume gives up part-way",
          "on a forced node without the PCI devices or NUMA room asked "
          "for, Nova's consume_from_request fails after the memory, disk "
          "and vCPUs and skips the I/O operation count; hoststate counts "
          "the instance whole (not copied)", _partial_consume),
)
