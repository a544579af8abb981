"""hoststate's answers to differential cases, in the shape Nova's side gives.

One result per case::

    {"inputs": {"numa_request": [cell...] or None, "pci_requests": [...]},
     "instances": [{"candidates": [node...], "narrowed": [node...],
                    "filters": [[filter, [node passing...]], ...],
                    "weights": {weigher: {node: multiplier x normalised}},
                    "total": {node: weight},
                    "claimable": [node...], "chosen": node}, ...],
     "outcome": None | {"no_valid_host": index} | {"error": name, "at": i}
                | {"api_error": name},
     "selected": [node per instance] | {"no_valid_host": True}}

The trace (``instances``) follows Nova's flow step by step with
hoststate's parts: the request filters, the capacity rule where Nova asks
Placement (``Scheduler.claimable``), ``HostManager.narrow``, each enabled
filter's mask in turn, each weigher alone (``weights.weigh``) and all of
them, and the choice ``Scheduler.rank`` makes among the claimable
survivors (``claimable`` is not compared: it explains a difference); the
chosen node is then consumed (``HostManager.consume``)
before the next instance, whose candidates are the previous survivors, as
in Nova. ``selected`` is what ``Scheduler.select_destinations`` answers
for the whole request, as a user calls it, on a table of its own.

No database: the HostManager's table is built in memory
(``support.host_tables.make_table``), the Scheduler consumes in it
instead of claiming (``claim_in_database=False``), and where instances
run (group members, hinted instances) is given by the case, as the
database would answer it.
"""
import copy

import numpy as np
from oslo_config import cfg

from hoststate import conf as hs_conf
from hoststate import exception
from hoststate.hardware import capacity
from hoststate.hardware import numa as hw_numa
from hoststate.hardware import row_runs
from hoststate.objects import flavor as flavor_obj
from hoststate.objects import instance_group as group_obj
from hoststate.objects import numa as numa_obj
from hoststate.objects import pci as pci_obj
from hoststate.objects import request_spec
from hoststate.scheduler import host_manager
from hoststate.scheduler import manager
from hoststate.scheduler import request_filters
from hoststate.scheduler import weights as weights_mod
from hoststate.scheduler.records import AggregateRecord
from support import host_tables

#: hoststate's name of an error -> Nova's
ERROR_NAMES = {"MetricNotFound": "ComputeHostMetricNotFound"}
#: page size sentinels by the words both sides are compared in
_PAGE_WORDS = {v: k for k, v in hw_numa.PAGE_SIZE_WORDS.items()}
#: conf groups a case sets, as hoststate names them
_GROUPS = ("filter_scheduler", "metrics", "scheduler")


class CaseHostManager(host_manager.HostManager):
    """A HostManager over a table built in memory, that knows where the
    case's instances run (a database-backed one reads that)."""

    def __init__(self, conf, running):
        super().__init__(context=None, conf=conf,
                         servicegroup=host_manager.ALL_UP)
        self.running = dict(running)

    def instance_hosts(self, uuids):
        return {u: self.running[u] for u in uuids if u in self.running}


def run(case):
    """hoststate's result for ``case`` (see the module docstring)."""
    conf = configuration(case)
    spec = request_spec_of(case)
    trace = _Trace(case, conf, spec).run()
    trace["selected"] = selected(case, conf, spec)
    return trace


def configuration(case):
    conf = hs_conf.load(conf=cfg.ConfigOpts(), use_env=False)
    for group in _GROUPS:
        for name, value in case["conf"].get(group, {}).items():
            conf.set_override(name, value, group=group)
    return conf


def scheduler_of(case, conf):
    """A Scheduler over a fresh in-memory table of the case's nodes."""
    manager_ = CaseHostManager(conf, case["instances"])
    manager_.table = host_tables.make_table(
        [node_description(n) for n in case["nodes"]],
        aggregates=[AggregateRecord(id=a["id"], uuid=a["uuid"],
                                    name=a["name"], hosts=a["hosts"],
                                    metadata=a["metadata"])
                    for a in case["aggregates"]],
        default_zone=conf.default_availability_zone,
        ratio_defaults=manager_.ratio_defaults())
    return manager.Scheduler(manager_, conf=conf, seed=0,
                             claim_in_database=False, refresh=False)


