"""A small cloud for the ledger's state machine, and the steps of an
instance's life as a real deployment takes them.

Two hosts, three nodes: ``h1-plain`` and ``h1-numa`` on host h1 (the
latter with two NUMA cells of dedicated CPUs and two PCI devices),
``h2-plain`` on h2. A compute agent per host (the tracker's side) and a
Scheduler claiming in the database (the scheduler's side) write the same
ledger. The cloud lives in one database for a whole Hypothesis run: each
example empties every table (``empty_tables``) and starts the cloud
again, which costs a few statements instead of a new database.

The step functions (``finish_move``, ``revert_move`` ...) set the instance
and migration states the way Nova's compute manager does around the
tracker's calls, so that a deterministic reproduction and the state
machine take exactly the same path.
"""
import dataclasses
import uuid

import sqlalchemy as sa

from hoststate import conf as hs_conf
from hoststate.db import schema
from hoststate.objects import flavor as flavor_obj
from hoststate.objects import instance as instance_obj
from hoststate.objects import migration as migration_obj
from hoststate.objects import pci as pci_obj
from hoststate.objects import request_spec
from hoststate.objects import states
from hoststate.resource_tracker import agent as agent_mod
from hoststate.resource_tracker import fake_driver
from hoststate.scheduler import host_manager
from hoststate.scheduler import manager as manager_mod
from support import databases
from support import ledger as ledger_checks
from support import scheduler_worker

#: host -> its nodes
HOSTS = {"h1": ("h1-plain", "h1-numa"), "h2": ("h2-plain",)}
NODES = tuple(node for nodes in HOSTS.values() for node in nodes)
HOST_OF = {node: host for host, nodes in HOSTS.items() for node in nodes}
NUMA_NODE = "h1-numa"
PCI_DEVICES = {"h1-plain": 0, "h1-numa": 2, "h2-plain": 0}
GPU = dict(vendor_id="10de", product_id="20b5", dev_type="type-PCI")
_NAMESPACE = uuid.UUID("6f1c2a52-3d0e-4b8f-a9a1-5c7e0d2b9f43")
#: the PCI request's id is fixed: the flavor's request, not the instance's
_PCI_REQUEST_ID = "5d3c0c1e-8f43-4f0e-9c87-3b8a7c1f1f10"


def stable_uuid(name):
    """A uuid derived from ``name``: the same run makes the same uuids."""
    return str(uuid.uuid5(_NAMESPACE, name))


# --- flavors -----------------------------------------------------------------

def _flavor(flavor_id, name, vcpus, memory_mb, root_gb, extra_specs=None):
    return flavor_obj.Flavor(
        id=flavor_id, flavorid=name, name=name, vcpus=vcpus,
        memory_mb=memory_mb, root_gb=root_gb, ephemeral_gb=0, swap=0,
        extra_specs=extra_specs or {})


def flavors():
    """{name: Flavor}; "gpu" is small plus one PCI device (asked for by
    the instance's PCI requests, ``pci_requests_of``)."""
    return {
        "small": _flavor(1, "small", 1, 256, 1),
        "large": _flavor(2, "large", 2, 768, 4),
        "dedicated": _flavor(3, "dedicated", 2, 512, 1,
                             {"hw:cpu_policy": "dedicated"}),
        "gpu": _flavor(4, "gpu", 1, 256, 1),
    }


FLAVOR_NAMES = ("small", "large", "dedicated", "gpu")


def pci_requests_of(flavor_name):
    """The PCI requests an instance of ``flavor_name`` carries (None for
    all but "gpu")."""
    if flavor_name != "gpu":
        return None
    return pci_obj.InstancePCIRequests(requests=[pci_obj.InstancePCIRequest(
        count=1, spec=[{"vendor_id": GPU["vendor_id"]}],
        request_id=_PCI_REQUEST_ID)])


# --- the database ------------------------------------------------------------

