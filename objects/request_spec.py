"""RequestSpec: everything the scheduler is told about one boot request.

Filters and weighers read only this object (and host state), so it carries
the flavor, the image, the instance's NUMA and PCI wishes, the user's
hints and the operator's overrides (forced or ignored hosts, a requested
destination), plus what the scheduler adds on the way (retries, limits).

``instance_group`` and ``Destination.cell`` name their classes
(``InstanceGroup``, ``CellMapping``) by string: those are defined in other
modules, and ovo resolves the name only when a value is assigned, so this
module does not import them. Until they are registered, only None can be
assigned, and version manifests built here leave them out.
"""
from oslo_versionedobjects import fields as ovo_fields

from hoststate.conf import limits
from hoststate.objects import base
from hoststate.objects import bounded
from hoststate.objects import fields
from hoststate.objects import flavor as flavor_obj  # noqa: F401 (registers)
from hoststate.objects import image_meta
from hoststate.objects import numa  # noqa: F401 (registers)
from hoststate.objects import pci  # noqa: F401 (registers)


def _registered_tree_versions(objname, tree=None):
    """Like ovo's obj_tree_get_versions, but skips unregistered classes.

    A child class nobody registered cannot have a value here (coercion
    needs an instance of it), so leaving it out of the manifest loses
    nothing, where ovo's walk would fail with a KeyError.
    """
    tree = {} if tree is None else tree
    classes = base.HoststateObjectRegistry.hoststate_classes
    if objname in tree or not classes.get(objname):
        return tree
    cls = base.HoststateObjectRegistry.newest(objname)
    tree[objname] = cls.VERSION
    for field in cls.fields.values():
        if isinstance(field, (ovo_fields.ObjectField,
                              ovo_fields.ListOfObjectsField)):
            _registered_tree_versions(field.objname, tree)
    return tree


def _as_list(names):
    """``names`` as a new list; one name (a string) is a list of one.

    Anything but None, a string, a list or a tuple is left as it is, for
    the field to refuse with a typed error (a generator could be endless).
    """
    if names is None:
        return []
    if isinstance(names, str):
        return [names]
    if isinstance(names, (list, tuple)):
        return list(names)
    return names


def _as_hints(hints):
    """Scheduler hints as the field stores them: each value a list.

    The API takes a hint as a string or a list of strings; one string
    becomes a list of one. What is not a dict, or a value that is neither,
    is left for the field to refuse with a typed error.
    """
    if hints is None:
        return {}
    if not isinstance(hints, dict):
        return hints
    return {name: list(value) if isinstance(value, (list, tuple))
            else [value] for name, value in hints.items()}


class _LazyChildren:
    """Target-only backports with a manifest of the registered classes."""

    def obj_to_primitive(self, target_version=None, version_manifest=None):
        if target_version is not None and version_manifest is None:
            version_manifest = _registered_tree_versions(self.obj_name())
        return super().obj_to_primitive(target_version, version_manifest)


# Version 1.0: numa_topology, vcpu, memory_mb, disk_gb
@base.HoststateObjectRegistry.register
class SchedulerLimits(fields.DefaultsOnInit, base.HoststateObject):
    """How far the chosen host may be filled, as filters worked it out.

    A claim on the host enforces the same numbers. None means no limit.
    """

    VERSION = "1.0"

    fields = {
        "numa_topology": fields.ObjectField("NUMATopologyLimits",
                                            nullable=True, default=None),
        # capacity * allocation ratio: beyond 32 bits, within 64
        "vcpu": fields.NonNegativeIntegerField(
            high=limits.INT64_MAX, nullable=True, default=None),
        "memory_mb": fields.NonNegativeIntegerField(
            high=limits.INT64_MAX, nullable=True, default=None),
        "disk_gb": fields.NonNegativeIntegerField(
            high=limits.INT64_MAX, nullable=True, default=None),
    }

    @classmethod
    def from_dict(cls, limits):
        """Limits from a dict of the fields' names (others are an error)."""
        obj = cls()
        obj.update(limits)
        return obj

    def to_dict(self):
        """The limits that are set, by name; ``numa_topology`` stays an
        object."""
        return {name: getattr(self, name) for name in self.fields
                if getattr(self, name) is not None}


# Version 1.0: num_attempts, hosts
@base.HoststateObjectRegistry.register
class SchedulerRetries(fields.DefaultsOnInit, base.HoststateObject):
    """The attempts made for a request, so a retry avoids the same nodes."""

    VERSION = "1.0"

    fields = {
        "num_attempts": fields.NonNegativeIntegerField(default=0),
        # [host, nodename] pairs, in the order they were tried
        "hosts": fields.ListOfListsOfStringsField(default=[]),
    }

    def record_attempt(self, host, node):
        """Count one more attempt, made on ``node`` of ``host``."""
        self.num_attempts += 1
        self.hosts = self.hosts + [[host, node]]


# Version 1.0: host, node, cell, aggregates
# Version 1.1: allow_cross_cell_move
@base.HoststateObjectRegistry.register
class Destination(_LazyChildren, fields.DefaultsOnInit,
                  base.HoststateObject):
    """Where an operator asked the instance to go (a host, a node, a cell,
    or hosts of given aggregates).

    ``allow_cross_cell_move`` says a move may leave ``cell`` (the cell the
    instance is in, which is then only preferred, not required).
    """

    VERSION = "1.1"
    FIELDS_ADDED = {"allow_cross_cell_move": "1.1"}

    fields = {
        "host": fields.StringField(nullable=True, default=None),
        "node": fields.StringField(nullable=True, default=None),
        "cell": fields.ObjectField("CellMapping", nullable=True,
                                   default=None),
        # Each entry is a comma-separated list of aggregate uuids: a host
        # must be in at least one aggregate of every entry.
        "aggregates": fields.ListOfStringsField(
            length=limits.TEXT_LENGTH, items=limits.MAX_REQUEST_ITEMS,
            nullable=True, default=None),
        "allow_cross_cell_move": fields.BooleanField(default=False),
    }

    def require_aggregates(self, aggregate_uuids):
        """Add "in at least one of ``aggregate_uuids``" to the wishes."""
        entry = ",".join(aggregate_uuids)
        self.aggregates = (self.aggregates or []) + [entry]


