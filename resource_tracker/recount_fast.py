"""The periodic recount of a node in its steady state, with plain numbers.

Almost every cycle finds a node as the last one left it: every instance
holds in the ledger exactly what it takes, the counters are reserved + the
ledger, the inventory did not move. ``periodic.recount`` establishes that
by building a ComputeNode, a Consumption per row and per instance, and
``periodic.differences`` by comparing every field and document; for a
thousand nodes of fifty instances that is most of a cycle.

``steady_consumptions`` reaches the same verdict with ints and tuples
(instance amounts made once per flavor, the ledger summed as ints, the
inventory's fields made once per distinct inventory and kept in a
``BaselineMemo``), and gives up (None: count the slow way) as soon as
anything is not plain: an instance or move that needs NUMA or PCI, a row
that holds them, an instance the ledger and the instances disagree about,
a counter or field the recount would change. It never decides anything
the recount would decide otherwise: when it answers, the recount would
have written nothing, repaired nothing and warned about nothing.
"""
import collections
import json
import operator

from hoststate.conf import node_defaults
from hoststate.hardware import capacity
from hoststate.hardware import consumption as cons
from hoststate.hardware import node_stats
from hoststate.hardware import usage as hw_usage
from hoststate.objects import flavor as flavor_obj
from hoststate.objects import pci as pci_obj
from hoststate.objects import states
from hoststate.resource_tracker import periodic
from hoststate.resource_tracker import usage_source

#: The compared fields a recount derives from the instances and the
#: ledger; every other compared field comes from the inventory and the
#: configuration alone (``periodic.baseline``).
USAGE_FIELDS = frozenset((
    "vcpus_used", "memory_mb_used", "local_gb_used", "free_ram_mb",
    "free_disk_gb", "current_workload", "running_vms", "stats"))

BASELINE_FIELDS = tuple(name for name in periodic.COMPARED
                        if name not in USAGE_FIELDS)

_COUNTERS = ("vcpus_used", "memory_mb_used", "local_gb_used")

#: What the check reads of an instance: of an InstanceRecord, and of a
#: row of ``usage_source.NodeInstances`` (documents as their JSON text),
#: each in one C call.
_FACTS = ("uuid", "vm_state", "task_state", "os_type", "project_id",
          "flavor", "image_ref", "numa_topology", "pci_requests")
_RECORD_FACTS = operator.attrgetter(*_FACTS)
_ROW_FACTS = operator.itemgetter(*(usage_source.INSTANCE_COLUMNS.index(name)
                                   for name in _FACTS))


class TrackerMemo:
    """What one tracker's check keeps between cycles: the fingerprint of
    its last inventory and the baseline fields it gave (an inventory
    rarely changes, and building it into a ComputeNode and serialising
    its documents cost more than the rest of the check), and the compared
    fields of the node it last checked (a node object is never changed
    in place: the tracker replaces it when it writes or reads its row)."""

    __slots__ = ("key", "fields", "node", "node_fields")

    def __init__(self):
        self.key = self.fields = self.node = self.node_fields = None


class CycleMemo:
    """What the checks of one agent cycle share: flavor amounts by flavor
    text, and baseline fields by inventory fingerprint (a thousand nodes
    of one model share one inventory, but for their names)."""

    __slots__ = ("amounts", "baselines")

    def __init__(self):
        self.amounts = FlavorAmounts()
        self.baselines = {}


def steady_consumptions(conf, resources, node, instances, migration_sides,
                        ledger, memo=None, cycle=None):
    """{instance uuid: Consumption} as ``periodic.recount`` would count
    them, when the recount of ``node`` would change nothing (no field, no
    ledger row, no repair, no warning); None otherwise, or when the node
    is not plain enough to tell (NUMA, PCI).

    Arguments as ``recount`` takes them; ``memo`` (a TrackerMemo) keeps
    what a tracker's next check may reuse, ``cycle`` (a CycleMemo) what
    the checks of one cycle share."""
    if node is None:
        return None
    cycle = cycle or CycleMemo()
    baseline = _baseline_fields(conf, resources, node, memo, cycle)
    if baseline is None:
        return None
    wanted, counted_states = _wanted(instances, migration_sides,
                                     cycle.amounts)
    if wanted is None:
        return None
    held = _held(ledger)
    if held is None or held[0] != wanted:
        return None
    held_by_instance, consumptions, totals = held
    target = _usage(baseline, totals, counted_states, node)
    if not _same_fields(node, baseline, target, memo):
        return None
    return consumptions