def empty_tables(engine):
    """Delete every row of every table (children first), in one
    transaction: a fresh cloud without a fresh database."""
    with engine.begin() as conn:
        for table in reversed(schema.metadata.sorted_tables):
            conn.execute(sa.delete(table))


snapshot = databases.snapshot


def ledger_rows(engine):
    """{(consumer uuid, node name): (vcpus, memory_mb, disk_gb)}."""
    ledger, nodes = schema.allocations, schema.compute_nodes
    with engine.connect() as conn:
        rows = conn.execute(sa.select(
            ledger.c.consumer_uuid, nodes.c.hypervisor_hostname,
            ledger.c.vcpus, ledger.c.memory_mb, ledger.c.disk_gb).join(
            nodes, nodes.c.id == ledger.c.compute_node_id)).all()
    return {(r[0], r[1]): (r[2], r[3], r[4]) for r in rows}


# --- the cloud ---------------------------------------------------------------

def _numa_inventory(nodename):
    topology = fake_driver.numa_host(cells=2, cores_per_cell=2,
                                     threads_per_core=2,
                                     memory_mb_per_cell=1536,
                                     dedicated_per_cell=2)
    return fake_driver.NodeInventory(
        vcpus=sum(len(c.cpuset | c.pcpuset) for c in topology.cells),
        memory_mb=sum(c.memory for c in topology.cells), local_gb=20,
        numa_topology=topology, uuid=stable_uuid(nodename),
        pci_devices=[dict(GPU, address=f"0000:81:00.{n}", numa_node=1)
                     for n in range(PCI_DEVICES[nodename])])


def _plain_inventory(nodename):
    return fake_driver.NodeInventory(vcpus=4, memory_mb=2048, local_gb=12,
                                     uuid=stable_uuid(nodename))


def driver_of(host):
    return fake_driver.FakeDriver({
        node: (_numa_inventory if node == NUMA_NODE else _plain_inventory)(
            node) for node in HOSTS[host]})


def scheduler_conf():
    """The capacity filters plus the NUMA and PCI ones: a dedicated or a
    GPU instance is sent only where it can fit."""
    conf = scheduler_worker.capacity_conf(weight_classes=["RAMWeigher"],
                                          host_subset_size=2)
    conf.set_override("enabled_filters", [
        "ComputeFilter", "RamFilter", "CoreFilter", "DiskFilter",
        "NUMATopologyFilter", "PciPassthroughFilter"],
        group="filter_scheduler")
    return conf


SCHEDULER_CONF = scheduler_conf()


class Cloud:
    """The agents of both hosts and one scheduler, on ``ctx``'s database.

    ``start`` empties the database and brings everything up afresh."""

    def __init__(self, ctx, scheduler_seed=5):
        self.ctx = ctx
        self.engine = ctx.engine
        self.scheduler_seed = scheduler_seed
        self.drivers = {}
        self.agents = {}
        self.scheduler = None
        self.node_ids = {}

    def start(self):
        empty_tables(self.engine)
        self.drivers = {host: driver_of(host) for host in HOSTS}
        for host in HOSTS:
            self.restart(host)
        self.node_ids = {node: self.tracker(node).node.id for node in NODES}
        manager = host_manager.HostManager(
            self.ctx, conf=SCHEDULER_CONF, servicegroup=host_manager.ALL_UP)
        self.scheduler = manager_mod.Scheduler(
            manager.load(), conf=SCHEDULER_CONF, seed=self.scheduler_seed)
        return self

    def restart(self, host):
        """A new agent for ``host`` on the same driver: it knows nothing
        the old one kept in memory."""
        agent = agent_mod.ComputeAgent(self.ctx, self.drivers[host],
                                       host=host)
        errors = agent.start()
        assert errors == {}, errors
        self.agents[host] = agent

    def recount(self, host):
        errors = self.agents[host].update_available_resource()
        assert errors == {}, errors

    def tracker(self, node):
        return self.agents[HOST_OF[node]].tracker(node)

    def violations(self):
        return ledger_checks.violations(
            self.engine, hs_conf.CONF,
            {self.node_ids[n]: count for n, count in PCI_DEVICES.items()})

    # --- reads ---------------------------------------------------------------

    def instance(self, instance_uuid):
        return instance_obj.Instance.get_by_uuid(self.ctx, instance_uuid)

    def migration(self, migration_id):
        return migration_obj.Migration.get_by_id(self.ctx, migration_id)