_ITEMS = limits.MAX_REQUEST_ITEMS
#: The ``query`` hint is a JSON expression (JsonFilter), longer than a name.
_QUERY_HINT = bounded.List(bounded.String(limits.TEXT_LENGTH), items=_ITEMS)


# Version 1.0: initial
@base.HoststateObjectRegistry.register
class RequestSpec(_LazyChildren, fields.DefaultsOnInit, base.HoststateObject):
    """One scheduling request for ``num_instances`` identical instances.

    ``scheduler_hints`` map a hint name to a list of strings (the API takes
    a value or a list; lists are what is stored); read them with
    :meth:`get_scheduler_hint`. ``force_hosts``/``force_nodes`` restrict
    the candidates to those names, bypassing filters; ``ignore_hosts``
    excludes hosts.

    Bounds (``hoststate.conf.limits``), so that what a request costs the
    scheduler is bounded whatever it carries: ``num_instances`` from 1 to
    MAX_REQUEST_ITEMS (1000); at most 1000 hint names and 1000 hint
    values in all, names of 1 to 255 characters, values of at most 255
    (the ``query`` hint, JSON text, at most 65,535); forced and ignored
    hosts and nodes at most 1000 names of 1 to 255 characters; project,
    user and availability zone at most 255 characters (their columns).
    """

    VERSION = "1.0"

    fields = {
        "instance_uuid": fields.UUIDField(),
        "project_id": fields.StringField(nullable=True, default=None),
        "user_id": fields.StringField(nullable=True, default=None),
        "flavor": fields.ObjectField("Flavor"),
        "image": fields.ObjectField("ImageMeta", nullable=True,
                                    default=None),
        "availability_zone": fields.StringField(nullable=True, default=None),
        "scheduler_hints": fields.DictOfListOfStringsField(
            key=bounded.String(min_length=1), items=_ITEMS, total=_ITEMS,
            value_types={"query": _QUERY_HINT}, default={}),
        "instance_group": fields.ObjectField("InstanceGroup", nullable=True,
                                             default=None),
        "num_instances": fields.PositiveIntegerField(high=_ITEMS, default=1),
        "force_hosts": fields.ListOfStringsField(min_length=1, items=_ITEMS,
                                                 default=[]),
        "force_nodes": fields.ListOfStringsField(min_length=1, items=_ITEMS,
                                                 default=[]),
        "ignore_hosts": fields.ListOfStringsField(min_length=1, items=_ITEMS,
                                                  default=[]),
        "requested_destination": fields.ObjectField(
            "Destination", nullable=True, default=None),
        "numa_topology": fields.ObjectField("InstanceNUMATopology",
                                            nullable=True, default=None),
        "pci_requests": fields.ObjectField("InstancePCIRequests",
                                           nullable=True, default=None),
        "retry": fields.ObjectField("SchedulerRetries", nullable=True,
                                    default=None),
        "limits": fields.ObjectField("SchedulerLimits", nullable=True,
                                     default=None),
    }

    @classmethod
    def from_components(cls, instance_uuid, flavor, image=None,
                        numa_topology=None, pci_requests=None,
                        scheduler_hints=None, instance_group=None,
                        availability_zone=None, project_id=None,
                        user_id=None, num_instances=1, force_hosts=None,
                        force_nodes=None, ignore_hosts=None,
                        requested_destination=None, context=None):
        """A RequestSpec from the pieces a boot request is made of.

        ``image`` may be an ImageMeta or a Glance dict; a hint, forced or
        ignored host given as a single value becomes a one-element list.
        Every value is checked before the spec exists (see the class
        docstring for the bounds): ObjectFieldInvalid names the first
        field that is wrong.
        """
        if isinstance(image, dict):
            image = image_meta.ImageMeta.from_dict(image)
        hints = _as_hints(scheduler_hints)
        spec = cls(context)
        spec.update({
            "instance_uuid": instance_uuid, "flavor": flavor, "image": image,
            "numa_topology": numa_topology, "pci_requests": pci_requests,
            "scheduler_hints": hints, "instance_group": instance_group,
            "availability_zone": availability_zone,
            "project_id": project_id, "user_id": user_id,
            "num_instances": num_instances,
            "force_hosts": _as_list(force_hosts),
            "force_nodes": _as_list(force_nodes),
            "ignore_hosts": _as_list(ignore_hosts),
            "requested_destination": requested_destination,
        })
        return spec

    def get_scheduler_hint(self, name, default=None):
        """The hint ``name``: its only value if it has one, else its list.

        Most hints (``group``, ``build_near_host_ip``) are single values
        that the API stores as one-element lists; this hands them back as
        the value. ``default`` if the hint is absent.
        """
        if name not in self.scheduler_hints:
            return default
        value = self.scheduler_hints[name]
        return value[0] if len(value) == 1 else value

    # The flavor's sizes, which filters read straight off the spec.

    @property
    def vcpus(self):
        return self.flavor.vcpus

    @property
    def memory_mb(self):
        return self.flavor.memory_mb

    @property
    def root_gb(self):
        return self.flavor.root_gb

    @property
    def ephemeral_gb(self):
        return self.flavor.ephemeral_gb

    @property
    def swap(self):
        return self.flavor.swap
