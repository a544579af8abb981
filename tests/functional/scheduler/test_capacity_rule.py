"""The capacity rule has a single definition.

On the same random (node, flavor) pairs, every place that decides whether
an instance fits a node's cpus, memory and disk gives the same answer:

* the RAM, vCPU and disk filters over a HostTable built from the stored
  node row (as the HostManager writes it);
* the scheduler's claimable mask and its "what was short" explanation
  (the vector face);
* the scheduler's claim in the database (``claims.claim``, the scalar
  face on the raw row, ratios resolved from the scheduler's own
  configuration);
* the tracker's fit (``consumption.fit`` on the ComputeNode read from the
  same row).

Hypothesis draws nodes of 0 and more of each resource, unset (None, 0.0)
and set ratios, used amounts from nothing to over-committed, and flavors
around those numbers (steps of 512 MiB, so requests often meet free
amounts exactly). The filters' documented differences are the only ones
allowed: CoreFilter passes a node reporting 0 vCPUs, and the disk filter
counts swap exactly in MiB where a claim rounds an instance's disk up to
whole GiB (with swap in whole GiB the two agree exactly; with a fraction
the filter is never the stricter).
"""
import uuid

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from oslo_config import cfg

from hoststate import conf as hs_conf
from hoststate import exception
from hoststate.db import api as db_api
from hoststate.db import schema
from hoststate.hardware import capacity
from hoststate.hardware import consumption as cons
from hoststate.objects import compute_node as cn_obj
from hoststate.objects import flavor as flavor_obj
from hoststate.objects import request_spec
from hoststate.objects import service as service_obj
from hoststate.scheduler import claims
from hoststate.scheduler import filters as filters_mod
from hoststate.scheduler import host_manager
from hoststate.scheduler import host_table
from hoststate.scheduler import manager as manager_mod
from hoststate.scheduler.request import RequestVector

#: filter -> the resource it checks
FILTERS = {"RamFilter": "memory_mb", "CoreFilter": "vcpus",
           "DiskFilter": "disk_gb"}
RATIOS = [None, 0.0, 0.5, 1.0, 1.5, 2.0, 16.0]


def _own_conf():
    """The scheduler's configuration, whose defaults for unset ratios are
    not the process's (a claim reading the global CONF would disagree)."""
    conf = cfg.ConfigOpts()
    hs_conf.load(args=[], config_files=[], conf=conf)
    conf.set_override("initial_cpu_allocation_ratio", 3.0)
    conf.set_override("initial_ram_allocation_ratio", 1.5)
    conf.set_override("disk_allocation_ratio", 2.0)
    conf.set_override("enabled_filters", list(FILTERS),
                      group="filter_scheduler")
    return conf


CONF = _own_conf()


def _mib(low, high):
    return st.integers(low, high).map(lambda steps: steps * 512)


nodes = st.fixed_dictionaries({
    "vcpus": st.integers(0, 8),
    "vcpus_used": st.integers(0, 40),
    "memory_mb": _mib(0, 8),
    "memory_mb_used": _mib(0, 20),
    "local_gb": st.integers(0, 10),
    "local_gb_used": st.integers(0, 25),
    "cpu_allocation_ratio": st.sampled_from(RATIOS),
    "ram_allocation_ratio": st.sampled_from(RATIOS),
    "disk_allocation_ratio": st.sampled_from(RATIOS),
})


def flavors(swap):
    return st.fixed_dictionaries({
        "vcpus": st.integers(1, 12),
        "memory_mb": _mib(1, 12) | st.integers(1, 6000),
        "root_gb": st.integers(0, 14),
        "ephemeral_gb": st.integers(0, 3),
        "swap": swap,
    })


def _settings(examples):
    return settings(max_examples=examples, derandomize=True, database=None,
                    deadline=None, print_blob=False,
                    phases=[Phase.explicit, Phase.generate, Phase.shrink],
                    suppress_health_check=list(HealthCheck))


# --- one (node, flavor) pair through every place that checks it ---------------

