"""The steady-state check of the periodic recount (recount_fast) against
the full recount (periodic.recount + periodic.differences) it stands in
for: it answers only where the recount would write, repair and warn about
nothing, and then with the recount's own consumptions."""
import copy
import uuid

import pytest
from oslo_config import cfg

from hoststate import conf as hs_conf
from hoststate.hardware import consumption as cons
from hoststate.hardware import node_stats
from hoststate.objects import fields as hs_fields
from hoststate.objects import flavor as flavor_obj
from hoststate.objects import numa as numa_obj
from hoststate.objects import pci as pci_obj
from hoststate.objects import states
from hoststate.resource_tracker import periodic
from hoststate.resource_tracker import recount_fast
from hoststate.resource_tracker import usage_source

NODE_ID = 7
RESOURCES = dict(vcpus=32, memory_mb=65536, local_gb=1000,
                 hypervisor_type="fake", hypervisor_version=1000,
                 hypervisor_hostname="n1", cpu_info="{}",
                 disk_available_least=900,
                 supported_instances=[["x86_64", "kvm", "hvm"]],
                 uuid="00000000-0000-0000-0000-000000000001")
FLAVORS = {
    "small": flavor_obj.Flavor(id=1, flavorid="s", name="small", vcpus=1,
                               memory_mb=1024, root_gb=10),
    # 512 MiB of swap: 10.5 GiB, held as 11
    "swap": flavor_obj.Flavor(id=2, flavorid="w", name="swap", vcpus=2,
                              memory_mb=2048, root_gb=10, swap=512),
}
TEXTS = {name: hs_fields.dump_json(f) for name, f in FLAVORS.items()}


def own_conf(**options):
    conf = hs_conf.load(conf=cfg.ConfigOpts(), use_env=False)
    for name, value in dict(dict(reserved_host_cpus=1,
                                 reserved_host_memory_mb=512,
                                 reserved_host_disk_mb=2048),
                            **options).items():
        conf.set_override(name, value)
    return conf


def instance_row(name, flavor="small", image_ref="img", vm_state="active",
                 task_state=None, numa_topology=None, pci_requests=None,
                 project_id="p1"):
    """An instances row as usage_source reads it (INSTANCE_COLUMNS)."""
    values = dict(uuid=str(uuid.uuid5(uuid.NAMESPACE_URL, name)),
                  host="h", node="n1", vm_state=vm_state,
                  task_state=task_state, image_ref=image_ref,
                  os_type="linux", project_id=project_id,
                  instance_type_id=FLAVORS[flavor].id,
                  flavor=TEXTS[flavor], numa_topology=numa_topology,
                  pci_requests=pci_requests, migration_context=None)
    return tuple(values[c] for c in usage_source.INSTANCE_COLUMNS)


def ledger_row(row_id, instance, amounts=None, consumer=None,
               pci_allocation=None):
    """An allocations row (LEDGER_COLUMNS) holding what ``instance`` (a
    row of instance_row) takes, or ``amounts``."""
    at = usage_source.INSTANCE_COLUMNS.index
    flavor = FLAVORS_BY_TEXT[instance[at("flavor")]]
    held = cons.Consumption.of(flavor, not instance[at("image_ref")])
    vcpus, memory_mb, disk_gb = amounts or (held.vcpus, held.memory_mb,
                                            held.disk_gb)
    values = dict(id=row_id, consumer_uuid=consumer or instance[at("uuid")],
                  instance_uuid=instance[at("uuid")],
                  compute_node_id=NODE_ID, vcpus=vcpus, memory_mb=memory_mb,
                  disk_gb=disk_gb, numa_topology=None,
                  pci_allocation=pci_allocation, created_at=None,
                  updated_at=None)
    return tuple(values[c] for c in usage_source.LEDGER_COLUMNS)


FLAVORS_BY_TEXT = {TEXTS[name]: f for name, f in FLAVORS.items()}


def a_node_of(conf, instances, ledger, resources=RESOURCES):
    """The node as stored when its last recount found ``instances`` and
    ``ledger`` (rows) agree."""
    node = periodic.recount(conf, resources, None, records(instances), [],
                            mappings(ledger)).target
    node.id = NODE_ID
    return node


def records(rows):
    return [usage_source.InstanceRecord(row, usage_source.DocumentCache())
            for row in rows]


