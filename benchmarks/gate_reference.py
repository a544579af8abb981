"""The per-host reference the benchmark gate times hoststate against: a
scheduling pass written the way Nova runs one, a Python loop over host
states for each filter, then each weigher's raw weight host by host,
normalised and summed, then a sort.

Nothing here is new logic: the filter checks are the per-host references
the Hypothesis tests hold the vectorized filters to
(``tests/unit/scheduler/filters``), the normalisation and multipliers are
``weigher_support``'s ``nova_weigh`` and ``nova_multiplier``, and the raw
weights below are one line each after Nova 34's ``_weigh_object``s. The
host states are built from the node descriptions the table is built from,
not from the table.

Work that depends on the request alone (parsing the JSON query, the image
properties) is done once per request, untimed, where Nova repeats it per
host. One reference does more than Nova: the image check rebuilds each
host's supported instances as HVSpec objects on every call (Nova's host
state holds them ready), about 0.1 ms a host; the gate's default scenario
has one request with image properties, so it weighs on that scenario's
ratio, and a change to ``hoststate.objects`` speed moves it a little.
The floors are recorded from measured ratios, so the gate compares the
vectorized path with this fixed yardstick, not with Nova itself.
"""
import json
import types

from hoststate.objects import image_meta
from hoststate.objects import pci as pci_obj
from hoststate.scheduler.filters import metrics
from hoststate.scheduler.filters import zones
from support.host_tables import SERVICE_KEYS, node_record
from unit.scheduler.filters import test_basic_filters_reference as basic
from unit.scheduler.filters import test_capabilities as capabilities
from unit.scheduler.filters import test_image_props as image_props
from unit.scheduler.filters import test_json_filter as json_query
from unit.scheduler.filters import test_numa_filter as numa
from unit.scheduler.filters import test_pci_filter as pci
from unit.scheduler.weights import weigher_support

#: Nova's PCIWeigher: free device counts from MAX_DEVS - 1 up weigh alike.
PCI_MAX_DEVS = 100


# --- host states -------------------------------------------------------------

class ReferenceHost:
    """One node as the reference reads it: ``basic`` (the namespace of
    test_basic_filters_reference), ``nova`` (test_capabilities'
    NovaHostState), ``node`` (the description the NUMA and PCI references
    read), ``own_aggregates`` ((name, hosts, metadata) of this host's
    aggregates, what Nova's get_weight_multiplier walks), and what Nova's
    PCI and metrics weighers read (free devices, {metric: value})."""

    __slots__ = ("uuid", "host", "basic", "nova", "node", "own_aggregates",
                 "pci_free", "metrics")


def build_hosts(descriptions, aggregates, instance_hosts):
    """ReferenceHosts of ``descriptions`` (host_tables.make_table's, each
    with its ``uuid``), in their order. ``aggregates``: (name, hosts,
    metadata); ``instance_hosts``: {instance uuid: host} of the
    instances a request's filters look at (the hosts' instances)."""
    members = [(name, set(hosts), metadata)
               for name, hosts, metadata in aggregates]
    services = {d["host"]: {k: d.get(k, default) for k, default in
                            (("disabled", False), ("up", True),
                             ("forced_down", False))}
                for d in descriptions}
    scenario = {"services": services,
                "aggregates": [(hosts, md) for _, hosts, md in members],
                "request": {"instance_hosts": instance_hosts}}
    return [_host(d, members, scenario) for d in descriptions]


def _host(description, members, scenario):
    record = node_record(**{k: v for k, v in description.items()
                            if k not in SERVICE_KEYS})
    name = record["host"]
    own = [(agg, (name,), md) for agg, hosts, md in members if name in hosts]
    metrics = json.loads(record["metrics"]) if record["metrics"] else []
    host = ReferenceHost()
    host.uuid, host.host, host.own_aggregates = record["uuid"], name, own
    host.metrics = {metric["name"]: metric["value"] for metric in metrics}
    host.basic = basic.host_state(_basic_node(record, host.metrics),
                                  scenario)
    host.nova = capabilities.NovaHostState(
        record, [capabilities.AggregateStub(md) for _, _, md in own])
    host.node = dict(numa_topology=description.get("numa_topology"),
                     pci_device_pools=description.get("pci_device_pools"),
                     cpu_allocation_ratio=record["cpu_allocation_ratio"],
                     ram_allocation_ratio=record["ram_allocation_ratio"])
    pools = pci_obj.PciDevicePoolList.from_json(record["pci_stats"]) \
        if record["pci_stats"] else []
    host.pci_free = sum(pool.count for pool in pools)
    return host


