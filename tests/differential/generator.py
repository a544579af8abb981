"""Seeded cases for the differential test: a cloud and a request, as JSON.

A case is plain data (dicts, lists, strings, numbers), so the same case
goes to Nova's side (``nova_side.py``, in another Python) and to
hoststate's (``hoststate_side.py``). ``cases(seed, count)`` makes
``count`` of them; case ``index`` of ``seed`` depends on nothing else
(its generator is seeded with both), so one case replays alone with
``case(seed, index)``.

The cases cycle through three configurations:

* ``default``: Nova 34's default ``enabled_filters``;
* ``full``: every filter of the issue, NUMA and PCI included;
* ``legacy``: the Ram/Core/Disk filters Nova no longer ships (plain or
  Aggregate*), with the default ones.

What is drawn: the cloud (``cloud.Cloud``: hosts, aggregates, running
instances); the configuration (weigher multipliers, the metrics weigher,
tenant isolation); and a request: a flavor (with NUMA, pinning, page
size, PCI alias, aggregate and capability extra specs), image
properties, one to three instances, a server group, forced or ignored
hosts, scheduler hints, a zone and a project.

Deliberate differences of hoststate (README, "One difference from Nova is
deliberate: swap") are kept out by construction: swap is only drawn for
one-instance requests, where Nova's consumption never runs before a
decision.
"""
import random

from differential import cloud

CONFIGURATIONS = ("default", "full", "legacy")

#: Nova 34's default [filter_scheduler] enabled_filters.
DEFAULT_FILTERS = ("ComputeFilter", "ComputeCapabilitiesFilter",
                   "ImagePropertiesFilter", "ServerGroupAntiAffinityFilter",
                   "ServerGroupAffinityFilter")
FULL_FILTERS = DEFAULT_FILTERS + (
    "NUMATopologyFilter", "PciPassthroughFilter",
    "AggregateInstanceExtraSpecsFilter", "AggregateMultiTenancyIsolation",
    "AggregateImagePropertiesIsolation", "AggregateNumInstancesFilter",
    "AggregateIoOpsFilter", "JsonFilter", "SameHostFilter",
    "DifferentHostFilter", "SimpleCIDRAffinityFilter", "IoOpsFilter",
    "NumInstancesFilter", "MetricsFilter")
LEGACY_PLAIN = ("RamFilter", "CoreFilter", "DiskFilter")
LEGACY_AGGREGATE = ("AggregateRamFilter", "AggregateCoreFilter",
                    "AggregateDiskFilter")
#: Every weigher both have. (Nova 34's ImagePropertiesWeigher is left
#: out: hoststate has none, and its default multiplier, 0, disables it.)
WEIGHERS = ("RAMWeigher", "CPUWeigher", "DiskWeigher", "IoOpsWeigher",
            "NumInstancesWeigher", "HypervisorVersionWeigher", "PCIWeigher",
            "ServerGroupSoftAffinityWeigher",
            "ServerGroupSoftAntiAffinityWeigher", "BuildFailureWeigher",
            "MetricsWeigher", "CrossCellWeigher")
MULTIPLIERS = ("ram_weight_multiplier", "cpu_weight_multiplier",
               "disk_weight_multiplier", "io_ops_weight_multiplier",
               "num_instances_weight_multiplier",
               "hypervisor_version_weight_multiplier",
               "pci_weight_multiplier", "soft_affinity_weight_multiplier",
               "soft_anti_affinity_weight_multiplier",
               "build_failure_weight_multiplier")
#: Multipliers that must not be negative (Nova and hoststate refuse one).
NON_NEGATIVE = ("pci_weight_multiplier", "soft_affinity_weight_multiplier",
                "soft_anti_affinity_weight_multiplier")

#: The [pci] alias definitions of every case (their devices: cloud.py).
PCI_ALIASES = (
    {"name": "nic", "vendor_id": "8086", "product_id": "1520",
     "device_type": "type-PCI", "numa_policy": "legacy"},
    {"name": "gpu", "vendor_id": "10de", "product_id": "20b5",
     "device_type": "type-PCI", "numa_policy": "preferred"},
    {"name": "gpu-near", "vendor_id": "10de", "product_id": "20b5",
     "device_type": "type-PCI", "numa_policy": "required"},
)
def cases(seed, count):
    """``count`` cases of ``seed``, cycling through the configurations."""
    return [case(seed, index) for index in range(count)]


