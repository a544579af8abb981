"""Narrowing before the filters, and which table rows are candidates at all.

Nova conformance 29 (requested destination, ignored, forced hosts and
nodes; forcing skips the filters unless ``_nova_check_type`` is set) and
33 (a deleted node and a node without a compute service are never
candidates; a node whose free_disk_gb is unset is not ready).

Everything here is in memory: a HostManager without a database whose table
is built by ``make_table``, and a Scheduler that consumes in the table
instead of claiming.
"""
import numpy as np
import pytest
from oslo_config import cfg

from hoststate import conf as hs_conf
from hoststate import exception
from hoststate.objects import flavor as flavor_obj
from hoststate.objects import request_spec
from hoststate.scheduler import manager
from hoststate.scheduler import plugins
from hoststate.scheduler.filters.compute import ComputeFilter
from hoststate.scheduler.host_manager import HostManager
from support.host_tables import make_table, node_record

INSTANCE = "11111111-1111-1111-1111-111111111111"
CELL1 = "00000000-0000-0000-0000-000000000001"


# --- set-up -------------------------------------------------------------------

def load_conf(**filter_scheduler):
    conf = hs_conf.load(conf=cfg.ConfigOpts(), use_env=False)
    conf.set_override("weight_classes", ["RAMWeigher"],
                      group="filter_scheduler")
    for name, value in filter_scheduler.items():
        conf.set_override(name, value, group="filter_scheduler")
    return conf


def make_spec(memory_mb=512, vcpus=1, root_gb=1, **components):
    flavor = flavor_obj.Flavor(flavorid="m1", name="m1", vcpus=vcpus,
                               memory_mb=memory_mb, root_gb=root_gb,
                               ephemeral_gb=0, swap=0)
    return request_spec.RequestSpec.from_components(INSTANCE, flavor,
                                                    **components)


def make_scheduler(nodes, conf=None, aggregates=(), seed=0):
    conf = conf if conf is not None else load_conf()
    hm = HostManager(context=None, conf=conf)
    hm.table = make_table(nodes, aggregates=aggregates)
    return manager.Scheduler(hm, conf=conf, seed=seed,
                             claim_in_database=False, refresh=False)


def host_nodes(table, rows):
    return [(table.host_of(r), table.nodename_of(r)) for r in rows]


def candidate_nodes(scheduler, spec):
    """(host, node) pairs that pass narrowing and filters for ``spec``."""
    request = scheduler.request_vector(spec)
    rows, _ = scheduler.candidates(request)
    return host_nodes(scheduler.table, rows)


def chosen(scheduler, spec):
    """(host, node) of the one instance's chosen Selection."""
    [[selection, *_]] = scheduler.select_destinations(
        spec, instance_uuids=[INSTANCE])
    return selection.service_host, selection.nodename


# --- narrowing: force, ignore, destination ---------------------------------------

#: host1 is a multi-node host (three nodes, as an Ironic-style compute);
#: host3's compute service is down (ComputeFilter removes it; a disabled
#: one would not even reach the filters, see the last test here);
#: "Host4" is stored with capitals. RAM decreases down the list so the
#: RAM weigher prefers earlier rows; rows follow this order.
NODES = [
    dict(host="host1", nodename="node1a", memory_mb=8192),
    dict(host="host1", nodename="node1b", memory_mb=7168),
    dict(host="host1", nodename="node1c", memory_mb=6144),
    dict(host="host2", nodename="node2", memory_mb=5120),
    dict(host="host3", nodename="node3", memory_mb=16384, up=False),
    dict(host="Host4", nodename="node4", memory_mb=4096),
]
H1 = [("host1", "node1a"), ("host1", "node1b"), ("host1", "node1c")]
H2 = [("host2", "node2")]
H3 = [("host3", "node3")]
H4 = [("Host4", "node4")]


def Destination(**values):
    return request_spec.Destination(**values)


