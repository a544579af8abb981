"""Nova's request filters, run before any filter (issue 13, case 2): a
requested availability zone keeps the hosts of that zone's aggregates
whatever ``enabled_filters`` says, as Nova 34 does."""
import pytest

from hoststate import exception

from .test_manager import (hosts_of, load_conf, make_scheduler, make_spec,
                           select)

#: host2 has the most free RAM: without the zone it is chosen
HOSTS = [dict(host="host1", memory_mb=4096),
         dict(host="host2", memory_mb=16384),
         dict(host="host3", memory_mb=8192)]
ZONES = [("agg-az1", ["host1", "host3"], {"availability_zone": "az1"}),
         ("agg-az2", ["host2"], {"availability_zone": "az2"})]


def test_a_requested_zone_is_honoured_with_nova_34s_default_filters():
    """Nova 34's default enabled_filters has no AvailabilityZoneFilter;
    the request filter still keeps the boot in az1."""
    scheduler = make_scheduler(HOSTS, aggregates=ZONES)
    assert "AvailabilityZoneFilter" not in \
        scheduler.conf.filter_scheduler.enabled_filters
    selections = select(scheduler, make_spec(availability_zone="az1"),
                        return_alternates=True)
    assert hosts_of(selections) == [["host3", "host1"]]


def test_no_zone_requested_keeps_every_host():
    scheduler = make_scheduler(HOSTS, aggregates=ZONES)
    assert hosts_of(select(scheduler, make_spec())) == \
        [["host2", "host3", "host1"]]


def test_a_zone_no_aggregate_names_requires_nothing():
    """The default zone has no aggregate (its hosts are those in none):
    Nova 34 then adds no constraint, and a host of az2 may be chosen."""
    scheduler = make_scheduler(HOSTS, aggregates=ZONES)
    selections = select(scheduler, make_spec(availability_zone="nova"))
    assert hosts_of(selections)[0][0] == "host2"


def test_a_zone_value_is_matched_whole():
    """Nova looks aggregates up by their exact metadata value: an
    aggregate whose value lists two zones is not one of either."""
    scheduler = make_scheduler(HOSTS, aggregates=[
        ("agg-both", ["host2"], {"availability_zone": "az1,az2"}),
        ("agg-az1", ["host1"], {"availability_zone": "az1"})])
    selections = select(scheduler, make_spec(availability_zone="az1"))
    assert hosts_of(selections)[0][0] == "host1"


def test_a_zone_without_candidates_is_explained():
    scheduler = make_scheduler(
        [dict(host="host1", up=False), dict(host="host2")],
        aggregates=[("agg-az1", ["host1"], {"availability_zone": "az1"})])
    with pytest.raises(exception.NoValidHost) as refused:
        select(scheduler, make_spec(availability_zone="az1"))
    # the request filter keeps host1, then ComputeFilter removes it
    assert [str(r) for r in refused.value.reasons] == [
        "availability zone (request filter) removed 1 of 2 hosts",
        "ComputeFilter removed 1 of 1 hosts (compute service disabled on 0"
        " host(s), down on 1)"]


def test_a_zone_whose_hosts_are_disabled_stops_at_the_request_filter():
    """Nova 34's compute_status_filter runs after the zone's: the last
    hosts are removed (and explained) before any filter."""
    scheduler = make_scheduler(
        [dict(host="host1", disabled=True), dict(host="host2")],
        aggregates=[("agg-az1", ["host1"], {"availability_zone": "az1"})])
    with pytest.raises(exception.NoValidHost) as refused:
        select(scheduler, make_spec(availability_zone="az1"))
    assert [str(r) for r in refused.value.reasons] == [
        "availability zone (request filter) removed 1 of 2 hosts",
        "disabled computes (request filter) removed 1 of 1 hosts (compute "
        "service disabled on 1 host(s))"]


def test_disabled_computes_are_removed_with_any_filter_list():
    """Always on, as in Nova 34: even with AllHostsFilter alone."""
    scheduler = make_scheduler(
        [dict(host="host1", disabled=True, memory_mb=65536),
         dict(host="host2")],
        conf=load_conf(enabled_filters=["AllHostsFilter"]))
    assert hosts_of(select(scheduler, make_spec())) == [["host2"]]


def test_a_zone_whose_hosts_are_all_gone_stops_at_the_request_filter():
    scheduler = make_scheduler(
        [dict(host="host2")],
        aggregates=[("agg-az1", ["host9"], {"availability_zone": "az1"})])
    with pytest.raises(exception.NoValidHost) as refused:
        select(scheduler, make_spec(availability_zone="az1"))
    assert [str(r) for r in refused.value.reasons] == [
        "availability zone (request filter) removed 1 of 1 hosts (no "
        "candidate host is in an aggregate of zone 'az1')"]


def test_every_instance_of_a_request_stays_in_the_zone():
    scheduler = make_scheduler(HOSTS, aggregates=ZONES,
                               conf=load_conf())
    selections = select(scheduler, make_spec(availability_zone="az1"),
                        count=3)
    assert {per_instance[0].service_host for per_instance in selections} \
        <= {"host1", "host3"}


# --- tenant isolation ([scheduler] limit_tenants_to_placement_aggregate) -----

TENANT_AGGREGATES = [
    ("p1-only", ["host1"], {"filter_tenant_id": "p1"}),
    ("p2-and-p3", ["host3"], {"filter_tenant_id:1": "p2",
                              "filter_tenant_id:2": "p3"}),
]


def _tenant_scheduler(required=False, aggregates=TENANT_AGGREGATES,
                      limit=True):
    conf = load_conf()
    conf.set_override("limit_tenants_to_placement_aggregate", limit,
                      group="scheduler")
    conf.set_override("placement_aggregate_required_for_tenants", required,
                      group="scheduler")
    return make_scheduler(HOSTS, conf=conf, aggregates=aggregates)


@pytest.mark.parametrize("project, chosen", [
    ("p1", "host1"),          # its aggregate only, though host2 has more RAM
    ("p3", "host3"),          # a numbered key
    ("p9", "host2"),          # no aggregate of its own: anywhere
])
def test_a_project_stays_on_its_aggregates(project, chosen):
    scheduler = _tenant_scheduler()
    selections = select(scheduler, make_spec(project_id=project))
    assert hosts_of(selections)[0][0] == chosen


def test_tenant_isolation_is_off_by_default():
    scheduler = _tenant_scheduler(limit=False)
    assert hosts_of(select(scheduler, make_spec(project_id="p1")))[0][0] \
        == "host2"


def test_a_project_without_an_aggregate_gets_none_when_one_is_required():
    scheduler = _tenant_scheduler(required=True)
    with pytest.raises(exception.NoValidHost) as refused:
        select(scheduler, make_spec(project_id="p9"))
    assert [str(r) for r in refused.value.reasons] == [
        "tenant isolation (request filter) removed 3 of 3 hosts (no "
        "aggregate is set aside for project 'p9' (filter_tenant_id), and "
        "[scheduler] placement_aggregate_required_for_tenants is set)"]
    assert hosts_of(select(scheduler, make_spec(project_id="p1")))[0][0] \
        == "host1"


def test_the_tenant_key_and_the_project_value_are_matched_apart():
    """Nova looks for the project id among the values and for a key
    starting with filter_tenant_id, separately: this aggregate is p1's."""
    scheduler = _tenant_scheduler(aggregates=[
        ("owned", ["host1"], {"filter_tenant_id": "other", "owner": "p1"})])
    assert hosts_of(select(scheduler, make_spec(project_id="p1")))[0][0] \
        == "host1"