def case(seed, index):
    """Case ``index`` of ``seed``: {"seed", "index", "configuration",
    "conf", "nodes", "aggregates", "instances", "request"}."""
    rng = random.Random(f"hoststate-differential:{seed}:{index}")
    configuration = CONFIGURATIONS[index % len(CONFIGURATIONS)]
    maker = _Maker(rng, configuration)
    nodes = maker.nodes()
    aggregates = maker.aggregates(sorted({n["host"] for n in nodes}))
    instances = maker.instances(nodes)
    request = maker.request(nodes, instances)
    return {"seed": seed, "index": index, "configuration": configuration,
            "conf": maker.conf(),
            "pci_aliases": [dict(a) for a in PCI_ALIASES], "nodes": nodes,
            "aggregates": aggregates,
            "instances": instances, "request": request}


class _Maker(cloud.Cloud):
    """Draws the parts of one case from one generator: the cloud
    (``cloud.Cloud``), the configuration and the request."""

    # --- configuration -------------------------------------------------------

    def conf(self):
        rng = self.rng
        filters = {"default": DEFAULT_FILTERS, "full": FULL_FILTERS}.get(
            self.configuration)
        if filters is None:
            legacy = rng.choice((LEGACY_PLAIN, LEGACY_AGGREGATE))
            filters = ("ComputeFilter",) + legacy + DEFAULT_FILTERS[1:]
        scheduler = {"filter_scheduler": {
            "enabled_filters": list(filters), "weight_classes": list(WEIGHERS),
            "host_subset_size": 1,
            "max_io_ops_per_host": rng.choice((4, 8, 16)),
            "max_instances_per_host": rng.choice((10, 20, 50)),
        }}
        if rng.random() < 0.5:
            for name in MULTIPLIERS:
                if rng.random() < 0.5:
                    low = 0.0 if name in NON_NEGATIVE else -2.0
                    scheduler["filter_scheduler"][name] = rng.choice(
                        [v for v in (-2.0, -1.0, 0.0, 0.5, 2.0, 1000.0)
                         if v >= low])
        if rng.random() < 0.5:
            required = rng.random() < 0.25
            scheduler["metrics"] = {
                "weight_setting": [f"{name}={rng.choice((-1.0, 0.5, 2.0))}"
                                   for name in self.metric_names],
                "required": required,
                "weight_of_unavailable": rng.choice((-10000.0, 0.0, 5.0)),
                "weight_multiplier": rng.choice((1.0, -1.0, 0.0)),
            }
        if rng.random() < 0.25:
            scheduler["scheduler"] = {
                "limit_tenants_to_placement_aggregate": True,
                "placement_aggregate_required_for_tenants":
                    rng.random() < 0.2}
        return scheduler

    # --- the request ---------------------------------------------------------

    def request(self, nodes, instances):
        rng = self.rng
        count = rng.choice((1, 1, 2, 3))
        uuids = [cloud.uuid_from(rng) for _ in range(count)]
        hosts = sorted({n["host"] for n in nodes})
        request = {
            "instance_uuids": uuids, "flavor": self._flavor(count),
            "image": self._image(), "project_id": rng.choice(cloud.PROJECTS),
            "availability_zone": rng.choice((None, None, "az1", "az2",
                                             "nova")),
            "force_hosts": [], "force_nodes": [], "ignore_hosts": [],
            "scheduler_hints": self._hints(instances), "group": None,
        }
        narrowing = rng.random()
        if narrowing < 0.08:
            request["force_hosts"] = [_case_changed(rng, h) for h in
                                      rng.sample(hosts, rng.randint(1, 2))]
        elif narrowing < 0.12:
            request["force_nodes"] = [rng.choice(nodes)["nodename"]]
        elif narrowing < 0.25:
            request["ignore_hosts"] = [_case_changed(rng, h) for h in
                                       rng.sample(hosts, rng.randint(1, 3))]
        if rng.random() < 0.35:
            request["group"] = self._group(instances, uuids)
        return request

    def _flavor(self, count):
        rng = self.rng
        vcpus = rng.choice((1, 2, 4, 8))
        flavor = {
            "name": "f", "flavorid": "f", "vcpus": vcpus,
            "memory_mb": rng.choice((512, 1024, 2048, 4096, 8192)),
            "root_gb": rng.choice((0, 1, 10, 20, 40)),
            "ephemeral_gb": rng.choice((0, 0, 5)),
            # README: swap is a deliberate difference between instances
            "swap": rng.choice((0, 0, 512, 1024)) if count == 1 else 0,
            "extra_specs": {},
        }
        specs = flavor["extra_specs"]
        # A NUMA or PCI request only where NUMATopologyFilter and
        # PciPassthroughFilter run: without them Nova may choose a node
        # where its consume_from_request fails part-way (it logs, and
        # skips the rest: the I/O operation count, the PCI devices), a
        # quirk of a broken configuration, not a decision to compare.
        devices = self.configuration == "full"
        if devices and rng.random() < self.numa_share:
            flavor["vcpus"] = vcpus = min(vcpus, 4)
            flavor["memory_mb"] = min(flavor["memory_mb"], 2048)
            specs.update(self._numa_specs(vcpus))
        if devices and rng.random() < 0.3:
            alias = rng.choice(PCI_ALIASES)["name"]
            specs["pci_passthrough:alias"] = f"{alias}:{rng.randint(1, 2)}"
        if rng.random() < 0.12:
            specs["aggregate_instance_extra_specs:ssd"] = \
                rng.choice(("true", "false"))
        if rng.random() < 0.05:
            specs["gpu_model"] = rng.choice(("a100", "<in> a1"))
        if rng.random() < 0.1:
            specs.update(rng.choice((
                {"capabilities:hypervisor_version": ">= 7000000"},
                {"capabilities:cpu_info:arch": "x86_64"},
                {"capabilities:gpu_model": "s== a100"},
                {"capabilities:hypervisor_type": "QEMU"},
            )))
        return flavor

    def _numa_specs(self, vcpus):
        rng = self.rng
        specs = {}
        if rng.random() < 0.6:
            specs["hw:cpu_policy"] = rng.choice(("dedicated", "shared"))
            if specs["hw:cpu_policy"] == "dedicated" and rng.random() < 0.5:
                specs["hw:cpu_thread_policy"] = rng.choice(
                    ("prefer", "isolate", "require"))
        if rng.random() < 0.5:
            specs["hw:numa_nodes"] = str(rng.choice(
                [n for n in (1, 2) if vcpus % n == 0]))
        if rng.random() < 0.3:
            specs["hw:mem_page_size"] = rng.choice(
                ("small", "large", "2048", "any"))
        if not specs:
            specs["hw:numa_nodes"] = "1"
        return specs

    def _image(self):
        rng = self.rng
        properties = {}
        for name, values in (("hw_architecture", ("x86_64", "aarch64")),
                             ("img_hv_type", ("qemu", "kvm")),
                             ("hw_vm_mode", ("hvm",)),
                             ("img_hv_requested_version",
                              (">=6.0", ">=7.2", "<7.0")),
                             ("os_type", ("linux", "windows"))):
            if rng.random() < 0.15:
                properties[name] = rng.choice(values)
        return {"id": cloud.uuid_from(rng), "properties": properties}

    def _hints(self, instances):
        rng = self.rng
        hints = {}
        running = sorted(instances)
        if running and rng.random() < 0.15:
            hints["same_host"] = rng.sample(running, 1)
        if running and rng.random() < 0.15:
            hints["different_host"] = rng.sample(
                running, rng.randint(1, min(2, len(running))))
        if rng.random() < 0.15:
            hints["build_near_host_ip"] = [f"10.{rng.randint(0, 1)}.0.1"]
            hints["cidr"] = [rng.choice(("/24", "/16", "/8"))]
        if rng.random() < 0.15:
            hints["query"] = [rng.choice((
                '[">=", "$free_ram_mb", 2048]',
                '["and", [">=", "$free_disk_mb", 20480], '
                '["<", "$vcpus_used", 20]]',
                '["or", ["=", "$hypervisor_version", 8000000], '
                '[">", "$num_instances", 4]]',
                '["not", ["<", "$free_ram_mb", 4096]]',
            ))]
        return hints

    def _group(self, instances, uuids):
        """A server group: some running members (their hosts its hosts,
        as Nova's conductor fills them) and the request's instances."""
        rng = self.rng
        running = sorted(instances)
        members = rng.sample(running, rng.randint(0, min(3, len(running))))
        policy = rng.choice(("affinity", "anti-affinity", "soft-affinity",
                             "soft-anti-affinity"))
        rules = {}
        if policy == "anti-affinity" and rng.random() < 0.3:
            rules = {"max_server_per_host": str(rng.randint(1, 2))}
        return {"uuid": cloud.uuid_from(rng), "policy": policy, "rules": rules,
                "members": members + uuids,
                "hosts": sorted({instances[m] for m in members})}


def _case_changed(rng, name):
    """``name``, sometimes upper-cased (Nova matches hosts ignoring
    case)."""
    return name.upper() if rng.random() < 0.3 else name
