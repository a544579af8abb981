"""The cloud of a differential case: hosts, aggregates and the instances
already running, drawn from the case's generator (see ``generator``).

3 to 30 hosts (a few with two nodes, as a bare-metal host has), each
with free, used and over-committed vCPUs, memory and disk, allocation
ratios, a service that may be disabled, forced down or not heard from,
stats (instances, I/O operations, failed builds), metrics (percentages
stored as Nova's monitors store them), a NUMA topology (one or two cells
of shared and dedicated cpus, with or without SMT siblings, 4 KiB, 2 MiB
and 1 GiB pages, some used) and PCI pools; aggregates with availability
zones, tenant ids, extra spec keys, allocation ratios, counter limits,
image properties and weigher multipliers.
"""
import uuid as uuid_mod

ZONES = ("az1", "az2")
PROJECTS = ("p1", "p2", "p3")
METRICS = ("cpu.frequency", "cpu.percent", "cpu.user.percent")
#: The PCI devices of the hosts (vendor, product), which the case's PCI
#: aliases name.
PCI_DEVICES = (("8086", "1520"), ("10de", "20b5"))


def uuid_from(rng):
    return str(uuid_mod.UUID(int=rng.getrandbits(128), version=4))


class Cloud:
    """Draws one case's cloud from ``rng``. What the configuration
    changes: the share of NUMA hosts and how full the nodes are."""

    def __init__(self, rng, configuration):
        self.rng = rng
        self.configuration = configuration
        self.numa_share = {"full": 0.6}.get(configuration, 0.15)
        self.metric_names = rng.sample(METRICS, rng.randint(1, 2))
        #: how full the cloud is: the most of each node's capacity used
        #: (the full filter list removes more hosts: its clouds are
        #: emptier, so that most of its requests still find one)
        self.busy = rng.choice((0.3, 0.6, 1.0) if configuration != "full"
                               else (0.2, 0.4, 0.8))

    # --- hosts ---------------------------------------------------------------

    def nodes(self):
        rng = self.rng
        nodes = []
        for number in range(1, rng.randint(3, 30) + 1):
            host = f"host{number}"
            names = [f"node{number}"]
            if rng.random() < 0.05:
                names = [f"node{number}a", f"node{number}b"]
            service = self._service()
            for nodename in names:
                nodes.append(self._node(len(nodes) + 1, host, nodename,
                                        service))
        return nodes

    def _service(self):
        rng = self.rng
        return {"disabled": rng.random() < 0.1,
                "forced_down": rng.random() < 0.05,
                "up": rng.random() >= 0.05}

    def _node(self, node_id, host, nodename, service):
        rng = self.rng
        ratios = {"cpu_allocation_ratio": rng.choice((1.0, 2.0, 4.0, 16.0)),
                  "ram_allocation_ratio": rng.choice((1.0, 1.0, 1.5)),
                  "disk_allocation_ratio": rng.choice((1.0, 1.0, 2.0))}
        numa = self._numa() if rng.random() < self.numa_share else None
        vcpus = _cpu_count(numa) if numa else rng.choice((4, 8, 16, 32, 64))
        memory_mb = sum(c["memory"] for c in numa["cells"]) if numa else \
            rng.choice((4096, 8192, 16384, 65536))
        local_gb = rng.choice((40, 100, 500))
        vcpus_used = self._used(vcpus, ratios["cpu_allocation_ratio"])
        memory_used = self._used(memory_mb, ratios["ram_allocation_ratio"])
        disk_used = self._used(local_gb, ratios["disk_allocation_ratio"])
        free_disk_gb = local_gb - disk_used
        least = None
        if rng.random() < 0.3:
            least = max(0, free_disk_gb + rng.randint(-20, 10))
        arch = rng.choice(("x86_64", "x86_64", "aarch64"))
        return {
            "id": node_id, "uuid": uuid_from(rng), "host": host,
            "nodename": nodename, "vcpus": vcpus, "vcpus_used": vcpus_used,
            "memory_mb": memory_mb, "memory_mb_used": memory_used,
            "free_ram_mb": memory_mb - memory_used, "local_gb": local_gb,
            "local_gb_used": disk_used, "free_disk_gb": free_disk_gb,
            "disk_available_least": least, "hypervisor_type": "QEMU",
            "hypervisor_version": rng.choice((6000000, 7002000, 8000000)),
            "host_ip": f"10.{rng.randint(0, 1)}.{rng.randint(0, 1)}."
                       f"{node_id}",
            "cpu_info": {"arch": arch, "vendor": rng.choice(("Intel", "AMD")),
                         "topology": {"sockets": 1, "cores": vcpus,
                                      "threads": 1}},
            "supported_instances": [[arch, "qemu", "hvm"]] +
            ([[arch, "kvm", "hvm"]] if rng.random() < 0.5 else []),
            "stats": self._stats(),
            "metrics": {name: _metric_value(rng, name)
                        for name in self.metric_names
                        if rng.random() < 0.8},
            "numa_topology": numa,
            "pci_pools": self._pci_pools(numa) if rng.random() < 0.3 else [],
            **ratios, **service,
        }

    def _used(self, total, ratio):
        """A used amount: mostly within total x ratio x busy, sometimes
        beyond total x ratio (an over-committed node: a ratio lowered
        after instances landed)."""
        rng = self.rng
        limit = int(total * ratio)
        if rng.random() < 0.08:
            return limit + rng.randint(1, max(1, total // 4))
        return rng.randint(0, int(limit * self.busy))

    def _stats(self):
        rng = self.rng
        stats = {"num_instances": str(rng.randint(0, 12)),
                 "io_workload": str(rng.choice((0, 0, 1, 2, 3, 5, 9))),
                 "failed_builds": str(rng.choice((0, 0, 0, 1, 3)))}
        if rng.random() < 0.3:
            stats["gpu_model"] = rng.choice(("a100", "t4"))
        return stats

    def _numa(self):
        """One or two cells, cpus numbered across them."""
        rng = self.rng
        smt = rng.random() < 0.4
        cells, next_cpu = [], 0
        for cell_id in range(rng.choice((1, 2, 2))):
            shared = rng.choice((0, 2, 4, 8))
            dedicated = rng.choice((2, 4, 8)) if shared == 0 else \
                rng.choice((0, 2, 4))
            cpuset = list(range(next_cpu, next_cpu + shared))
            pcpuset = list(range(next_cpu + shared,
                                 next_cpu + shared + dedicated))
            next_cpu += shared + dedicated
            siblings = [[cpu, cpu + 1] for cpu in range(
                cpuset[0] if cpuset else pcpuset[0], next_cpu, 2)] if smt \
                else [[cpu] for cpu in cpuset + pcpuset]
            memory = rng.choice((2048, 4096, 8192))
            cells.append({
                "id": cell_id, "cpuset": cpuset, "pcpuset": pcpuset,
                "memory": memory,
                "cpu_usage": rng.randint(0, int(len(cpuset) * self.busy)),
                "memory_usage": rng.randint(0, int(memory * self.busy / 2)),
                "pinned_cpus": sorted(rng.sample(
                    pcpuset, rng.randint(0, len(pcpuset) // 2))),
                "siblings": siblings, "mempages": self._pages(memory)})
        return {"cells": cells}

    def _pages(self, memory_mb):
        rng = self.rng
        # huge pages take at most half the cell's memory
        huge_2m = rng.choice([0] + [n for n in (256, 512, 1024)
                                    if n * 2 <= memory_mb // 4])
        huge_1g = rng.choice((0, 0, 1)) if memory_mb >= 4096 else 0
        small_kb = memory_mb * 1024 - huge_2m * 2048 - huge_1g * 1048576
        pages = [{"size_kb": 4, "total": small_kb // 4,
                  "used": rng.randint(0, small_kb // 8), "reserved": 0}]
        if huge_2m:
            pages.append({"size_kb": 2048, "total": huge_2m,
                          "used": rng.randint(0, huge_2m), "reserved": 0})
        if huge_1g:
            pages.append({"size_kb": 1048576, "total": huge_1g,
                          "used": rng.choice((0, huge_1g)), "reserved": 0})
        return pages

    def _pci_pools(self, numa):
        rng = self.rng
        cells = [c["id"] for c in numa["cells"]] if numa else [None]
        pools = []
        for vendor, product in rng.sample(PCI_DEVICES, rng.randint(1, 2)):
            for cell in rng.sample(cells, rng.randint(1, len(cells))):
                pools.append({"vendor_id": vendor, "product_id": product,
                              "numa_node": cell, "dev_type": "type-PCI",
                              "count": rng.randint(0, 4)})
        return pools

    # --- aggregates and instances --------------------------------------------

    def aggregates(self, hosts):
        rng = self.rng
        aggregates = []
        for number in range(1, rng.randint(0, 4) + 1):
            members = rng.sample(hosts,
                                 rng.randint(1, max(1, len(hosts) // 2)))
            aggregates.append({
                "id": number, "uuid": uuid_from(rng), "name": f"agg{number}",
                "hosts": sorted(members), "metadata": self._metadata()})
        return aggregates

    def _metadata(self):
        rng = self.rng
        choices = {
            "availability_zone": lambda: rng.choice(ZONES),
            "filter_tenant_id": lambda: rng.choice(PROJECTS),
            "filter_tenant_id_2": lambda: rng.choice(PROJECTS),
            "ssd": lambda: rng.choice(("true", "false")),
            "gpu_model": lambda: rng.choice(("a100", "t4")),
            "cpu_allocation_ratio": lambda: rng.choice(("1.0", "2.0", "8.0")),
            "ram_allocation_ratio": lambda: rng.choice(("1.0", "1.5")),
            "disk_allocation_ratio": lambda: rng.choice(("1.0", "2.0")),
            "max_io_ops_per_host": lambda: rng.choice(("3", "6", "x")),
            "max_instances_per_host": lambda: rng.choice(("6", "10")),
            "hw_architecture": lambda: rng.choice(("x86_64", "aarch64")),
            "os_type": lambda: rng.choice(("linux", "windows")),
            "ram_weight_multiplier": lambda: rng.choice(("2.0", "-1.0")),
            "cpu_weight_multiplier": lambda: rng.choice(("0.5", "3.0")),
        }
        keys = rng.sample(sorted(choices), rng.randint(0, 3))
        return {key: choices[key]() for key in keys}

    def instances(self, nodes):
        """{instance uuid: host} already running."""
        rng = self.rng
        hosts = sorted({n["host"] for n in nodes})
        return {uuid_from(rng): rng.choice(hosts)
                for _ in range(rng.randint(0, 6))}


def _metric_value(rng, name):
    """A metric as compute_nodes.metrics holds it: Nova's monitors store
    the percentages as fractions (``MonitorMetric.to_dict`` divides by
    100, ``from_json`` multiplies back)."""
    if name.endswith("percent"):
        return rng.randint(0, 100) / 100.0
    return rng.randint(0, 3000)


def _cpu_count(numa):
    return sum(len(c["cpuset"]) + len(c["pcpuset"]) for c in numa["cells"])