def _store(ctx, node):
    """The node as a compute_nodes row, read back raw."""
    created = cn_obj.ComputeNode(
        ctx, host="host1", hypervisor_hostname=f"node-{uuid.uuid4().hex[:8]}",
        free_ram_mb=node["memory_mb"] - node["memory_mb_used"],
        free_disk_gb=node["local_gb"] - node["local_gb_used"],
        hypervisor_type="QEMU", hypervisor_version=1, cpu_info="{}", **node)
    created.create()
    with db_api.engine_of(ctx).connect() as conn:
        [row] = db_api.select_rows(conn, schema.compute_nodes,
                                   id=created.id)
    return row


def _request(flavor):
    spec = request_spec.RequestSpec.from_components(
        str(uuid.uuid4()), flavor_obj.Flavor(flavorid="f", name="f",
                                             **flavor),
        image={"id": str(uuid.uuid4())}, project_id="p1", user_id="u1")
    return RequestVector(spec, CONF)


def _answers(ctx, node, flavor):
    """{place: set of short resources} for one pair, and the Shortfalls
    of the tracker's fit and of the claim."""
    row = _store(ctx, node)
    request = _request(flavor)
    wanted = cons.Consumption.of(request.spec.flavor)

    hosts = host_manager.HostManager(conf=CONF)
    hosts.table = host_table.HostTable()
    hosts.table.write_nodes([row], ratio_defaults=hosts.ratio_defaults())
    scheduler = manager_mod.Scheduler(hosts, conf=CONF,
                                      claim_in_database=False, refresh=False)
    rows = np.array([hosts.table.row_of_uuid[row["uuid"]]])
    found = {}
    found["filters"] = {
        resource for name, resource in FILTERS.items()
        if not filters_mod.load(CONF, [name])[0].filter_mask(
            hosts.table, rows, request)[0]}
    found["claimable"] = len(scheduler.claimable(rows, request)) == 0
    found["explained"] = {s.resource for s in capacity.shortfalls_on_rows(
        hosts.table, rows, request.wanted())}

    tracked = cn_obj.ComputeNode._from_db_object(
        ctx, cn_obj.ComputeNode(ctx), row, conf=CONF)
    _, fit_shortfalls = cons.fit(tracked, wanted, None)
    found["tracker"] = {s.resource for s in fit_shortfalls}

    try:
        claims.claim(ctx, row["id"], request, str(uuid.uuid4()))
        claim_shortfalls = []
    except exception.ClaimRejected as rejected:
        claim_shortfalls = rejected.shortfalls
    found["claim"] = {s.resource for s in claim_shortfalls}
    return found, fit_shortfalls, claim_shortfalls


def _scheduler_and_tracker_agree(found, fit_shortfalls, claim_shortfalls):
    assert found["tracker"] == found["claim"] == found["explained"]
    assert found["claimable"] is bool(found["tracker"])
    # the same numbers too, whichever face read the node
    assert fit_shortfalls == claim_shortfalls


def _asked_none(flavor):
    """The resources ``flavor`` takes none of: a claim does not check them
    (Placement leaves them out of its query), the legacy filters still
    want free >= 0 of them, as Nova's did."""
    asked = {"vcpus": flavor["vcpus"], "memory_mb": flavor["memory_mb"],
             "disk_gb": flavor["root_gb"] + flavor["ephemeral_gb"]
             + flavor["swap"]}
    return {resource for resource, amount in asked.items() if amount == 0}


def _allowed_by_core_filter(node, short):
    """CoreFilter passes a node reporting 0 vCPUs (Nova's leniency)."""
    return short - {"vcpus"} if node["vcpus"] == 0 else short


@_settings(120)
@given(node=nodes, flavor=flavors(st.sampled_from([0, 1024, 2048])))
def test_filters_claim_and_tracker_give_the_same_answer(ctx, node, flavor):
    found, fit_shortfalls, claim_shortfalls = _answers(ctx, node, flavor)
    _scheduler_and_tracker_agree(found, fit_shortfalls, claim_shortfalls)
    asked_none = _asked_none(flavor)
    assert found["claim"].isdisjoint(asked_none)
    assert found["filters"] - asked_none == \
        _allowed_by_core_filter(node, found["claim"])


@_settings(60)
@given(node=nodes, flavor=flavors(st.integers(1, 1023) |
                                  st.integers(1025, 2047)))