def _basic_node(record, metrics):
    """The node fields test_basic_filters_reference.host_state reads."""
    stats = json.loads(record["stats"]) if record["stats"] else {}
    fields = ("host", "memory_mb", "free_ram_mb", "ram_allocation_ratio",
              "vcpus", "vcpus_used", "cpu_allocation_ratio", "local_gb",
              "free_disk_gb", "disk_available_least",
              "disk_allocation_ratio", "host_ip")
    return dict({name: record[name] for name in fields},
                io_workload=int(stats.get("io_workload", 0)),
                num_instances=int(stats.get("num_instances", 0)),
                metrics=set(metrics))


# --- the request ---------------------------------------------------------------

def build_request(described, conf, aggregates):
    """What the references read of one request ``described`` (the gate's
    request description, from which the RequestSpec is built too)."""
    flavor = described["flavor"]
    hints = described.get("hints", {})
    group = described.get("group") or {}
    rules = group.get("rules", {})
    image = described.get("image")
    zone = described.get("availability_zone")
    fs = conf.filter_scheduler
    r = dict(memory_mb=flavor["memory_mb"], vcpus=flavor["vcpus"],
             root_gb=flavor.get("root_gb", 0),
             ephemeral_gb=flavor.get("ephemeral_gb", 0),
             swap=flavor.get("swap", 0), flavor_name=flavor["name"],
             availability_zone=zone,
             project_id=described.get("project_id"),
             image_id=image["id"] if image else None,
             same_host=hints.get("same_host", []),
             different_host=hints.get("different_host", []),
             near=hints.get("build_near_host_ip"), cidr=hints.get("cidr"),
             group_policy=group.get("policy"),
             max_server_per_host=rules.get("max_server_per_host"),
             group_members=group.get("members", []),
             group_hosts=group.get("hosts", []),
             instance_uuid=described["instance_uuid"],
             instance_hosts=described.get("instance_hosts", {}))
    c = dict(max_io_ops_per_host=fs.max_io_ops_per_host,
             max_instances_per_host=fs.max_instances_per_host,
             isolated_images=fs.isolated_images,
             isolated_hosts=fs.isolated_hosts,
             restrict=fs.restrict_isolated_hosts_to_isolated_images,
             default_availability_zone=conf.default_availability_zone,
             weight_setting=conf.metrics.weight_setting)
    query = hints.get("query")
    return types.SimpleNamespace(
        r=r, c=c, conf=conf, extra_specs=flavor.get("extra_specs", {}),
        image_props=image_meta.ImageMeta.from_dict(image).properties
        if image else None,
        query=json.loads(query) if query else None,
        guest=None, pci=[],
        # Nova's map_az_to_placement_aggregate: a zone restricts only when
        # some aggregate carries it
        zone=zone if any(md.get(zones.ZONE_KEY) == zone
                         for _, _, md in aggregates) else None,
        metric_setting=metrics.parse_weight_setting(
            conf.metrics.weight_setting))


# --- filters -------------------------------------------------------------------

def _request_filters(host, q):
    """What Nova 34 asks Placement before any filter runs: no disabled
    compute (compute_status_filter), the requested zone's aggregates."""
    if host.basic.service["disabled"]:
        return False
    return q.zone is None or any(md.get(zones.ZONE_KEY) == q.zone
                                 for _, _, md in host.own_aggregates)


def _basic(name):
    check = basic.REFERENCES[name][0]
    return lambda host, q: check(host.basic, q.r, q.c)


def _image_isolation(host, q):
    fs = q.conf.filter_scheduler
    return image_props.nova_isolation_pass(
        host.nova, q.image_props,
        fs.aggregate_image_properties_isolation_namespace,
        fs.aggregate_image_properties_isolation_separator)


#: filter name -> check(ReferenceHost, request) -> bool
FILTERS = dict(
    {name: _basic(name) for name in basic.REFERENCES},
    ComputeCapabilitiesFilter=lambda host, q:
        capabilities.nova_capabilities_pass(host.nova, q.extra_specs),
    AggregateInstanceExtraSpecsFilter=lambda host, q:
        capabilities.nova_aggregate_specs_pass(host.nova, q.extra_specs),
    ImagePropertiesFilter=lambda host, q: image_props.nova_image_pass(
        host.nova, q.image_props,
        q.conf.filter_scheduler.image_properties_default_architecture),
    AggregateImagePropertiesIsolation=_image_isolation,
    JsonFilter=lambda host, q: json_query.nova_json_pass(host.nova, q.query),
    NUMATopologyFilter=lambda host, q: numa.reference(host.node, q.guest),
    PciPassthroughFilter=lambda host, q: pci.reference(host.node, q.pci),
)


# --- weighers ------------------------------------------------------------------

def _members_on(host, q, policy):
    if q.r["group_policy"] != policy:
        return 0
    return len(host.basic.instances & set(q.r["group_members"]))


