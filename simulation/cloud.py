"""The simulated cloud's hosts: a few realistic host models, zones and
aggregates, deterministic for a seed.

| model        | share | vCPUs | memory   | disk    | what else                              |
|--------------|------:|------:|---------:|--------:|----------------------------------------|
| general-48   |  35 % |    48 |  256 GiB | 1.8 TB  |                                        |
| general-64   |  30 % |    64 |  512 GiB | 3.6 TB  |                                        |
| memory-96    |  15 % |    96 | 1024 GiB | 7.2 TB  |                                        |
| pinned-64    |  12 % |    64 |  512 GiB | 3.6 TB  | 2 NUMA cells, 16 of 32 CPUs per cell dedicated (pinning) |
| gpu-48       |   8 % |    48 |  384 GiB | 1.8 TB  | 2 NUMA cells, 4 GPUs (2 per cell)      |

Every host is one compute service with one node of the same name (a
libvirt-style host). Hosts are spread round-robin over three availability
zones (``az1``..``az3``, one aggregate each); pinned and GPU hosts are also
in the ``pinned`` and ``gpu`` aggregates, and every host is in one of
twenty ``rack<N>`` aggregates.

Per host on average (by share): 62 vCPUs, 489 GiB of memory and 3.4 TB
of disk. With Nova's initial allocation ratios (4.0 for vCPUs, 1.0 for
memory and disk) memory and disk run out long before vCPUs for the
request mix of ``workload``: a host holds about 47 instances when full,
the default run's 100 hosts about 4,700.
"""
import dataclasses
import hashlib
import json
import random
import uuid as uuid_lib

from hoststate.resource_tracker import fake_driver

ZONES = ("az1", "az2", "az3")
RACKS = 20
#: vendor/product of the simulated GPUs (what a flavor's PCI request asks)
GPU_VENDOR, GPU_PRODUCT = "10de", "20b5"
#: namespace of the node uuids, derived from host names: repeatable runs
NODE_NAMESPACE = uuid_lib.UUID("6f1d2a44-35c1-5b8e-9d0a-7c2e4b1f9a30")
_NAMESPACE_BYTES = NODE_NAMESPACE.bytes
CPU_INFO = json.dumps({"arch": "x86_64", "vendor": "Intel",
                       "model": "Icelake-Server",
                       "features": ["vmx", "avx2", "avx512f"]})
SUPPORTED = [["x86_64", "kvm", "hvm"], ["x86_64", "qemu", "hvm"]]


@dataclasses.dataclass(frozen=True)
class HostModel:
    name: str
    share: float
    vcpus: int
    memory_mb: int
    local_gb: int
    numa_cells: int = 0           # 0: no NUMA topology reported
    dedicated_per_cell: int = 0   # CPUs per cell offered for pinning
    gpus: int = 0


MODELS = (
    HostModel("general-48", 0.35, 48, 262144, 1800),
    HostModel("general-64", 0.30, 64, 524288, 3600),
    HostModel("memory-96", 0.15, 96, 1048576, 7200),
    HostModel("pinned-64", 0.12, 64, 524288, 3600, numa_cells=2,
              dedicated_per_cell=16),
    HostModel("gpu-48", 0.08, 48, 393216, 1800, numa_cells=2, gpus=4),
)


@dataclasses.dataclass
class SimHost:
    host: str
    model: HostModel
    zone: str
    rack: int

    @property
    def nodename(self):
        return self.host

    @property
    def node_uuid(self):
        return name_uuid(self.host)


def name_uuid(name):
    """``str(uuid.uuid5(NODE_NAMESPACE, name))``, without building a UUID
    object (a third of the time of seeding 100,000 hosts' uuids)."""
    digest = bytearray(hashlib.sha1(_NAMESPACE_BYTES + name.encode())
                       .digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50      # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80      # the RFC 4122 variant
    text = digest.hex()
    return (f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-"
            f"{text[20:]}")


def build_hosts(count, seed=0):
    """``count`` hosts with models drawn by share; the same for a seed."""
    pick = random.Random(seed)
    weights = [m.share for m in MODELS]
    width = max(6, len(str(count - 1)))
    return [SimHost(host=f"compute{i:0{width}d}",
                    model=pick.choices(MODELS, weights)[0],
                    zone=ZONES[i % len(ZONES)], rack=i % RACKS)
            for i in range(count)]


def inventory(host):
    """The FakeDriver inventory of ``host``'s node."""
    model = host.model
    topology = None
    if model.numa_cells:
        per_cell = model.vcpus // model.numa_cells
        topology = fake_driver.numa_host(
            cells=model.numa_cells, cores_per_cell=per_cell // 2,
            threads_per_core=2,
            memory_mb_per_cell=model.memory_mb // model.numa_cells,
            dedicated_per_cell=model.dedicated_per_cell)
    gpus = [dict(address=f"0000:{0x81 + n // 2:02x}:00.{n % 2}",
                 vendor_id=GPU_VENDOR, product_id=GPU_PRODUCT,
                 numa_node=n * model.numa_cells // model.gpus,
                 dev_type="type-PCI")
            for n in range(model.gpus)]
    return fake_driver.NodeInventory(
        vcpus=model.vcpus, memory_mb=model.memory_mb,
        local_gb=model.local_gb, hypervisor_type="QEMU",
        hypervisor_version=8002000, cpu_info=CPU_INFO,
        numa_topology=topology, pci_devices=gpus,
        supported_instances=[list(t) for t in SUPPORTED],
        uuid=host.node_uuid)


def aggregates(hosts):
    """(name, hosts, metadata) of every aggregate of the cloud."""
    result = [(zone, [h.host for h in hosts if h.zone == zone],
               {"availability_zone": zone}) for zone in ZONES]
    result.append(("pinned", [h.host for h in hosts
                              if h.model.dedicated_per_cell], {"pinned": "true"}))
    result.append(("gpu", [h.host for h in hosts if h.model.gpus],
                   {"gpu": "true"}))
    result.extend((f"rack{r}", [h.host for h in hosts if h.rack == r],
                   {"rack": str(r)}) for r in range(RACKS))
    return [a for a in result if a[1]]