@pytest.mark.parametrize("components, expected", [
    # Nothing asked: the default filters drop the down host3.
    ({}, H1 + H2 + H4),
    # force_hosts: every node of the forced host, filters skipped.
    ({"force_hosts": ["host1"]}, H1),
    # ... matched case-insensitively, both ways round.
    ({"force_hosts": ["HOST1"]}, H1),
    ({"force_hosts": ["host4"]}, H4),
    ({"force_hosts": ["hOsT1", "HOST2"]}, H1 + H2),
    # Forcing skips ComputeFilter: the down host3 is kept.
    ({"force_hosts": ["host3"]}, H3),
    # A force that matches nothing leaves nothing (Nova returns []).
    ({"force_hosts": ["host9"]}, []),
    # force_hosts and a node of another host: nothing.
    ({"force_hosts": ["host1"], "force_nodes": ["node2"]}, []),
    # force_hosts and one of its nodes: that node.
    ({"force_hosts": ["host1"], "force_nodes": ["node1b"]},
     [("host1", "node1b")]),
    # force_nodes alone: exact node names, filters skipped.
    ({"force_nodes": ["node1c"]}, [("host1", "node1c")]),
    ({"force_nodes": ["node1c", "node2"]}, [("host1", "node1c")] + H2),
    ({"force_nodes": ["node3"]}, H3),
    ({"force_nodes": ["NODE1C"]}, []),
    # ignore_hosts: every node of the host, case-insensitively; the
    # filters still run (host3 stays out).
    ({"ignore_hosts": ["HOST1"]}, H2 + H4),
    ({"ignore_hosts": ["host4", "host2"]}, H1),
    # Ignoring comes before forcing: an ignored forced host is gone.
    ({"ignore_hosts": ["host1"], "force_hosts": ["host1", "host2"]}, H2),
    # requested_destination: a host (all its nodes) or a host and a node;
    # the filters still run.
    ({"requested_destination": Destination(host="host1")}, H1),
    ({"requested_destination": Destination(host="host1", node="node1c")},
     [("host1", "node1c")]),
    ({"requested_destination": Destination(host="host1", node="node2")},
     []),
    ({"requested_destination": Destination(host="host3")}, []),
    ({"requested_destination": Destination(host="host9")}, []),
    # A destination and a force narrow together.
    ({"requested_destination": Destination(host="host1"),
      "force_nodes": ["node1a"]}, [("host1", "node1a")]),
])
def test_candidates_after_narrowing(components, expected):
    scheduler = make_scheduler(NODES)
    assert candidate_nodes(scheduler, make_spec(**components)) == expected


@pytest.mark.parametrize("components, forced", [
    ({}, False),
    ({"ignore_hosts": ["host1"]}, False),
    ({"requested_destination": Destination(host="host1")}, False),
    ({"force_hosts": ["host1"]}, True),
    ({"force_nodes": ["node2"]}, True),
    ({"force_hosts": ["nowhere"]}, True),   # forced, and nothing matched
])
def test_narrow_says_whether_it_forced(components, forced):
    scheduler = make_scheduler(NODES)
    table = scheduler.table
    rows = np.flatnonzero(table.candidates())
    _, was_forced = scheduler.host_manager.narrow(rows, make_spec(
        **components))
    assert was_forced is forced


@pytest.mark.parametrize("components, expected", [
    # Chosen by RAM among what is left: node1a has the most of host1.
    ({"force_hosts": ["HOST1"]}, ("host1", "node1a")),
    # The forced down host is chosen: the filters never ran.
    ({"force_hosts": ["host3"]}, ("host3", "node3")),
    ({"force_nodes": ["node3"]}, ("host3", "node3")),
    ({"force_nodes": ["node1c"]}, ("host1", "node1c")),
    # Without forcing host3 (most RAM, down) is never chosen.
    ({}, ("host1", "node1a")),
    ({"ignore_hosts": ["Host1"]}, ("host2", "node2")),
    ({"requested_destination": Destination(host="host1", node="node1b")},
     ("host1", "node1b")),
])
def test_select_destinations_honours_narrowing(components, expected):
    scheduler = make_scheduler(NODES)
    assert chosen(scheduler, make_spec(**components)) == expected


@pytest.mark.parametrize("components", [
    {"force_hosts": ["host9"]},
    {"force_hosts": ["host1"], "force_nodes": ["node2"]},
    {"ignore_hosts": ["host1", "HOST2", "host4"]},      # host3 down
    {"requested_destination": Destination(host="host3")},
])
def test_nothing_left_after_narrowing_is_no_valid_host(components):
    scheduler = make_scheduler(NODES)
    with pytest.raises(exception.NoValidHost) as caught:
        chosen(scheduler, make_spec(**components))
    names = [getattr(r, "name", r) for r in caught.value.reasons]
    assert names[0] == "requested/forced/ignored hosts"


def test_narrowing_reason_counts_the_hosts_removed():
    """6 candidate nodes; forcing host9 removes them all."""
    scheduler = make_scheduler(NODES)
    with pytest.raises(exception.NoValidHost) as caught:
        chosen(scheduler, make_spec(force_hosts=["host9"]))
    [outcome, *_] = caught.value.reasons
    assert (outcome.before, outcome.removed) == (6, 6)