def test_with_a_fraction_of_a_gib_of_swap_the_disk_filter_is_never_stricter(
        ctx, node, flavor):
    found, fit_shortfalls, claim_shortfalls = _answers(ctx, node, flavor)
    _scheduler_and_tracker_agree(found, fit_shortfalls, claim_shortfalls)
    expected = _allowed_by_core_filter(node, found["claim"])
    asked_none = _asked_none(flavor)
    assert found["filters"] - {"disk_gb"} - asked_none == \
        expected - {"disk_gb"}
    assert found["filters"] - asked_none <= expected


# --- examples worked out by hand ------------------------------------------------------

@pytest.mark.parametrize("node, flavor, short", [
    # 8 vCPUs x 16.0 - 0: 128 free, but 9 is larger than the node
    (dict(vcpus=8, cpu_allocation_ratio=16.0), dict(vcpus=9), {"vcpus"}),
    # exactly full: 4096 x 1.0 - 3072 = 1024
    (dict(memory_mb=4096, memory_mb_used=3072, ram_allocation_ratio=1.0),
     dict(memory_mb=1024), set()),
    (dict(memory_mb=4096, memory_mb_used=3072, ram_allocation_ratio=1.0),
     dict(memory_mb=1025), {"memory_mb"}),
    # an unset disk ratio is the scheduler's configured 2.0: 20 - 15 = 5
    (dict(local_gb=10, local_gb_used=15, disk_allocation_ratio=None),
     dict(root_gb=5), set()),
    # over-committed already: nothing more fits
    (dict(vcpus=4, vcpus_used=5, cpu_allocation_ratio=1.0), dict(vcpus=1),
     {"vcpus"}),
])
def test_worked_examples(ctx, node, flavor, short):
    node = {**dict(vcpus=8, vcpus_used=0, memory_mb=8192, memory_mb_used=0,
                   local_gb=100, local_gb_used=0, cpu_allocation_ratio=1.0,
                   ram_allocation_ratio=1.0, disk_allocation_ratio=1.0),
            **node}
    flavor = {**dict(vcpus=1, memory_mb=512, root_gb=0, ephemeral_gb=0,
                     swap=0), **flavor}
    found, fit_shortfalls, claim_shortfalls = _answers(ctx, node, flavor)
    _scheduler_and_tracker_agree(found, fit_shortfalls, claim_shortfalls)
    assert found["claim"] == found["filters"] == short


# --- the scheduler's own configuration -----------------------------------------------

def test_a_scheduler_claims_by_its_own_configuration(ctx):
    """The node stores no RAM ratio. The scheduler's configuration reads
    it as 1.5 (its initial ratio), the process's CONF as 1.0: 1024 MiB on
    a node of 4096 MiB with 3584 used fits only by the scheduler's
    (4096 x 1.5 - 3584 = 2560 free; 512 by the process's), and the claim
    in the database agrees with the filters that let the node through."""
    service_obj.Service(ctx, host="host1", binary="nova-compute",
                        topic="compute").create()
    row = _store(ctx, dict(vcpus=8, vcpus_used=0, memory_mb=4096,
                           memory_mb_used=3584, local_gb=100,
                           local_gb_used=0, cpu_allocation_ratio=1.0,
                           ram_allocation_ratio=None,
                           disk_allocation_ratio=1.0))
    hosts = host_manager.HostManager(ctx, conf=CONF,
                                     servicegroup=host_manager.ALL_UP)
    scheduler = manager_mod.Scheduler(hosts.load(), conf=CONF, seed=1)
    [[chosen]] = scheduler.select_destinations(
        _request(dict(vcpus=1, memory_mb=1024, root_gb=1, ephemeral_gb=0,
                      swap=0)).spec, return_alternates=False)
    assert chosen.nodename == row["hypervisor_hostname"]
    stored = cn_obj.ComputeNode.get_by_id(ctx, row["id"])
    assert stored.memory_mb_used == 3584 + 1024
    # the process's CONF (ram ratio 1.0) would have refused the claim
    with pytest.raises(exception.ClaimRejected) as rejected:
        claims.claim(ctx, row["id"], RequestVector(
            _request(dict(vcpus=1, memory_mb=1024, root_gb=1,
                          ephemeral_gb=0, swap=0)).spec, hs_conf.CONF),
            str(uuid.uuid4()))
    [short] = rejected.value.shortfalls
    assert (short.resource, short.requested, short.free, short.capacity) == \
        ("memory_mb", 1024, -512.0, 4096.0)