def node_instances(rows):
    return usage_source.NodeInstances(usage_source.DocumentCache(), rows)


def mappings(rows):
    return usage_source.LedgerRows(rows).mappings()


def full_recount(conf, resources, node, instances, ledger, sides=()):
    """(what the full recount would change or report, its consumptions)."""
    result = periodic.recount(conf, resources, node, records(instances),
                              list(sides), mappings(ledger))
    found = dict(periodic.differences(node, result.target))
    if result.added or result.removed:
        found["ledger"] = (len(result.added), len(result.removed))
    if result.warnings or result.repairs:
        found["reported"] = (result.warnings, result.repairs)
    return found, result.consumptions


STEADY = [instance_row("a"), instance_row("b", "swap"),
          instance_row("c", image_ref=None),      # boot from volume
          instance_row("d", task_state="image_snapshot", project_id="p2"),
          instance_row("gone", vm_state=states.DELETED)]
STEADY_LEDGER = [ledger_row(i + 1, row) for i, row in enumerate(STEADY[:4])]


@pytest.mark.parametrize("as_rows", [True, False],
                         ids=["node-instances", "records"])
@pytest.mark.parametrize("as_tuples", [True, False],
                         ids=["ledger-rows", "mappings"])
def test_a_steady_node_gets_the_recounts_own_consumptions(as_rows,
                                                          as_tuples):
    conf = own_conf()
    node = a_node_of(conf, STEADY, STEADY_LEDGER)
    found, consumptions = full_recount(conf, RESOURCES, node, STEADY,
                                       STEADY_LEDGER)
    assert found == {}          # the full recount has nothing to do
    steady = recount_fast.steady_consumptions(
        conf, RESOURCES, node,
        node_instances(STEADY) if as_rows else records(STEADY), [],
        usage_source.LedgerRows(STEADY_LEDGER) if as_tuples
        else mappings(STEADY_LEDGER))
    assert steady == consumptions
    # a: 1 vcpu, 1024 MiB, 10 GiB; b: swap rounds 10.5 GiB up to 11;
    # c boots from volume: no root disk; "gone" is deleted: not counted
    assert {u[:8]: (c.vcpus, c.memory_mb, c.disk_gb)
            for u, c in steady.items()} == {
        STEADY[0][0][:8]: (1, 1024, 10), STEADY[1][0][:8]: (2, 2048, 11),
        STEADY[2][0][:8]: (1, 1024, 0), STEADY[3][0][:8]: (1, 1024, 10)}


def _bump(node, **values):
    node = copy.deepcopy(node)
    node.update(values)
    return node


def _pci_requests():
    return hs_fields.dump_json(pci_obj.InstancePCIRequests(requests=[
        pci_obj.InstancePCIRequest(count=1, spec=[{"vendor_id": "8086"}])]))


def _numa_topology():
    return hs_fields.dump_json(numa_obj.InstanceNUMATopology(cells=[
        numa_obj.InstanceNUMACell(id=0, cpuset={0}, memory=1024)]))


# (case, change to (conf options, resources, node, instances, ledger),
#  whether the full recount then writes or reports something)
CHANGED = [
    ("a counter off by one", lambda c, r, n, i, l: (
        c, r, _bump(n, vcpus_used=n.vcpus_used + 1), i, l), True),
    ("an instance without its row", lambda c, r, n, i, l: (
        c, r, n, i, l[1:]), True),
    ("a row of an instance not here", lambda c, r, n, i, l: (
        c, r, n, i[1:], l), True),
    ("a row holding other amounts", lambda c, r, n, i, l: (
        c, r, n, i, [ledger_row(1, i[0], amounts=(1, 1024, 9))] + l[1:]),
     True),
    # the node's totals are right: only the check by instance sees it
    ("two instances' amounts swapped", lambda c, r, n, i, l: (
        c, r, n, i, [ledger_row(1, i[0], amounts=(2, 2048, 11)),
                     ledger_row(2, i[1], amounts=(1, 1024, 10))] + l[2:]),
     True),
    ("the inventory grew", lambda c, r, n, i, l: (
        c, dict(r, vcpus=64), n, i, l), True),
    ("a ratio is configured", lambda c, r, n, i, l: (
        dict(c, cpu_allocation_ratio=2.0), r, n, i, l), True),
    ("an instance changed task state", lambda c, r, n, i, l: (
        c, r, n, [instance_row("a", task_state="rebuilding")] + i[1:], l),
     True),
    ("an instance moved to another project", lambda c, r, n, i, l: (
        c, r, n, [instance_row("a", project_id="p3")] + i[1:], l), True),
    ("an instance was deleted", lambda c, r, n, i, l: (
        c, r, n, [instance_row("a", vm_state=states.DELETED)] + i[1:], l),
     True),
    # not plain: the check does not answer, whatever the recount finds
    ("an instance with a NUMA topology", lambda c, r, n, i, l: (
        c, r, n, [instance_row("a", numa_topology=_numa_topology())] + i[1:],
        l), None),
    ("an instance asking for PCI devices", lambda c, r, n, i, l: (
        c, r, n, [instance_row("a", pci_requests=_pci_requests())] + i[1:],
        l), None),
    ("a row holding PCI devices", lambda c, r, n, i, l: (
        c, r, n, i, [ledger_row(1, i[0], pci_allocation='{"x": 1}')] + l[1:]),
     None),
]


