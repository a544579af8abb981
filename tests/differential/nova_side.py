"""Nova's answers to differential cases, computed by a released Nova.

Run by the Python of a venv holding Nova (``support/nova_venv.py``), never
imported by the tests: it reads ``{"cases": [...], "legacy_dir": path}``
as JSON on stdin and writes ``{"nova_version": ..., "results": [...]}``
on stdout, one result per case (see ``hoststate_side.py`` for the shape;
both sides answer alike).

Nova's own code decides: its ``HostManager`` (built without a database:
the cell and aggregate caches are filled from the case), ``HostState``s
updated from ``ComputeNode``, service and aggregate objects, the enabled
filter objects run one at a time as its ``FilterHandler`` runs them, its
weighers through its ``HostWeightHandler``, its ``get_filtered_hosts``
for forced and ignored hosts, its request filters (with
``AggregateList.get_by_metadata`` answered from the case instead of the
API database), the request as its API makes it (``nova_objects``), and
``SchedulerManager._consume_selected_host`` between instances.

Two parts of Nova's flow are emulated, since they live outside Nova:

* Placement: Nova's own ``resources_from_request_spec`` says what is
  asked; a node is then a candidate when it is in one of the aggregates
  of each ``member_of`` group (the request filters' zone and tenant
  aggregates), its compute service is enabled (Nova's
  ``compute_status_filter`` forbids the trait disabled services carry),
  and for each of VCPU, MEMORY_MB and DISK_GB the request asks for,
  ``used + requested <= total x ratio`` and ``requested <= total``
  (inventories as a node without a dedicated cpu set reports them:
  ``max_unit`` = total, nothing reserved, used = the node's ``*_used``;
  Nova's fallback query for pinned guests asks VCPU too). A forced host
  or node makes Nova look its node up (the database query is answered
  from the case, names compared ignoring case as MariaDB does) and ask
  Placement for that node alone (``in_tree``), recorded here with the
  narrowing. Each candidate gets one allocation candidate (which
  NUMATopologyFilter and PciPassthroughFilter check). Claiming an
  instance adds its resources to the node's usage, and a claim that no
  longer fits fails, so Nova's loop moves to the next host;
* the order hosts come in: Nova's cell query returns them from a set (an
  arbitrary order, which breaks ties between equal weights); here they
  come in the case's node order for every instance, as hoststate's table
  holds them, so both sides break ties alike.
"""
import contextlib
import json
import logging
import math
import sys
import traceback

import nova_objects     # beside this script: on sys.path

CELL_UUID = "00000000-0000-0000-0000-000000000001"
LEGACY_FILTERS = {
    "RamFilter": "ram_filter", "AggregateRamFilter": "ram_filter",
    "CoreFilter": "core_filter", "AggregateCoreFilter": "core_filter",
    "DiskFilter": "disk_filter", "AggregateDiskFilter": "disk_filter",
}
LEGACY_PACKAGE = "hoststate_nova_legacy"


def main():
    payload = json.load(sys.stdin)
    sys.path.insert(0, payload["legacy_dir"])
    answer = sys.stdout
    sys.stdout = sys.stderr         # nothing but the answer on stdout
    logging.disable(logging.WARNING)
    side = NovaSide()
    results = [side.run(case) for case in payload["cases"]]
    json.dump({"nova_version": side.version, "results": results}, answer)


class NovaSide:
    def __init__(self):
        from importlib import metadata

        import nova.conf
        from nova import context
        from nova import objects
        objects.register_all()
        self.version = metadata.version("nova")
        self.conf = nova.conf.CONF
        self.conf([], project="nova", default_config_files=[])
        self.context = context.get_admin_context()
        self.aggregates = []
        _answer_aggregates_from(self)

    def run(self, case):
        try:
            with self._overrides(case["conf"], case["pci_aliases"]):
                return _Case(self, case).schedule()
        except Exception:  # the harness, not Nova: show it whole
            return {"harness_error": traceback.format_exc()}

    @contextlib.contextmanager
    def _overrides(self, conf, pci_aliases):
        from nova.scheduler import weights
        paths = {cls.__name__: f"{cls.__module__}.{cls.__name__}"
                 for cls in weights.all_weighers()}
        groups = {group: dict(values) for group, values in conf.items()}
        fs = groups.setdefault("filter_scheduler", {})
        fs["weight_classes"] = [paths[n] for n in fs["weight_classes"]]
        fs["available_filters"] = ["nova.scheduler.filters.all_filters"] + [
            f"{LEGACY_PACKAGE}.{module}.{name}"
            for name, module in LEGACY_FILTERS.items()]
        fs["track_instance_changes"] = False
        groups["pci"] = {"alias": [json.dumps(a) for a in pci_aliases]}
        done = []
        try:
            for group, values in groups.items():
                for name, value in values.items():
                    self.conf.set_override(name, value, group=group)
                    done.append((name, group))
            yield
        finally:
            for name, group in done:
                self.conf.clear_override(name, group=group)