def _metrics(host, q):
    """Nova's MetricsWeigher._weigh_object, [metrics] required unset."""
    value = 0.0
    for name, ratio in q.metric_setting:
        if name in host.metrics:
            value += host.metrics[name] * ratio
        elif ratio * weigher_support.nova_multiplier(
                host.own_aggregates, host.host, "metrics_weight_multiplier",
                q.conf.metrics.weight_multiplier) != 0:
            return q.conf.metrics.weight_of_unavailable
    return value


#: weigher name -> (raw weight of a host, multiplier option (group, name),
#: minval, sign of the multiplier), after Nova 34's weighers
WEIGHERS = {
    "RAMWeigher": (lambda h, q: h.nova.free_ram_mb,
                   ("filter_scheduler", "ram_weight_multiplier"), 0, 1.0),
    "CPUWeigher": (lambda h, q: h.nova.vcpus_total *
                   h.nova.cpu_allocation_ratio - h.nova.vcpus_used,
                   ("filter_scheduler", "cpu_weight_multiplier"), 0, 1.0),
    "DiskWeigher": (lambda h, q: h.nova.free_disk_mb,
                    ("filter_scheduler", "disk_weight_multiplier"), 0, 1.0),
    "IoOpsWeigher": (lambda h, q: h.nova.num_io_ops,
                     ("filter_scheduler", "io_ops_weight_multiplier"), 0,
                     1.0),
    "NumInstancesWeigher": (
        lambda h, q: h.nova.num_instances,
        ("filter_scheduler", "num_instances_weight_multiplier"), None, 1.0),
    "BuildFailureWeigher": (
        lambda h, q: h.nova.failed_builds,
        ("filter_scheduler", "build_failure_weight_multiplier"), None,
        -1.0),
    "HypervisorVersionWeigher": (
        lambda h, q: h.nova.hypervisor_version or 0,
        ("filter_scheduler", "hypervisor_version_weight_multiplier"), None,
        1.0),
    "PCIWeigher": (lambda h, q: PCI_MAX_DEVS - min(h.pci_free,
                                                   PCI_MAX_DEVS - 1),
                   ("filter_scheduler", "pci_weight_multiplier"), None, 1.0),
    "ServerGroupSoftAffinityWeigher": (
        lambda h, q: _members_on(h, q, "soft-affinity"),
        ("filter_scheduler", "soft_affinity_weight_multiplier"), None, 1.0),
    "ServerGroupSoftAntiAffinityWeigher": (
        lambda h, q: -_members_on(h, q, "soft-anti-affinity"),
        ("filter_scheduler", "soft_anti_affinity_weight_multiplier"), None,
        1.0),
    "MetricsWeigher": (_metrics, ("metrics", "weight_multiplier"), None,
                       1.0),
    # a cross-cell move prefers its own cell; the gate's requests are
    # boots, for which Nova's CrossCellWeigher weighs every host 0
    "CrossCellWeigher": (
        lambda h, q: 0,
        ("filter_scheduler", "cross_cell_move_weight_multiplier"), None,
        1.0),
}

#: The aggregate metadata key of each multiplier option (Nova's names).
_AGGREGATE_KEY = {("metrics", "weight_multiplier"):
                  "metrics_weight_multiplier"}


# --- the pass ----------------------------------------------------------------

def schedule(hosts, q, filter_names, weigher_names):
    """(uuids of the hosts passing, in host order; [(uuid, weight)] of
    every passing host, best first): Nova's filter handler, weight
    handler and sort, host by host."""
    for name in ["request filters"] + list(filter_names):
        check = _request_filters if name == "request filters" \
            else FILTERS[name]
        hosts = [host for host in hosts if check(host, q)]
    totals = [0.0] * len(hosts)
    for name in weigher_names:
        raw_of, (group, option), minval, sign = WEIGHERS[name]
        default = float(q.conf[group][option])
        key = _AGGREGATE_KEY.get((group, option), option)
        multipliers = [sign * weigher_support.nova_multiplier(
            host.own_aggregates, host.host, key, default) for host in hosts]
        weights = weigher_support.nova_weigh(
            [raw_of(host, q) for host in hosts], multipliers, minval)
        for index, weight in enumerate(weights):
            totals[index] += weight
    order = sorted(range(len(hosts)), key=totals.__getitem__, reverse=True)
    return ([host.uuid for host in hosts],
            [(hosts[i].uuid, totals[i]) for i in order])


def unknown(filter_names, weigher_names):
    """Filters and weighers the reference has no per-host version of."""
    return sorted(set(filter_names) - set(FILTERS)) + \
        sorted(set(weigher_names) - set(WEIGHERS))