@pytest.mark.parametrize("case, change, recount_acts", CHANGED,
                         ids=[case for case, _, _ in CHANGED])
def test_anything_the_recount_would_act_on_is_not_steady(case, change,
                                                         recount_acts):
    options, resources, node, instances, ledger = change(
        {}, RESOURCES, a_node_of(own_conf(), STEADY, STEADY_LEDGER), STEADY,
        STEADY_LEDGER)
    conf = own_conf(**options)
    assert recount_fast.steady_consumptions(
        conf, resources, node, node_instances(instances), [],
        usage_source.LedgerRows(ledger)) is None
    assert recount_fast.steady_consumptions(
        conf, resources, node, records(instances), [],
        mappings(ledger)) is None
    if recount_acts is not None:
        found, _ = full_recount(conf, resources, node, instances, ledger)
        assert bool(found) is recount_acts


def test_an_instance_with_an_empty_pci_request_list_is_plain():
    conf = own_conf()
    empty = hs_fields.dump_json(pci_obj.InstancePCIRequests(requests=[]))
    instances = [instance_row("a", pci_requests=empty)]
    ledger = [ledger_row(1, instances[0])]
    node = a_node_of(conf, instances, ledger)
    assert full_recount(conf, RESOURCES, node, instances, ledger)[0] == {}
    assert list(recount_fast.steady_consumptions(
        conf, RESOURCES, node, node_instances(instances), [],
        usage_source.LedgerRows(ledger))) == [instances[0][0]]


def test_a_move_side_counts_like_the_recount_counts_it():
    """A resize on one node: the instance holds its old flavor, the
    migration (its own consumer) the new one; steady when the ledger
    holds both, not when the migration's row is missing."""
    conf = own_conf()
    instances = [instance_row("a")]
    moving = records(instances)[0]
    migration = str(uuid.uuid4())
    sides = [(moving, FLAVORS["swap"], None, None, migration)]
    ledger = [ledger_row(1, instances[0]),
              ledger_row(2, instances[0], amounts=(2, 2048, 11),
                         consumer=migration)]
    node = periodic.recount(conf, RESOURCES, None, [moving], sides,
                            mappings(ledger)).target
    assert full_recount(conf, RESOURCES, node, instances, ledger,
                        sides)[0] == {}
    steady = recount_fast.steady_consumptions(
        conf, RESOURCES, node, node_instances(instances), sides,
        usage_source.LedgerRows(ledger))
    # only the instance's own row is its consumption
    assert {u: (c.vcpus, c.memory_mb, c.disk_gb)
            for u, c in steady.items()} == {instances[0][0]: (1, 1024, 10)}
    assert recount_fast.steady_consumptions(
        conf, RESOURCES, node, node_instances(instances), sides,
        usage_source.LedgerRows(ledger[:1])) is None