# --- forcing with _nova_check_type ------------------------------------------------

class RebuildComputeFilter(ComputeFilter):
    """ComputeFilter that also runs on rebuilds (and for every instance)."""

    run_filter_once_per_request = False
    RUN_ON_REBUILD = True


@pytest.fixture
def rebuild_filter():
    plugins.filters.register(RebuildComputeFilter)
    try:
        yield RebuildComputeFilter.__name__
    finally:
        plugins.filters.unregister(RebuildComputeFilter.__name__)


@pytest.mark.parametrize("filter_name, hints, expected", [
    # Forcing without the hint: no filter runs, host3 (down) stays.
    ("RebuildComputeFilter", {}, H1 + H3),
    ("ComputeFilter", {}, H1 + H3),
    # The hint makes the filters run although hosts are forced: a filter
    # that runs on rebuilds removes host3 ...
    ("RebuildComputeFilter", {"_nova_check_type": "rebuild"}, H1),
    # ... while one that does not run on rebuilds passes every host.
    ("ComputeFilter", {"_nova_check_type": "rebuild"}, H1 + H3),
    # Any other check type: every filter runs, ComputeFilter too.
    ("ComputeFilter", {"_nova_check_type": "evacuate"}, H1),
])
def test_check_type_hint_runs_filters_when_forcing(rebuild_filter,
                                                   filter_name, hints,
                                                   expected):
    conf = load_conf(enabled_filters=[filter_name])
    scheduler = make_scheduler(NODES, conf=conf)
    spec = make_spec(force_hosts=["host1", "host3"], scheduler_hints=hints)
    assert candidate_nodes(scheduler, spec) == expected


def test_check_type_hint_forced_down_host_is_no_valid_host(
        rebuild_filter):
    conf = load_conf(enabled_filters=["RebuildComputeFilter"])
    scheduler = make_scheduler(NODES, conf=conf)
    spec = make_spec(force_hosts=["host3"],
                     scheduler_hints={"_nova_check_type": "rebuild"})
    with pytest.raises(exception.NoValidHost) as caught:
        chosen(scheduler, spec)
    assert caught.value.reasons[-1].name == "RebuildComputeFilter"
    # Without the hint the same force lands on host3.
    assert chosen(scheduler, make_spec(force_hosts=["host3"])) == \
        ("host3", "node3")


@pytest.mark.parametrize("components", [
    {"force_hosts": ["host5"]}, {"force_nodes": ["node5"]},
    {"requested_destination": Destination(host="host5")}])
def test_a_forced_disabled_host_is_never_chosen(components):
    """Nova 34's compute_status_filter runs before forcing: the nodes of a
    disabled service are not candidates at all, forced or not (issue 13)."""
    nodes = NODES + [dict(host="host5", nodename="node5", disabled=True)]
    scheduler = make_scheduler(nodes)
    with pytest.raises(exception.NoValidHost) as caught:
        chosen(scheduler, make_spec(**components))
    assert [str(r) for r in caught.value.reasons] == [
        "disabled computes (request filter) removed 1 of 7 hosts",
        "requested/forced/ignored hosts removed 6 of 6 hosts"]


def test_a_rebuild_runs_no_request_filter():
    """Nova 34 runs no request filter for the rebuild check: a rebuild
    forced onto its disabled host is kept (no filter runs on it either)."""
    nodes = NODES + [dict(host="host5", nodename="node5", disabled=True)]
    scheduler = make_scheduler(nodes)
    spec = make_spec(force_hosts=["host5"],
                     scheduler_hints={"_nova_check_type": "rebuild"})
    assert candidate_nodes(scheduler, spec) == [("host5", "node5")]
    assert candidate_nodes(scheduler, make_spec(force_hosts=["host5"])) == []


# --- which rows are candidates at all (conformance 33) ------------------------------

THREE = [dict(host="host1", memory_mb=4096),
         dict(host="host2", memory_mb=16384),     # the RAM weigher's pick
         dict(host="host3", memory_mb=2048)]


