"""Shared pieces of the weigher tests: configuration, requests, tables of
several cells, and Nova's weighing written out host by host.

The reference (``nova_*``) is deliberately naive: plain lists, one host at
a time, the bounds widened the way Nova's BaseWeigher widens them while it
walks the hosts. The vectorized weighers are checked against it on
generated hosts.
"""
import uuid as uuid_lib

import hypothesis.strategies as st
import pytest
from oslo_config import cfg

from hoststate import conf as hconf
from hoststate.objects import flavor as flavor_obj
from hoststate.objects import instance_group as group_obj
from hoststate.objects import request_spec
from hoststate.scheduler.records import ServiceRecord
from hoststate.scheduler import request as request_mod
from hoststate.scheduler import weights
from support import host_tables

INSTANCE = "f3c1a8a4-2b7e-4f3b-9e0c-8d1b6a5c4e21"
CELL1 = "00000000-0000-0000-0000-000000000001"
CELL2 = "00000000-0000-0000-0000-000000000002"


# --- configuration and requests ----------------------------------------------

def make_conf(metrics=None, **filter_scheduler):
    """A validated ConfigOpts with [filter_scheduler] and [metrics]
    overrides."""
    conf = hconf.load(conf=cfg.ConfigOpts(), use_env=False)
    for name, value in filter_scheduler.items():
        conf.set_override(name, value, group="filter_scheduler")
    for name, value in (metrics or {}).items():
        conf.set_override(name, value, group="metrics")
    return conf


def make_request(conf=None, group=None, instance_hosts=None,
                 source_cell=None, destination=None, pci_requests=None):
    """A RequestVector for a one-vCPU instance.

    ``instance_hosts`` ({uuid: host}) is what the HostManager would load
    for group members and hinted instances.
    """
    flavor = flavor_obj.Flavor(flavorid="m1", name="m1", memory_mb=512,
                               vcpus=1)
    spec = request_spec.RequestSpec.from_components(
        instance_uuid=INSTANCE, flavor=flavor, instance_group=group,
        requested_destination=destination, pci_requests=pci_requests)
    request = request_mod.RequestVector(spec, conf)
    request.instance_hosts.update(instance_hosts or {})
    request.source_cell = source_cell
    return request


def make_group(policy, members):
    return group_obj.InstanceGroup(policy=policy, members=list(members))


def weigher(cls, conf=None):
    return cls(conf if conf is not None else make_conf())


# --- tables ------------------------------------------------------------------

def table_of(hosts, aggregates=()):
    return host_tables.make_table(hosts, aggregates=aggregates)


def add_cell(table, hosts, cell):
    """Add the nodes ``hosts`` (node_record descriptions) of ``cell`` to
    ``table``, with up and enabled services."""
    records = [host_tables.node_record(**h) for h in hosts]
    table.write_nodes(records, cell=cell)
    first = len(table.services) + 1
    table.set_services([ServiceRecord(id=first + i, host=r["host"])
                        for i, r in enumerate(records)])
    table.set_up({r["host"]: True for r in records})
    return table


def weights_by_host(weighers, table, request, rows=None):
    """{host: total weight} over ``rows`` (default: every candidate)."""
    if rows is None:
        rows = host_tables.all_rows(table)
    totals = weights.weigh(weighers, table, rows, request)
    return dict(zip(host_tables.hosts_at(table, rows), totals.tolist()))


# --- Nova, host by host ------------------------------------------------------

def nova_normalize(values, minval=None, maxval=None):
    """Nova's normalize, on a list."""
    if not values:
        return ()
    maxval = max(values) if maxval is None else maxval
    minval = min(values) if minval is None else minval
    maxval, minval = float(maxval), float(minval)
    if minval == maxval:
        return [0] * len(values)
    spread = maxval - minval
    return [(v - minval) / spread for v in values]


def nova_weigh(raws, multipliers, minval=None, maxval=None):
    """One weigher's contribution per host, as Nova 34's handler computes
    it: nothing runs for one host; each raw weight is clamped into the
    weigher's class minval/maxval (weigh_objects), then the clamped
    weights are normalised over minval/maxval where set (else their own
    minimum/maximum) and multiplied."""
    if len(raws) <= 1:
        return [0.0] * len(raws)
    clamped = []
    for raw in raws:
        if minval is not None:
            raw = max(raw, minval)
        if maxval is not None:
            raw = min(raw, maxval)
        clamped.append(raw)
    return [m * w for m, w in zip(multipliers,
                                   nova_normalize(clamped, minval, maxval))]


def nova_multiplier(aggregates, host, key, default):
    """Nova's get_weight_multiplier: the minimum over the host's aggregates
    (values as a set), the config if there is none or one is not a
    number."""
    values = {metadata[key] for _, hosts, metadata in aggregates
              if host in hosts and key in metadata}
    if not values:
        return default
    try:
        return min(float(v) for v in values)
    except ValueError:
        return default


def assert_matches_nova(weigher_obj, hosts, aggregates, request, raw_of,
                        default_multiplier, minval=None, maxval=None,
                        sign=1.0, subset=None):
    """weigh() of ``weigher_obj`` over the hosts (or the ``subset`` of
    their positions) equals Nova's host-by-host result; ``raw_of(host
    description)`` is the raw weight, written independently of the
    weigher."""
    table = table_of(hosts, aggregates)
    positions = range(len(hosts)) if subset is None else sorted(set(subset))
    rows = host_tables.all_rows(table)[list(positions)]
    chosen = [hosts[p] for p in positions]
    names = [h["host"] for h in chosen]
    multipliers = [sign * nova_multiplier(aggregates, n,
                                          weigher_obj.multiplier_option,
                                          default_multiplier)
                   for n in names]
    expected = nova_weigh([raw_of(h) for h in chosen], multipliers,
                          minval, maxval)
    actual = weights_by_host([weigher_obj], table, request, rows)
    assert list(actual) == names
    assert list(actual.values()) == pytest.approx(expected, rel=1e-9,
                                                  abs=1e-9)


# --- strategies --------------------------------------------------------------

#: Aggregate metadata values: numbers, and one that is not.
MULTIPLIER_TEXTS = st.sampled_from(["0", "0.5", "1.5", "2", "-1", "1e3",
                                    "XXX"])


@st.composite
def hosts_and_aggregates(draw, host_values, key, min_hosts=2, max_hosts=6):
    """(host descriptions, aggregates, row subset): ``host_values`` draws
    one description's values; up to three aggregates set ``key`` on random
    hosts."""
    count = draw(st.integers(min_hosts, max_hosts))
    hosts = [dict(host=f"host{i}", **draw(host_values))
             for i in range(count)]
    names = [h["host"] for h in hosts]
    aggregates = [(f"agg{i}", draw(st.sets(st.sampled_from(names))),
                   {key: draw(MULTIPLIER_TEXTS)})
                  for i in range(draw(st.integers(0, 3)))]
    subset = draw(st.none() | st.lists(st.integers(0, count - 1),
                                       max_size=count))
    return hosts, aggregates, subset


def new_uuid():
    return str(uuid_lib.uuid4())