def selected(case, conf, spec):
    """What select_destinations answers: the chosen node per instance."""
    scheduler = scheduler_of(case, conf)
    try:
        selections = scheduler.select_destinations(
            copy.deepcopy(spec),
            instance_uuids=list(case["request"]["instance_uuids"]),
            return_alternates=False)
    except exception.NoValidHost:
        return {"no_valid_host": True}
    except exception.HoststateError as exc:
        return {"error": _error_name(exc)}
    return [s[0].nodename for s in selections]


class _Trace:
    """The request through hoststate's parts, instance by instance."""

    def __init__(self, case, conf, spec):
        self.case = case
        self.spec = spec
        self.scheduler = scheduler_of(case, conf)
        self.manager = self.scheduler.host_manager
        self.table = self.scheduler.table

    def run(self):
        try:
            request = self.scheduler.request_vector(self.spec)
        except exception.NoValidHost:
            return {"inputs": None, "instances": [],
                    "outcome": {"no_valid_host": 0}}
        except exception.HoststateError as exc:
            return {"outcome": {"api_error": _error_name(exc)}}
        result = {"inputs": {"numa_request": _numa_request(request),
                             "pci_requests": _pci_requests(self.spec)},
                  "instances": [], "outcome": None}
        rows = self.first_candidates(request)
        placed = []
        for index, instance_uuid in enumerate(
                self.case["request"]["instance_uuids"]):
            view = request.for_instance(index, instance_uuid, placed)
            trace = {"candidates": self.nodes(rows)}
            result["instances"].append(trace)
            passed = self.filtered(rows, view, trace)
            if len(passed) == 0:
                result["outcome"] = {"no_valid_host": index}
                return result
            try:
                self.weighed(passed, view, trace)
                ranked = self.scheduler.rank(passed, view)
            except exception.HoststateError as exc:
                result["outcome"] = {"error": _error_name(exc), "at": index}
                return result
            # as Scheduler._place_one: the best that still has room (the
            # first instance's candidates all have)
            chosen = next((int(row) for row in ranked if capacity.fits_on_row(
                self.table, int(row), view.wanted())), None)
            if chosen is None:
                result["outcome"] = {"no_valid_host": index}
                return result
            trace["chosen"] = self.table.nodename_of(chosen)
            self.manager.consume(chosen, view)
            placed.append((instance_uuid, self.table.host_of(chosen)))
            rows = passed
        return result

    def first_candidates(self, request):
        """The rows Nova's Placement would offer: the request filters,
        then the capacity rule (``Scheduler.claimable``)."""
        rows = row_runs.of(np.flatnonzero(self.table.candidates()))
        rows = request_filters.apply(self.table, rows, request, [])
        return self.scheduler.claimable(rows, request)

    def filtered(self, rows, request, trace):
        narrowed, forced = self.manager.narrow(rows, request.spec)
        trace["narrowed"] = self.nodes(narrowed)
        trace["filters"] = []
        if forced and not request.hint_list("_nova_check_type"):
            return narrowed
        passed = narrowed
        for host_filter in self.scheduler.filters:
            if not host_filter.run_for(request):
                continue
            mask = host_filter.filter_mask(self.table, passed, request)
            passed = passed[:0] if mask is None else passed[mask]
            trace["filters"].append([host_filter.name, self.nodes(passed)])
            if len(passed) == 0:
                break
        return passed

    def weighed(self, rows, request, trace):
        trace["weights"] = {}
        for weigher in self.scheduler.weighers:
            alone = weights_mod.weigh([weigher], self.table, rows, request)
            trace["weights"][weigher.name] = dict(zip(self.nodes(rows),
                                                      alone.tolist()))
        total = weights_mod.weigh(self.scheduler.weighers, self.table, rows,
                                  request)
        trace["total"] = dict(zip(self.nodes(rows), total.tolist()))

    def nodes(self, rows):
        return [self.table.nodename_of(int(r)) for r in rows]


# --- the case's pieces as hoststate objects ----------------------------------