def test_removed_node_disappears_from_candidates():
    scheduler = make_scheduler(THREE)
    table = scheduler.table
    assert chosen(scheduler, make_spec()) == ("host2", "node2")
    assert candidate_nodes(scheduler, make_spec()) == [
        ("host1", "node1"), ("host2", "node2"), ("host3", "node3")]

    host2_uuid = table.uuid[table.row_of_host_node[("host2", "node2")]]
    assert table.remove_node(host2_uuid) is True
    assert candidate_nodes(scheduler, make_spec()) == [
        ("host1", "node1"), ("host3", "node3")]
    assert ("host2", "node2") not in scheduler.host_manager.host_state_map
    # host2 had the most RAM; now host1 (4096 - 512 = 3584 free after the
    # first choice is still above host3's 2048) is chosen.
    assert chosen(scheduler, make_spec()) == ("host1", "node1")
    # Forcing the removed host finds nothing.
    with pytest.raises(exception.NoValidHost):
        chosen(scheduler, make_spec(force_hosts=["host2"]))


def test_every_node_removed_is_no_valid_host():
    scheduler = make_scheduler(THREE)
    table = scheduler.table
    for row in np.flatnonzero(table.candidates()).tolist():
        table.remove_node(table.uuid[row])
    with pytest.raises(exception.NoValidHost) as caught:
        chosen(scheduler, make_spec())
    assert caught.value.reasons == [
        "no compute node is ready and has a service"]


def test_removed_row_is_reused_by_a_new_node():
    scheduler = make_scheduler(THREE)
    table = scheduler.table
    row = table.row_of_host_node[("host2", "node2")]
    table.remove_node(table.uuid[row])
    [new_row] = table.write_nodes([node_record(host="host2",
                                               nodename="node2new",
                                               memory_mb=32768)],
                                  cell=CELL1).tolist()
    assert new_row == row
    assert table.candidates()[row]
    # The new node's host answered "up" at the last liveness read, so the
    # node is up at once; a host last seen down keeps its nodes down.
    assert candidate_nodes(scheduler, make_spec()) == [
        ("host1", "node1"), ("host2", "node2new"), ("host3", "node3")]
    table.set_up({"host2": False})
    assert candidate_nodes(scheduler, make_spec()) == [
        ("host1", "node1"), ("host3", "node3")]
    table.set_up({"host2": True})
    assert chosen(scheduler, make_spec()) == ("host2", "node2new")


@pytest.mark.parametrize("host2_values", [
    {"has_service": False},      # no compute service record for host2
    {"free_disk_gb": None},      # the node record is not ready
])
def test_node_without_service_or_not_ready_is_never_a_candidate(
        host2_values):
    nodes = [dict(THREE[0]), dict(THREE[1], **host2_values),
             dict(THREE[2])]
    scheduler = make_scheduler(nodes)
    table = scheduler.table
    row = table.row_of_host_node[("host2", "node2")]
    assert table.present[row]
    assert not table.candidates()[row]
    assert candidate_nodes(scheduler, make_spec()) == [
        ("host1", "node1"), ("host3", "node3")]
    assert ("host2", "node2") not in scheduler.host_manager.host_state_map
    # host2 has the most RAM but is never chosen, not even when forced
    # (Nova skips such a node before narrowing).
    assert chosen(scheduler, make_spec()) == ("host1", "node1")
    for components in ({"force_hosts": ["host2"]},
                       {"force_nodes": ["node2"]},
                       {"requested_destination": Destination(host="host2")}):
        with pytest.raises(exception.NoValidHost):
            chosen(scheduler, make_spec(**components))


def test_free_disk_gb_none_is_not_ready_other_values_are():
    """Only an unset free_disk_gb makes a node not ready: 0 or a negative
    value (overcommitted disk) is a number."""
    table = make_table([dict(host="host1", free_disk_gb=None),
                        dict(host="host2", free_disk_gb=0),
                        dict(host="host3", free_disk_gb=-5),
                        dict(host="host4")])
    assert table.ready[:4].tolist() == [False, True, True, True]
    assert table.candidates().tolist() == [False, True, True, True]
    # host4's free disk defaults to local_gb - local_gb_used = 100 GiB.
    assert table.free_disk_mb[1:4].tolist() == [0.0, -5 * 1024, 100 * 1024]


def test_every_node_without_service_is_no_valid_host():
    scheduler = make_scheduler([dict(h, has_service=False) for h in THREE])
    with pytest.raises(exception.NoValidHost) as caught:
        chosen(scheduler, make_spec())
    assert caught.value.reasons == [
        "no compute node is ready and has a service"]


def test_service_removed_later_takes_its_nodes_out():
    scheduler = make_scheduler(NODES)
    scheduler.table.remove_service("host1")
    assert candidate_nodes(scheduler, make_spec()) == H2 + H4
    with pytest.raises(exception.NoValidHost):
        chosen(scheduler, make_spec(force_hosts=["host1"]))
