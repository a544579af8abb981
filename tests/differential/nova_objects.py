"""A differential case's cloud and request as Nova's objects.

Imported by ``nova_side.py`` in the Nova venv (never by the tests): the
objects Nova's scheduler would read from its databases and receive from
its API and conductor, built from the case's plain data. The request is
made as Nova's API makes it: the NUMA constraints by
``numa_get_constraints``, the PCI requests from the flavor's alias by
``get_pci_requests_from_flavor``; the server group as the conductor
fills it (its members with the request's instances, its hosts those of
the running members).
"""
import datetime
import json


def compute_node(node):
    from nova import objects
    numa = node["numa_topology"]
    return objects.ComputeNode(
        id=node["id"], uuid=node["uuid"], host=node["host"],
        hypervisor_hostname=node["nodename"], vcpus=node["vcpus"],
        vcpus_used=node["vcpus_used"], memory_mb=node["memory_mb"],
        memory_mb_used=node["memory_mb_used"],
        free_ram_mb=node["free_ram_mb"], local_gb=node["local_gb"],
        local_gb_used=node["local_gb_used"],
        free_disk_gb=node["free_disk_gb"],
        disk_available_least=node["disk_available_least"],
        hypervisor_type=node["hypervisor_type"],
        hypervisor_version=node["hypervisor_version"],
        cpu_info=json.dumps(node["cpu_info"]), host_ip=node["host_ip"],
        supported_hv_specs=[objects.HVSpec.from_list(t)
                            for t in node["supported_instances"]],
        metrics=json.dumps([
            {"name": name, "value": value, "source": "fake",
             "timestamp": "2025-01-01T00:00:00Z"}
            for name, value in node["metrics"].items()]),
        pci_device_pools=objects.PciDevicePoolList(objects=[
            objects.PciDevicePool.from_dict(dict(p))
            for p in node["pci_pools"]]),
        stats=dict(node["stats"]),
        numa_topology=numa_topology(numa)._to_json() if numa else None,
        cpu_allocation_ratio=node["cpu_allocation_ratio"],
        ram_allocation_ratio=node["ram_allocation_ratio"],
        disk_allocation_ratio=node["disk_allocation_ratio"],
        updated_at=None, running_vms=0, current_workload=0)


def numa_topology(numa):
    from nova import objects
    return objects.NUMATopology(cells=[objects.NUMACell(
        id=c["id"], cpuset=set(c["cpuset"]), pcpuset=set(c["pcpuset"]),
        memory=c["memory"], cpu_usage=c["cpu_usage"],
        memory_usage=c["memory_usage"], pinned_cpus=set(c["pinned_cpus"]),
        siblings=[set(s) for s in c["siblings"]],
        mempages=[objects.NUMAPagesTopology(**p) for p in c["mempages"]],
        network_metadata=objects.NetworkMetadata(physnets=set(),
                                                 tunneled=False),
        socket=None) for c in numa["cells"]])


def service(service_id, node):
    """The node's compute service: heard from now when up, a day ago
    when not (the db servicegroup driver's rule decides)."""
    from nova import objects
    now = datetime.datetime.now(datetime.timezone.utc)
    heard = now if node["up"] else now - datetime.timedelta(days=1)
    return objects.Service(
        id=service_id, host=node["host"], binary="nova-compute",
        topic="compute", disabled=node["disabled"], disabled_reason=None,
        forced_down=node["forced_down"], last_seen_up=heard,
        created_at=heard, updated_at=heard, report_count=1)


def request_spec(request):
    """(RequestSpec, {"numa_request", "pci_requests"}); the API's errors
    raise."""
    from nova import objects
    from nova.pci import request as pci_request
    from nova.virt import hardware
    f = request["flavor"]
    flavor = objects.Flavor(
        id=1, flavorid=f["flavorid"], name=f["name"], vcpus=f["vcpus"],
        memory_mb=f["memory_mb"], root_gb=f["root_gb"],
        ephemeral_gb=f["ephemeral_gb"], swap=f["swap"],
        extra_specs=dict(f["extra_specs"]), rxtx_factor=1.0,
        vcpu_weight=0, disabled=False, is_public=True)
    image = objects.ImageMeta.from_dict({
        "id": request["image"]["id"], "name": "image",
        "properties": dict(request["image"]["properties"])})
    numa = hardware.numa_get_constraints(flavor, image)
    pci = pci_request.get_pci_requests_from_flavor(flavor)
    spec = objects.RequestSpec(
        flavor=flavor, image=image, numa_topology=numa, pci_requests=pci,
        project_id=request["project_id"], user_id="user",
        availability_zone=request["availability_zone"],
        num_instances=len(request["instance_uuids"]),
        ignore_hosts=request["ignore_hosts"] or None,
        force_hosts=request["force_hosts"] or None,
        force_nodes=request["force_nodes"] or None,
        scheduler_hints={k: list(v) for k, v in
                         request["scheduler_hints"].items()},
        instance_group=instance_group(request["group"]),
        requested_destination=None, retry=None,
        limits=objects.SchedulerLimits(), is_bfv=False,
        requested_resources=[],
        request_level_params=objects.RequestLevelParams(),
        instance_uuid=request["instance_uuids"][0])
    return spec, {"numa_request": numa_request(numa),
                  "pci_requests": pci_requests(pci)}


def instance_group(group):
    from nova import objects
    if not group:
        return None
    made = objects.InstanceGroup(
        uuid=group["uuid"], policy=group["policy"],
        rules=dict(group["rules"]), members=list(group["members"]),
        hosts=list(group["hosts"]))
    made.policies = [group["policy"]]       # as loading one sets it
    return made


def numa_request(topology):
    """The NUMA constraints as the test compares them (page sizes that
    are kinds, not sizes, as words)."""
    from nova.virt import hardware
    if topology is None:
        return None
    words = {hardware.MEMPAGES_SMALL: "small",
             hardware.MEMPAGES_LARGE: "large", hardware.MEMPAGES_ANY: "any"}
    return [{"cpuset": sorted(c.cpuset), "pcpuset": sorted(c.pcpuset),
             "memory": c.memory,
             "pagesize": words.get(c.pagesize, c.pagesize),
             "cpu_policy": c.cpu_policy,
             "cpu_thread_policy": c.cpu_thread_policy}
            for c in topology.cells]


def pci_requests(requests):
    return [{"count": r.count, "spec": r.spec, "alias_name": r.alias_name,
             "numa_policy": r.numa_policy} for r in requests.requests]