# --- an instance's life ------------------------------------------------------

def spec_for(flavor, flavor_name, instance_uuid, count=1):
    return request_spec.RequestSpec.from_components(
        instance_uuid, flavor, image={"id": stable_uuid("image")},
        project_id="p1", user_id="u1", num_instances=count,
        pci_requests=pci_requests_of(flavor_name))


def new_instance(ctx, flavor, flavor_name, instance_uuid):
    """A stored, unplaced instance being built (as Nova's API stores it
    before the compute claims)."""
    instance = instance_obj.Instance(
        ctx, uuid=instance_uuid, project_id="p1", user_id="u1",
        vm_state=states.BUILDING, task_state=states.SPAWNING,
        image_ref="image-1", flavor=flavor, instance_type_id=flavor.id,
        vcpus=flavor.vcpus, memory_mb=flavor.memory_mb,
        root_gb=flavor.root_gb, ephemeral_gb=flavor.ephemeral_gb,
        pci_requests=pci_requests_of(flavor_name))
    instance.create()
    return instance


def set_states(instance, vm_state, task_state=None):
    instance.vm_state, instance.task_state = vm_state, task_state
    instance.save()


def place(instance, host, node, node_id):
    instance.host, instance.node, instance.compute_id = host, node, node_id


def delete(cloud, instance, node):
    """Nova's delete: the instance marked deleted, its node's tracker told
    (which gives back what the ledger holds), the row soft-deleted."""
    set_states(instance, states.DELETED)
    cloud.tracker(node).update_usage(instance)
    instance.destroy()


def shelve_offload(cloud, instance, node):
    """Nova's shelve-offload: off its host, then its node's tracker told."""
    instance.vm_state, instance.task_state = states.SHELVED_OFFLOADED, None
    place(instance, None, None, None)
    instance.save()
    cloud.tracker(node).update_usage(instance)


RESIZE, LIVE, EVACUATION = "resize", "live-migration", "evacuation"


@dataclasses.dataclass
class Move:
    """A move in progress: a resize or cold migration (``RESIZE``), a
    live migration or an evacuation. ``finished``: the instance lives at
    the destination already."""

    kind: str
    migration_id: int
    migration_uuid: str
    source: str
    dest: str
    old_flavor: str
    new_flavor: str
    finished: bool = False


def start_move(cloud, instance, dest, new_flavor):
    """The destination's claim (instance in resize_prep, as the API leaves
    it), then the source migrating: ComputeResourcesUnavailable if it does
    not fit, and then the instance is active again, nothing held."""
    source = instance.node
    set_states(instance, states.ACTIVE, states.RESIZE_PREP)
    try:
        with cloud.tracker(dest).resize_claim(instance, new_flavor) as claim:
            pass
    except Exception:
        set_states(instance, states.ACTIVE)
        raise
    set_states(instance, states.ACTIVE, states.RESIZE_MIGRATING)
    return _migrating(claim.migration, RESIZE, source, dest,
                      instance.flavor, new_flavor)


def _migrating(migration, kind, source, dest, old_flavor, new_flavor):
    migration.status = "migrating"
    migration.save()
    return Move(kind, migration.id, migration.uuid, source, dest,
                old_flavor.flavorid, new_flavor.flavorid)


def _claim_as(instance, task_state, claiming):
    """The claim ``claiming(instance)`` makes with the instance in
    ``task_state``; the instance back to no task if it does not fit."""
    set_states(instance, states.ACTIVE, task_state)
    try:
        with claiming(instance) as claim:
            return claim
    except Exception:
        set_states(instance, states.ACTIVE)
        raise