def _baseline_fields(conf, resources, node, memo, cycle):
    """{compared field: comparable value} of ``periodic.baseline``, plus
    ``_reserved`` (its used counters) and ``_totals`` (memory and disk the
    free counters are taken from); None when the baseline cannot be built
    (the recount then raises its own error)."""
    key = _fingerprint(conf, resources, node)
    if key is None:
        return _built_baseline(conf, resources, node)
    if memo is not None and memo.key == key:
        return memo.fields
    shared, name = key
    fields = cycle.baselines.get(shared)
    if fields is not None:
        fields = dict(fields, hypervisor_hostname=name)
    else:
        fields = _built_baseline(conf, resources, node)
        if fields is None:
            return None
        cycle.baselines[shared] = fields
    if memo is not None:
        memo.key, memo.fields = key, fields
    return fields


def _built_baseline(conf, resources, node):
    try:
        target = periodic.baseline(conf, resources, node)
    except Exception:  # the slow path reports it, as it always has
        return None
    fields = {name: periodic.comparable(target.obj_get(name))
              for name in BASELINE_FIELDS}
    fields["_reserved"] = tuple(target.obj_get(name) for name in _COUNTERS)
    fields["_totals"] = (capacity.node_field(target, "memory_mb"),
                         capacity.node_field(target, "local_gb"))
    return fields


#: Inventory keys ``periodic.baseline`` does not read (``uuid``) or reads
#: into one field of its own (the name): left out of the fingerprint that
#: nodes share, so that a thousand nodes of one model make one baseline.
_NODE_OWN = ("hypervisor_hostname", "uuid")


def _fingerprint(conf, resources, node):
    """(everything ``periodic.baseline`` reads but the node's name, as one
    comparable value, the name): the inventory as JSON text (documents by
    their own JSON), the configuration it resolves and the node's stored
    ratios. None when the inventory holds something that has no stable
    text, or a name that is not text (never cached)."""
    name = resources.get("hypervisor_hostname")
    if name is not None and type(name) is not str:
        return None
    try:
        inventory = json.dumps(
            {key: value for key, value in resources.items()
             if key not in _NODE_OWN}, sort_keys=True,
            default=_document_text)
    except (TypeError, ValueError):
        return None
    configured = tuple(conf[ratio] for ratio in node_defaults.RATIOS) + \
        tuple(conf["initial_" + ratio] for ratio in node_defaults.RATIOS)
    return (inventory, str(conf.my_ip), conf.reserved_host_cpus,
            conf.reserved_host_memory_mb, conf.reserved_host_disk_mb,
            configured,
            tuple(node.obj_get(ratio) for ratio in node_defaults.RATIOS)), name


def _document_text(value):
    if hasattr(value, "to_json"):
        return {"__document__": type(value).__name__,
                "text": value.to_json()}
    raise TypeError(f"no stable text for {type(value).__name__}")


def _wanted(instances, migration_sides, texts):
    """({instance uuid: (vcpus, memory_mb, disk_gb)} that the instances
    counted here and the move sides take, Counter of the counted
    instances' ``node_stats.state_of``); (None, None) when one of them
    needs NUMA or PCI. ``texts`` (FlavorAmounts) gives amounts by flavor
    text; those by flavor object are made here, for this call only."""
    objects = FlavorAmounts()
    rows = getattr(instances, "rows", None)
    documents = getattr(instances, "documents", None)
    if rows is not None and documents is not None:
        facts = map(_ROW_FACTS, rows)
    else:
        facts, documents = map(_facts, instances), None
    removable = {}
    wanted = {}
    counted_states = collections.Counter()
    for (uuid, vm_state, task_state, os_type, project_id, flavor, image_ref,
         numa_topology, pci_requests) in facts:
        state = (vm_state, task_state)
        gone = removable.get(state)
        if gone is None:
            gone = removable[state] = states.allows_resource_removal(
                vm_state, task_state)
        if gone:
            continue
        if numa_topology is not None:
            return None, None
        if pci_requests is not None:
            if documents is not None:
                pci_requests = documents.load(pci_obj.InstancePCIRequests,
                                              pci_requests)
            if cons._has_pci(pci_requests):
                return None, None
        counted_states[(vm_state, task_state, os_type, project_id)] += 1
        _add(wanted, uuid, texts.of_text(flavor, not image_ref, documents)
             if documents is not None else objects.of(flavor, not image_ref))
    for instance, flavor, numa_topology, pci_requests, _ in migration_sides:
        if numa_topology is not None or cons._has_pci(pci_requests):
            return None, None
        _add(wanted, instance.uuid, objects.of(
            flavor, hw_usage.is_boot_from_volume(instance)))
    return wanted, counted_states


def _facts(instance):
    """What the check reads of an instance (an InstanceRecord or an
    Instance), unset fields as None."""
    if type(instance) is usage_source.InstanceRecord:
        return _RECORD_FACTS(instance)
    return (instance.uuid, instance.vm_state,
            instance.obj_get("task_state"), instance.obj_get("os_type"),
            instance.obj_get("project_id"), instance.flavor,
            instance.obj_get("image_ref"), instance.obj_get("numa_topology"),
            instance.obj_get("pci_requests"))