def _answer_aggregates_from(side):
    """``AggregateList.get_by_metadata`` (an API database query in Nova)
    answered from the case's aggregates, with the query's rule: one
    metadata row matching ``key`` and ``value`` where given."""
    from nova import objects

    def get_by_metadata(cls, context, key=None, value=None):
        return objects.AggregateList(objects=[
            a for a in side.aggregates
            if any((key is None or k == key) and (value is None or v == value)
                   for k, v in a.metadata.items())])

    objects.AggregateList.get_by_metadata = classmethod(get_by_metadata)


class _Case:
    """One case through Nova."""

    def __init__(self, side, case):
        from nova import objects
        self.side = side
        self.case = case
        self.objects = objects
        self.order = {n["nodename"]: i for i, n in enumerate(case["nodes"])}
        self.nodes = {n["nodename"]: n for n in case["nodes"]}
        side.aggregates = [objects.Aggregate(
            id=a["id"], uuid=a["uuid"], name=a["name"], hosts=a["hosts"],
            metadata=a["metadata"]) for a in case["aggregates"]]
        self.computes = [nova_objects.compute_node(n)
                         for n in case["nodes"]]
        self.usage = {n["nodename"]: {
            "VCPU": n["vcpus_used"], "MEMORY_MB": n["memory_mb_used"],
            "DISK_GB": n["local_gb_used"]} for n in case["nodes"]}

    # --- the flow ------------------------------------------------------------

    def schedule(self):
        from nova import exception
        from nova.scheduler import manager
        from nova.scheduler import request_filter
        try:
            spec, inputs = nova_objects.request_spec(self.case["request"])
        except exception.NovaException as exc:
            return {"outcome": {"api_error": type(exc).__name__}}
        result = {"inputs": inputs, "instances": [], "outcome": None}
        manager_ = self.host_manager()
        states = self.host_states(manager_)
        try:
            # the request filters that narrow by aggregates (the others
            # ask for traits every node of a case has, or are off)
            request_filter.require_tenant_aggregate(self.side.context, spec)
            request_filter.map_az_to_placement_aggregate(self.side.context,
                                                         spec)
        except exception.RequestFilterFailed:
            result["outcome"] = {"no_valid_host": 0}
            return result
        try:
            placement = self.placement_request(spec, manager_)
        except exception.NoValidHost:
            result["outcome"] = {"no_valid_host": 0}
            return result
        requested = dict(placement.merged_resources())
        hosts = [s for s in states
                 if self.placement_candidate(s, placement, requested)]
        for state in hosts:
            # the one allocation candidate Placement offers per node
            state.allocation_candidates = [{
                "allocations": {state.uuid: {"resources": requested}},
                "mappings": {"": [state.uuid]}}]
        # Placement's in_tree (the first forced host's node, when it has
        # one) is recorded with the narrowing it stands for
        self.in_tree = placement.get_request_group(None).in_tree
        for index, instance_uuid in enumerate(
                self.case["request"]["instance_uuids"]):
            spec.instance_uuid = instance_uuid
            spec.obj_reset_changes(["instance_uuid"])
            trace = {"candidates": _names(hosts)}
            result["instances"].append(trace)
            passed = self.filtered(manager_, hosts, spec, index, trace)
            if not passed:
                result["outcome"] = {"no_valid_host": index}
                return result
            try:
                ordered = self.weighed(manager_, passed, spec, trace)
            except exception.NovaException as exc:
                result["outcome"] = {"error": type(exc).__name__,
                                     "at": index}
                return result
            chosen = next((h for h in ordered
                           if self.claim(h, requested)), None)
            if chosen is None:
                result["outcome"] = {"no_valid_host": index}
                return result
            trace["chosen"] = chosen.nodename
            manager.SchedulerManager._consume_selected_host(
                chosen, spec, instance_uuid=instance_uuid)
            hosts = sorted(passed, key=lambda h: self.order[h.nodename])
        return result

    def filtered(self, manager_, hosts, spec, index, trace):
        """The hosts passing ``get_filtered_hosts``, with each filter's
        survivors recorded as Nova's FilterHandler runs them."""
        if self.in_tree:
            hosts = [h for h in hosts if h.uuid == self.in_tree]
        enabled = manager_.enabled_filters
        manager_.enabled_filters = []
        try:
            narrowed = list(manager_.get_filtered_hosts(hosts, spec, index))
        finally:
            manager_.enabled_filters = enabled
        trace["narrowed"] = _names(narrowed)
        trace["filters"] = []
        hints = spec.scheduler_hints or {}
        if (spec.force_hosts or spec.force_nodes) and \
                not hints.get("_nova_check_type"):
            return narrowed
        passed = narrowed
        for host_filter in enabled:
            if not host_filter.run_filter_for_index(index):
                continue
            kept = manager_.filter_handler.get_filtered_objects(
                [host_filter], passed, spec, index)
            passed = list(kept or [])
            trace["filters"].append([type(host_filter).__name__,
                                     _names(passed)])
            if not passed:
                break
        return passed

    def weighed(self, manager_, hosts, spec, trace):
        """Hosts best first (Nova's get_weighed_hosts), with each weigher's
        multiplier x normalised weight and the totals recorded."""
        handler = manager_.weight_handler
        trace["weights"] = {}
        for weigher in manager_.weighers:
            weighed = handler.get_weighed_objects([weigher], hosts, spec)
            trace["weights"][type(weigher).__name__] = {
                w.obj.nodename: _number(w.weight) for w in weighed}
        weighed = manager_.get_weighed_hosts(hosts, spec)
        trace["total"] = {w.obj.nodename: _number(w.weight) for w in weighed}
        return [w.obj for w in weighed]

    # --- Placement, emulated -------------------------------------------------

    def placement_request(self, spec, manager_):
        """Nova's ResourceRequest for Placement: the resources (zeros left
        out, swap rounded up to whole GiB), the ``member_of`` aggregate
        groups and, for forced hosts, the ``in_tree`` node."""
        from nova.scheduler import utils
        return utils.resources_from_request_spec(
            self.side.context, spec, manager_,
            enable_pinning_translate=False)

    def placement_candidate(self, state, placement, requested):
        node = self.nodes[state.nodename]
        if node["disabled"]:
            return False        # compute_status_filter's forbidden trait
        group = placement.get_request_group(None)
        for members in group.aggregates or []:
            if not any(a.uuid in members for a in state.aggregates):
                return False
        return self.fits(state.nodename, requested)

    def fits(self, nodename, requested):
        node = self.nodes[nodename]
        inventory = {
            "VCPU": (node["vcpus"], node["cpu_allocation_ratio"]),
            "MEMORY_MB": (node["memory_mb"], node["ram_allocation_ratio"]),
            "DISK_GB": (node["local_gb"], node["disk_allocation_ratio"])}
        for resource, amount in requested.items():
            total, ratio = inventory[resource]
            used = self.usage[nodename][resource]
            if amount > total or used + amount > total * ratio:
                return False
        return True

    def claim(self, state, requested):
        if not self.fits(state.nodename, requested):
            return False
        for resource, amount in requested.items():
            self.usage[state.nodename][resource] += amount
        return True

    # --- Nova's objects ------------------------------------------------------

    def host_manager(self):
        from nova.scheduler import host_manager
        objects = self.objects
        computes = self.computes

        class FedHostManager(host_manager.HostManager):
            """Nova's HostManager, with its caches filled from the case
            instead of the databases."""

            def refresh_cells_caches(self):
                self.cells, self.enabled_cells = {}, []
                self.host_to_cell_uuid = {}

            def _init_aggregates(self):
                pass

            def get_compute_nodes_by_host_or_node(self, ctxt, host, node,
                                                  cell=None):
                # Nova's database query, on the case's nodes; names
                # compared ignoring case, as MariaDB's and MySQL's
                # default collation (Nova's usual database) compares them
                return objects.ComputeNodeList(objects=[
                    c for c in computes
                    if (not host or c.host.lower() == host.lower()) and
                    (not node or
                     c.hypervisor_hostname.lower() == node.lower())])

        manager_ = FedHostManager()
        for aggregate in self.side.aggregates:
            manager_.update_aggregates([aggregate])
        running = {}
        for instance_uuid, host in sorted(self.case["instances"].items()):
            running.setdefault(host, {})[instance_uuid] = \
                self.objects.Instance(uuid=instance_uuid)
        manager_._instance_info = {
            n["host"]: {"instances": running.setdefault(n["host"], {}),
                        "updated": True} for n in self.case["nodes"]}
        return manager_

    def host_states(self, manager_):
        """HostStates of every node, in the case's order."""
        computes = self.computes
        services = {}
        for node in self.case["nodes"]:
            services.setdefault(node["host"], nova_objects.service(
                len(services) + 1, node))
        states = manager_._get_host_states(
            self.side.context, {CELL_UUID: computes}, services)
        return sorted(states, key=lambda s: self.order[s.nodename])


def _names(hosts):
    return [h.nodename for h in hosts]


def _number(value):
    """A weight as JSON holds it (infinities and NaN as text)."""
    value = float(value)
    return value if math.isfinite(value) else repr(value)


if __name__ == "__main__":
    main()