def test_nodes_of_one_model_share_one_baseline_but_not_their_names():
    conf = own_conf()
    cycle = recount_fast.CycleMemo()
    first = a_node_of(conf, [], [])
    other = dict(RESOURCES, hypervisor_hostname="n2",
                 uuid="00000000-0000-0000-0000-000000000002")
    second = a_node_of(conf, [], [], other)
    assert recount_fast.steady_consumptions(
        conf, RESOURCES, first, [], [], [], cycle=cycle) == {}
    memo = recount_fast.TrackerMemo()
    assert recount_fast.steady_consumptions(
        conf, other, second, [], [], [], memo=memo, cycle=cycle) == {}
    assert len(cycle.baselines) == 1
    # the shared fields, the name patched in, are n2's own baseline
    assert memo.fields == recount_fast._built_baseline(conf, other, second)
    assert memo.fields["hypervisor_hostname"] == "n2"
    # n1's node is not steady under n2's name
    assert recount_fast.steady_consumptions(
        conf, other, first, [], [], [], cycle=cycle) is None


def test_a_baseline_kept_by_a_tracker_follows_the_configuration():
    conf = own_conf()
    node = a_node_of(conf, [], [])
    memo = recount_fast.TrackerMemo()
    assert recount_fast.steady_consumptions(conf, RESOURCES, node, [], [],
                                            [], memo=memo) == {}
    more_reserved = own_conf(reserved_host_cpus=2)
    assert recount_fast.steady_consumptions(more_reserved, RESOURCES, node,
                                            [], [], [], memo=memo) is None


@pytest.mark.parametrize("name, is_bfv, expected", [
    ("small", False, (1, 1024, 10)),
    ("small", True, (1, 1024, 0)),
    ("swap", False, (2, 2048, 11)),     # 10 GiB + 512 MiB, rounded up
    ("swap", True, (2, 2048, 1)),       # the swap alone, rounded up
])
def test_flavor_amounts_are_the_claims_amounts(name, is_bfv, expected):
    amounts = recount_fast.FlavorAmounts()
    documents = usage_source.DocumentCache()
    by_text = amounts.of_text(TEXTS[name], is_bfv, documents)
    by_object = amounts.of(FLAVORS[name], is_bfv)
    claimed = cons.Consumption.of(FLAVORS[name], is_bfv)
    assert by_text == by_object == expected == (
        claimed.vcpus, claimed.memory_mb, claimed.disk_gb)


def test_stats_by_kind_are_the_stats_one_instance_at_a_time():
    instances = records([
        instance_row("a"), instance_row("b", task_state="image_snapshot"),
        instance_row("c", project_id="p2"), instance_row("d")])
    node = a_node_of(own_conf(), [], [])
    node.stats = dict(node.stats, failed_builds="3")
    one_at_a_time = {}
    for instance in instances:
        one_at_a_time = node_stats.stats_with(one_at_a_time, instance, 1)
    one_at_a_time["failed_builds"] = "3"
    stats = node_stats.instance_stats(instances, node)
    assert stats == one_at_a_time == {
        "num_instances": "4", "io_workload": "1", "failed_builds": "3",
        "num_vm_active": "4", "num_task_None": "3",
        "num_task_image_snapshot": "1", "num_os_type_linux": "4",
        "num_proj_p1": "3", "num_proj_p2": "1"}
    assert list(stats) == [
        "num_instances", "io_workload", "num_vm_active", "num_task_None",
        "num_os_type_linux", "num_proj_p1", "num_task_image_snapshot",
        "num_proj_p2", "failed_builds"]


def test_node_instances_make_their_records_once_and_only_when_asked():
    rows = [instance_row("a"), instance_row("b", "swap")]
    instances = node_instances(rows)
    assert len(instances) == 2 and instances._records is None
    made = list(instances)
    assert instances[1] is made[1] and list(instances) == made
    assert [(r.uuid, r.flavor.name, r.obj_get("task_state", "none"))
            for r in made] == [(rows[0][0], "small", "none"),
                               (rows[1][0], "swap", "none")]
    # one parsed flavor per text, the document cache's
    assert instances.documents.load(flavor_obj.Flavor, TEXTS["small"]) \
        is made[0].flavor


def test_ledger_rows_read_as_mappings_by_column():
    row = ledger_row(5, instance_row("a"))
    (mapping,) = usage_source.LedgerRows([row]).mappings()
    assert mapping == dict(
        id=5, consumer_uuid=row[1], instance_uuid=row[1],
        compute_node_id=NODE_ID, vcpus=1, memory_mb=1024, disk_gb=10,
        numa_topology=None, pci_allocation=None, created_at=None,
        updated_at=None)
    assert usage_source.LedgerRows.facts(row) == (
        row[1], row[1], 1, 1024, 10, None, None)
