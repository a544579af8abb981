"""The request vector: what filters and weighers read of one request, built
once per select_destinations call rather than once per host.

It wraps a RequestSpec and adds what Nova recomputes on every
``host_passes`` call: the flavor's sizes in the units the table uses, the
extra specs and image properties as plain dicts, the instance's NUMA
constraints, the server group's policy and where its members are, and the
index of the instance being placed (run-once filters look at it).
"""
import collections

from hoststate.hardware import numa as hw_numa
from hoststate.hardware import numa_pci_fit
from hoststate.objects.attrs import set_value
from hoststate.scheduler import request_parts

#: Scheduler hints that name instances whose location matters.
INSTANCE_HINTS = ("same_host", "different_host")


class RequestVector:
    """One request, as the vectorized filters and weighers read it.

    Built once per request and never changed while its instances are
    placed: each instance is placed with its own view (``for_instance``),
    which adds where the earlier instances of the request went. So a
    filter or weigher can only read the request, and a request tried
    again (a deadlock) starts from what it was.
    """

    def __init__(self, spec, conf=None, max_vcpus=None):
        self.spec = spec
        self.conf = conf
        flavor = spec.flavor
        sizes = tuple(getattr(flavor, name)
                      for name in request_parts.FLAVOR_FIELDS)
        vcpus, memory_mb, root_gb, ephemeral_gb, swap = sizes
        self.vcpus = float(vcpus)
        self.memory_mb = float(memory_mb)
        self.root_gb = float(root_gb or 0)
        self.ephemeral_gb = float(ephemeral_gb or 0)
        self.swap_mb = float(swap or 0)
        #: Nova's DiskFilter request: 1024 * (root + ephemeral) + swap, MiB
        self.disk_mb = 1024 * (self.root_gb + self.ephemeral_gb) + self.swap_mb
        self.extra_specs = dict(set_value(flavor, "extra_specs") or {})
        self.image = set_value(spec, "image")
        self.image_id = set_value(self.image, "id") \
            if self.image is not None else None
        self.image_props = request_parts.image_properties(self.image)
        parts = request_parts.of(flavor, sizes, self.image_id,
                                 self.extra_specs, self.image_props)
        #: what the claim takes (and so what the capacity check asks):
        #: no root disk without an image, as the claim's instance row reads
        self._wanted = parts.wanted
        #: the flavor says what it takes (``resources:`` specs): the
        #: legacy capacity filters (flavor sizes) and claims then differ
        self.overrides_resources = parts.overrides_resources
        #: the traits the flavor and image require and forbid (a bad
        #: trait spec is InvalidSchedulerRequest, here, before any host)
        self.traits = parts.traits
        self.project_id = set_value(spec, "project_id")
        self.availability_zone = set_value(spec, "availability_zone")
        #: the guest's NUMA request; ``max_vcpus`` (the largest node's
        #: vCPUs) bounds the work of building it (NUMARequestTooLarge)
        self.numa_request = set_value(spec, "numa_topology") or \
            parts.numa_constraints(
                lambda: _constraints(flavor, self.image, max_vcpus))
        #: the PCI requests, carrying the flavor's or image's NUMA
        #: affinity policy as Nova's API copies it onto them
        self.pci_requests = numa_pci_fit.with_numa_policy(
            set_value(spec, "pci_requests"),
            parts.pci_numa_policy(flavor, self.image))
        self.index = 0
        self.instance_uuid = set_value(spec, "instance_uuid")
        group = set_value(spec, "instance_group")
        self.group = group
        self.group_policy = set_value(group, "policy") if group else None
        self.group_rules = dict(set_value(group, "rules") or {}) if group else {}
        self.group_members = set(set_value(group, "members") or []) \
            if group else set()
        self.group_hosts = list(set_value(group, "hosts") or []) if group else []
        #: instance uuid -> host, for group members and hinted instances
        #: (filled by the HostManager from the database)
        self.instance_hosts = {}
        #: (instance uuid, host) placed earlier in this request
        self.placed = ()
        #: what the views of one request share: values computed once per
        #: request on first use (the claim's instance row)
        self.per_request = {}
        destination = set_value(spec, "requested_destination")
        #: a move that may leave its cell (CrossCellWeigher prefers staying)
        self.allow_cross_cell_move = bool(
            destination is not None and
            getattr(destination, "allow_cross_cell_move", False))
        #: uuid of the cell the instance is in now (moves), else None
        self.source_cell = None

    def wanted(self):
        """What one instance of the request takes, in the units of a claim
        (disk in whole GiB, rounded up), ``resources:`` overrides applied."""
        return self._wanted

    # --- hints ---------------------------------------------------------------

    def hint(self, name, default=None):
        return self.spec.get_scheduler_hint(name, default)

    def hint_list(self, name):
        """A hint as a list of strings (absent: [])."""
        value = self.spec.scheduler_hints.get(name)
        return list(value) if value else []

    @property
    def is_rebuild(self):
        """Whether this is Nova's rebuild check (hint ``_nova_check_type``
        = rebuild); read once per request (every filter asks)."""
        known = self.per_request.get("is_rebuild")
        if known is None:
            known = self.per_request["is_rebuild"] = \
                self.hint_list("_nova_check_type") == ["rebuild"]
        return known

    def instances_of_interest(self):
        """Uuids whose hosts filters need: group members and hinted ones."""
        uuids = set(self.group_members)
        for name in INSTANCE_HINTS:
            uuids.update(self.hint_list(name))
        return uuids

    # --- placements in this request --------------------------------------------

    def for_instance(self, index, instance_uuid, placed=()):
        """The request as its instance number ``index`` (``instance_uuid``)
        sees it, after the earlier ones went where ``placed`` says
        ((instance uuid, host) pairs): they are group members on those
        hosts (Nova appends to instance_group.hosts and adds a stub
        instance to the host state). A new object; this one is unchanged.
        """
        # copy.copy, without its reduce protocol: the same attributes
        view = object.__new__(type(self))
        view.__dict__.update(self.__dict__)
        view.index = index
        view.instance_uuid = instance_uuid
        view.placed = tuple(placed)
        if not placed:
            return view
        view.instance_hosts = {**self.instance_hosts, **dict(placed)}
        if self.group is not None:
            view.group_members = self.group_members | {u for u, _ in placed}
            view.group_hosts = list(dict.fromkeys(
                [*self.group_hosts, *(host for _, host in placed)]))
        return view

    def members_per_host(self):
        """Counter {host: group members on it}, this request's included."""
        counts = collections.Counter()
        for uuid in self.group_members:
            host = self.instance_hosts.get(uuid)
            if host is not None:
                counts[host] += 1
        return counts

    def hosts_of(self, uuids):
        """Hosts where any of ``uuids`` runs (as far as is known)."""
        return {self.instance_hosts[u] for u in uuids
                if self.instance_hosts.get(u) is not None}


def _constraints(flavor, image, max_vcpus):
    if max_vcpus is None:
        return hw_numa.get_constraints(flavor, image)
    return hw_numa.get_constraints(flavor, image, max_vcpus=max_vcpus,
                                   where="the largest node")
