"""The request stream: a documented flavor mix, server groups and
lifetimes, deterministic for a seed.

| flavor        | share | vCPUs | memory  | disk   | what else                          |
|---------------|------:|------:|--------:|-------:|------------------------------------|
| m1.tiny       |  15 % |     1 |   1 GiB |  10 GB |                                    |
| m1.small      |  20 % |     1 |   2 GiB |  20 GB |                                    |
| m1.medium     |  22 % |     2 |   4 GiB |  40 GB |                                    |
| m1.large      |  15 % |     4 |   8 GiB |  80 GB |                                    |
| m1.xlarge     |  10 % |     4 |  16 GiB | 160 GB |                                    |
| m1.2xlarge    |   7 % |     8 |  32 GiB | 160 GB |                                    |
| r1.4xlarge    |   4 % |    16 | 128 GiB | 320 GB |                                    |
| r1.8xlarge    |   2 % |    32 | 256 GiB | 640 GB |                                    |
| c1.pinned8    |   3 % |     8 |  16 GiB |  80 GB | ``hw:cpu_policy=dedicated``        |
| g1.gpu8       |   2 % |     8 |  64 GiB | 160 GB | one GPU (PCI passthrough)          |

Requests arrive as a Poisson stream, 20 per simulated second. Half the
instances live for the whole run; the others live an exponentially
distributed time whose mean is a third of the run, then are deleted.
30 % of requests name an availability zone. 2 % of requests start a server
group (70 % anti-affinity, 30 % affinity) of 2 to 5 members, booted one
after the other. Instances belong to 50 projects, a few of them large.

The default run (``hoststate simulate`` with no options: 100 hosts of
``cloud``'s models, pre-filled to about 70 % of their capacity by
``prefill``, then 3,000 requests over about 150 simulated seconds) is
sized so that this stream fills the cloud: memory climbs from about
63 % to 96 %, the 256 GiB flavor meets NoValidHost from the first tenth
of the stream (no host has that much memory free), GPU and pinned
flavors from about a third, and in the last third most intervals refuse
several requests, mostly for disk, while the free capacity left is
stranded on nodes that cannot take one more m1.xlarge.
"""
import dataclasses
import random
import uuid as uuid_lib

from hoststate.objects import flavor as flavor_obj
from hoststate.objects import instance_group as group_obj
from hoststate.objects import pci as pci_obj
from hoststate.simulation import cloud

ARRIVALS_PER_SECOND = 20.0
LONG_LIVED_SHARE = 0.5
MEAN_LIFETIME_OF_RUN = 1 / 3
ZONE_SHARE = 0.3
GROUP_SHARE = 0.02
PROJECTS = 50
IMAGE = {"id": "0c5e2a9b-7d41-4f0e-9a3b-6e2d1c8f4b7a",
         "properties": {"os_type": "linux"}}

# (name, share, vcpus, memory_mb, root_gb, extra_specs)
FLAVOR_MIX = (
    ("m1.tiny", 0.15, 1, 1024, 10, {}),
    ("m1.small", 0.20, 1, 2048, 20, {}),
    ("m1.medium", 0.22, 2, 4096, 40, {}),
    ("m1.large", 0.15, 4, 8192, 80, {}),
    ("m1.xlarge", 0.10, 4, 16384, 160, {}),
    ("m1.2xlarge", 0.07, 8, 32768, 160, {}),
    ("r1.4xlarge", 0.04, 16, 131072, 320, {}),
    ("r1.8xlarge", 0.02, 32, 262144, 640, {}),
    ("c1.pinned8", 0.03, 8, 16384, 80, {"hw:cpu_policy": "dedicated"}),
    ("g1.gpu8", 0.02, 8, 65536, 160, {"pci_passthrough:alias": "gpu:1"}),
)
#: the flavor whose fit defines fragmentation (see report)
REFERENCE_FLAVOR = "m1.xlarge"


def flavors():
    """{name: Flavor} of the mix (ids in table order)."""
    return {name: flavor_obj.Flavor(
        id=index + 1, flavorid=name, name=name, vcpus=vcpus,
        memory_mb=memory_mb, root_gb=root_gb, ephemeral_gb=0, swap=0,
        extra_specs=dict(extra))
        for index, (name, _, vcpus, memory_mb, root_gb, extra)
        in enumerate(FLAVOR_MIX)}


@dataclasses.dataclass
class Request:
    index: int
    uuid: str
    arrival: float              # simulated seconds
    flavor: str
    project: str
    zone: str | None
    lifetime: float | None      # None: lives until the run ends
    group: object = None        # an InstanceGroup, shared by its members

    @property
    def expires(self):
        return None if self.lifetime is None else self.arrival + self.lifetime


_PROJECT_WEIGHTS = [1.0 / (rank + 1) for rank in range(PROJECTS)]


def pick_project(pick):
    """A project for an instance: a few large ones, many small (Zipf)."""
    return f"project{pick.choices(range(PROJECTS), _PROJECT_WEIGHTS)[0]:02d}"


def gpu_request(instance_uuid):
    """The PCI request of a g1.gpu8 instance: one simulated GPU."""
    return pci_obj.InstancePCIRequests(
        instance_uuid=instance_uuid, requests=[pci_obj.InstancePCIRequest(
            count=1, alias_name="gpu",
            spec=[{"vendor_id": cloud.GPU_VENDOR,
                   "product_id": cloud.GPU_PRODUCT}])])


def stream(count, seed=0):
    """``count`` requests in arrival order, made as they are taken (a
    generator: a long stream is never held whole)."""
    pick = random.Random(seed)
    duration = count / ARRIVALS_PER_SECOND
    names = [f[0] for f in FLAVOR_MIX]
    shares = [f[1] for f in FLAVOR_MIX]
    clock, pending_group = 0.0, None
    for index in range(count):
        clock += pick.expovariate(ARRIVALS_PER_SECOND)
        if pending_group is None and pick.random() < GROUP_SHARE:
            pending_group = _new_group(pick, index)
        group = pending_group
        if group is not None:
            flavor, project, zone = group.flavor, group.project, group.zone
        else:
            flavor = pick.choices(names, shares)[0]
            project = pick_project(pick)
            zone = pick.choice(cloud.ZONES) if pick.random() < ZONE_SHARE else None
        lifetime = None if pick.random() < LONG_LIVED_SHARE else \
            pick.expovariate(1.0 / (duration * MEAN_LIFETIME_OF_RUN))
        yield Request(
            index=index, uuid=str(uuid_lib.UUID(int=pick.getrandbits(128),
                                               version=4)),
            arrival=clock, flavor=flavor, project=project, zone=zone,
            lifetime=lifetime, group=group.group if group else None)
        if group is not None:
            group.left -= 1
            if group.left == 0:
                pending_group = None


@dataclasses.dataclass
class _PendingGroup:
    group: object
    left: int
    flavor: str
    project: str
    zone: str | None


def _new_group(pick, index):
    policy = "anti-affinity" if pick.random() < 0.7 else "affinity"
    group = group_obj.InstanceGroup(
        uuid=str(uuid_lib.UUID(int=pick.getrandbits(128), version=4)),
        name=f"group{index}", policy=policy, rules={}, members=[],
        project_id="groups")
    flavor = pick.choice(["m1.small", "m1.medium", "m1.large"])
    return _PendingGroup(group, pick.randint(2, 5), flavor, "groups",
                         pick.choice(cloud.ZONES) if pick.random() < ZONE_SHARE
                         else None)