class FlavorAmounts:
    """(vcpus, memory_mb, disk_gb) of a flavor, by the claim's own rule
    (``Consumption.of``), made once per flavor and boot-from-volume
    answer: per JSON text of a flavor (``of_text``), or per flavor object
    (``of``: this keeps the objects alive, so an id stays theirs; keep
    one for one call, in which nobody changes a flavor)."""

    def __init__(self):
        self._by_object = {}
        self._by_text = {}

    def of(self, flavor, is_bfv):
        key = (id(flavor), is_bfv)
        made = self._by_object.get(key)
        if made is None:
            made = self._by_object[key] = (flavor, _amounts(flavor, is_bfv))
        return made[1]

    def of_text(self, text, is_bfv, documents):
        """Amounts of the flavor stored as ``text`` (None: no flavor),
        parsed with ``documents`` (a ``usage_source.DocumentCache``)."""
        key = (text, is_bfv)
        made = self._by_text.get(key)
        if made is None:
            flavor = None if text is None else documents.load(
                flavor_obj.Flavor, text)
            made = self._by_text[key] = _amounts(flavor, is_bfv)
        return made


def _amounts(flavor, is_bfv):
    consumption = cons.Consumption.of(flavor, is_bfv)
    return consumption.vcpus, consumption.memory_mb, consumption.disk_gb


def _add(totals, uuid, amounts):
    seen = totals.get(uuid)
    totals[uuid] = amounts if seen is None else (
        seen[0] + amounts[0], seen[1] + amounts[1], seen[2] + amounts[2])


def _held(ledger):
    """({instance uuid: amounts its rows hold}, {instance uuid: Consumption
    of its own row}, (vcpus, memory_mb, disk_gb) of every row); None when
    a row holds NUMA cells or PCI devices."""
    facts = getattr(ledger, "facts", None)
    rows = map(facts, ledger) if facts is not None else map(_row_facts,
                                                            ledger)
    held, consumptions, shared = {}, {}, {}
    vcpus = memory_mb = disk_gb = 0
    for (instance_uuid, consumer_uuid, row_vcpus, row_memory_mb, row_disk_gb,
         numa_topology, pci_allocation) in rows:
        if numa_topology is not None or pci_allocation is not None:
            return None
        amounts = (row_vcpus, row_memory_mb, row_disk_gb)
        _add(held, instance_uuid, amounts)
        vcpus += row_vcpus
        memory_mb += row_memory_mb
        disk_gb += row_disk_gb
        if consumer_uuid == instance_uuid:
            consumption = shared.get(amounts)
            if consumption is None:
                consumption = shared[amounts] = cons.Consumption(*amounts)
            consumptions[instance_uuid] = consumption
    return held, consumptions, (vcpus, memory_mb, disk_gb)


def _row_facts(row):
    """``LedgerRows.facts`` of a row given otherwise (a mapping, an
    Allocation)."""
    return tuple(periodic.row_field(row, name) for name in (
        "instance_uuid", "consumer_uuid", "vcpus", "memory_mb", "disk_gb",
        "numa_topology", "pci_allocation"))


def _usage(baseline, totals, counted_states, node):
    """{usage field: value} the recount would store. A stored counter
    other than reserved + the ledger (a repair) differs from the one
    here, so ``_same_fields`` refuses it; the recount's clamp at zero
    never matters here, a stored counter is never negative."""
    used = tuple(reserved + amount
                 for reserved, amount in zip(baseline["_reserved"], totals))
    memory_mb, local_gb = baseline["_totals"]
    stats = node_stats.stats_of_states(counted_states, node)
    return dict(zip(_COUNTERS, used), free_ram_mb=memory_mb - used[1],
                free_disk_gb=local_gb - used[2], stats=stats,
                running_vms=sum(counted_states.values()),
                current_workload=int(stats["io_workload"]))


def _same_fields(node, baseline, usage, memo):
    """Whether ``periodic.differences`` would find nothing to write."""
    stored = _stored_fields(node, memo)
    for name in periodic.COMPARED:
        new = periodic.comparable(usage[name]) if name in USAGE_FIELDS \
            else baseline[name]
        if new != stored[name]:
            return False
    return True


def _stored_fields(node, memo):
    """{compared field: comparable value} of ``node``, kept in ``memo``
    for as long as the tracker holds that very node object."""
    if memo is not None and memo.node is node:
        return memo.node_fields
    fields = {name: periodic.comparable(node.obj_get(name))
              for name in periodic.COMPARED}
    if memo is not None:
        memo.node, memo.node_fields = node, fields
    return fields