def node_description(node):
    """A ``make_table`` description of a case node."""
    description = {key: node[key] for key in (
        "id", "uuid", "host", "nodename", "vcpus", "vcpus_used",
        "memory_mb", "memory_mb_used", "free_ram_mb", "local_gb",
        "local_gb_used", "free_disk_gb", "disk_available_least",
        "hypervisor_type", "hypervisor_version", "cpu_info", "host_ip",
        "supported_instances", "metrics", "stats", "cpu_allocation_ratio",
        "ram_allocation_ratio", "disk_allocation_ratio", "disabled",
        "forced_down", "up")}
    description["metrics"] = node["metrics"] or None
    if node["numa_topology"]:
        description["numa_topology"] = numa_topology(node["numa_topology"])
    if node["pci_pools"]:
        description["pci_device_pools"] = \
            pci_obj.PciDevicePoolList.from_dicts(
                [dict(p) for p in node["pci_pools"]])
    return description


def numa_topology(numa):
    return numa_obj.NUMATopology(cells=[numa_obj.NUMACell(
        id=c["id"], cpuset=set(c["cpuset"]), pcpuset=set(c["pcpuset"]),
        memory=c["memory"], cpu_usage=c["cpu_usage"],
        memory_usage=c["memory_usage"], pinned_cpus=set(c["pinned_cpus"]),
        siblings=[set(s) for s in c["siblings"]],
        mempages=[numa_obj.NUMAPagesTopology(**p) for p in c["mempages"]])
        for c in numa["cells"]])


def request_spec_of(case):
    request = case["request"]
    f = request["flavor"]
    flavor = flavor_obj.Flavor(
        flavorid=f["flavorid"], name=f["name"], vcpus=f["vcpus"],
        memory_mb=f["memory_mb"], root_gb=f["root_gb"],
        ephemeral_gb=f["ephemeral_gb"], swap=f["swap"],
        extra_specs=dict(f["extra_specs"]))
    group = None
    if request["group"]:
        g = request["group"]
        group = group_obj.InstanceGroup(
            uuid=g["uuid"], policy=g["policy"], rules=dict(g["rules"]),
            members=list(g["members"]), hosts=list(g["hosts"]))
    return request_spec.RequestSpec.from_components(
        request["instance_uuids"][0], flavor,
        image={"id": request["image"]["id"],
               "properties": dict(request["image"]["properties"])},
        pci_requests=pci_requests(case, flavor),
        scheduler_hints={k: list(v) for k, v in
                         request["scheduler_hints"].items()},
        instance_group=group,
        availability_zone=request["availability_zone"],
        project_id=request["project_id"], user_id="user",
        num_instances=len(request["instance_uuids"]),
        force_hosts=request["force_hosts"] or None,
        force_nodes=request["force_nodes"] or None,
        ignore_hosts=request["ignore_hosts"] or None)


def pci_requests(case, flavor):
    """The flavor's ``pci_passthrough:alias`` as PCI requests, from the
    case's ``[pci] alias`` definitions (hoststate takes PCI requests as
    Nova's API makes them; the differential test compares this
    translation with Nova's as an input)."""
    value = flavor.extra_specs.get("pci_passthrough:alias")
    if not value:
        return None
    aliases = {a["name"]: a for a in case["pci_aliases"]}
    requests = []
    for item in value.split(","):
        name, _, count = item.strip().partition(":")
        alias = aliases[name]
        requests.append(pci_obj.InstancePCIRequest(
            count=int(count), alias_name=name,
            numa_policy=alias.get("numa_policy"),
            spec=[{"vendor_id": alias["vendor_id"],
                   "product_id": alias["product_id"],
                   "dev_type": alias["device_type"]}]))
    return pci_obj.InstancePCIRequests(requests=requests)


def _numa_request(request):
    topology = request.numa_request
    if topology is None:
        return None
    return [{"cpuset": sorted(c.cpuset), "pcpuset": sorted(c.pcpuset),
             "memory": c.memory, "pagesize": _PAGE_WORDS.get(
                 c.obj_get("pagesize"), c.obj_get("pagesize")),
             "cpu_policy": c.obj_get("cpu_policy"),
             "cpu_thread_policy": c.obj_get("cpu_thread_policy")}
            for c in topology.cells]


def _pci_requests(spec):
    requests = spec.obj_get("pci_requests")
    if requests is None:
        return []
    return [{"count": r.count, "spec": r.spec, "alias_name": r.alias_name,
             "numa_policy": r.numa_policy} for r in requests.requests]


def _error_name(exc):
    name = type(exc).__name__
    return ERROR_NAMES.get(name, name)