def start_live_migration(cloud, instance, dest):
    """The destination's claim of the instance as it is, the instance
    migrating (ComputeResourcesUnavailable if it does not fit)."""
    source = instance.node
    claim = _claim_as(instance, states.MIGRATING,
                      cloud.tracker(dest).live_migration_claim)
    return _migrating(claim.migration, LIVE, source, dest, instance.flavor,
                      instance.flavor)


def post_live_migration(cloud, instance, move):
    """The guest runs at the destination: the instance is placed there
    (with the NUMA topology fitted there) and the source lets go, as
    Nova's post-live-migration does."""
    context = instance.migration_context
    place(instance, HOST_OF[move.dest], move.dest, cloud.node_ids[move.dest])
    instance.numa_topology = context.new_numa_topology
    instance.vm_state, instance.task_state = states.ACTIVE, None
    instance.save()
    migration = cloud.migration(move.migration_id)
    cloud.tracker(move.source).drop_move_claim_at_source(instance, migration)
    migration = cloud.migration(move.migration_id)
    migration.status = "completed"
    migration.save()


def evacuate(cloud, instance, dest):
    """The destination's rebuild claim and the rebuild there: the instance
    lives at ``dest``, its source still holds it until the source's agent
    comes back (ComputeResourcesUnavailable if it does not fit)."""
    source = instance.node
    claim = _claim_as(instance, states.REBUILDING,
                      cloud.tracker(dest).rebuild_claim)
    context = instance.migration_context
    place(instance, HOST_OF[dest], dest, cloud.node_ids[dest])
    instance.numa_topology = context.new_numa_topology
    instance.vm_state, instance.task_state = states.ACTIVE, None
    instance.save()
    migration = claim.migration       # pre-migrating until the source
    return Move(EVACUATION, migration.id, migration.uuid, source, dest,
                instance.flavor.flavorid, instance.flavor.flavorid,
                finished=True)


def let_go_of_evacuated(cloud, instance, move):
    """The evacuated instance's source host comes back: a new agent, which
    lets go of the instance rebuilt elsewhere."""
    cloud.restart(HOST_OF[move.source])
    cloud.tracker(move.source).drop_evacuated_instance(
        instance, cloud.migration(move.migration_id))


def finish_move(cloud, instance, move):
    """The destination finishes: the instance lives there now, with the new
    flavor and the NUMA topology the destination fitted."""
    context = instance.migration_context
    place(instance, HOST_OF[move.dest], move.dest, cloud.node_ids[move.dest])
    instance.flavor = context.new_flavor
    instance.instance_type_id = context.new_flavor.id
    instance.vcpus = context.new_flavor.vcpus
    instance.memory_mb = context.new_flavor.memory_mb
    instance.root_gb = context.new_flavor.root_gb
    instance.numa_topology = context.new_numa_topology
    instance.vm_state, instance.task_state = states.RESIZED, None
    instance.save()
    migration = cloud.migration(move.migration_id)
    migration.status = "finished"
    migration.save()
    move.finished = True


def confirm_move(cloud, instance, move):
    """The source gives back the old side; the instance is active at its
    destination."""
    cloud.tracker(move.source).drop_move_claim_at_source(
        instance, cloud.migration(move.migration_id))
    set_states(instance, states.ACTIVE)


def revert_move(cloud, instance, move):
    """The destination gives back the new side (which puts the old flavor
    and NUMA topology back); the source takes the instance back (finished
    or not, as a failed migration is reverted)."""
    cloud.tracker(move.dest).drop_move_claim_at_dest(
        instance, cloud.migration(move.migration_id))
    place(instance, HOST_OF[move.source], move.source,
          cloud.node_ids[move.source])
    flavor = instance.flavor
    instance.instance_type_id = flavor.id
    instance.vcpus, instance.memory_mb = flavor.vcpus, flavor.memory_mb
    instance.root_gb = flavor.root_gb
    instance.vm_state, instance.task_state = states.ACTIVE, None
    instance.save()
