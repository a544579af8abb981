"""NUMA topology of hosts and of instances.

The host side (NUMATopology of NUMACells of NUMAPagesTopology) is what a
compute node reports and stores as JSON in ``compute_nodes.numa_topology``;
the instance side (InstanceNUMATopology of InstanceNUMACells) is what a
guest asks for and, once placed, where it was pinned. The fitting math that
matches one against the other lives in ``hoststate.hardware``; these
classes only hold the data and the bookkeeping that keeps it consistent
(pinning a CPU twice is an error here, not a silent overwrite).

Units: memory in MiB, page sizes in KiB, CPUs as host CPU ids.
"""
from oslo_utils import versionutils

from hoststate import exception
from hoststate.conf import limits
from hoststate.objects import base
from hoststate.objects import fields


# --- errors ------------------------------------------------------------------

class CPUPinningUnknown(exception.HoststateError, ValueError):
    msg_fmt = ("Cannot pin CPUs %(requested)s: they are not all dedicated "
               "CPUs of this cell %(available)s")


class CPUPinningInvalid(exception.HoststateError, ValueError):
    msg_fmt = ("Cannot pin CPUs %(requested)s: of the dedicated CPUs only "
               "%(available)s are free")


class CPUUnpinningUnknown(exception.HoststateError, ValueError):
    msg_fmt = ("Cannot unpin CPUs %(requested)s: they are not all dedicated "
               "CPUs of this cell %(available)s")


class CPUUnpinningInvalid(exception.HoststateError, ValueError):
    msg_fmt = ("Cannot unpin CPUs %(requested)s: only %(pinned)s are "
               "pinned")


class MemoryPageSizeNotSupported(exception.HoststateError, ValueError):
    msg_fmt = "NUMA cell %(cell)s has no pages of %(pagesize)s KiB"


#: The largest CPU id (host or guest) a topology may name.
_CPU_ID_MAX = limits.MAX_CPU_IDS - 1
#: Page counts: 4 KiB pages of a multi-TiB cell exceed 2**31.
_PAGES_MAX = limits.INT64_MAX


def _vtuple(version):
    return versionutils.convert_version_to_tuple(version)


# --- host side ---------------------------------------------------------------

# Version 1.0: size_kb, total, used
# Version 1.1: added reserved (pages kept for the host). Older readers
#              compute free as total - used, so the backport counts reserved
#              pages as used: the free count they see stays right.
@base.HoststateObjectRegistry.register
class NUMAPagesTopology(fields.DefaultsOnInit, base.HoststateObject):
    """The pages of one size in one NUMA cell."""

    VERSION = "1.1"
    FIELDS_ADDED = {"reserved": "1.1"}

    fields = {
        "size_kb": fields.NonNegativeIntegerField(),
        "total": fields.NonNegativeIntegerField(high=_PAGES_MAX),
        "used": fields.NonNegativeIntegerField(high=_PAGES_MAX, default=0),
        "reserved": fields.NonNegativeIntegerField(high=_PAGES_MAX,
                                                   default=0),
    }

    def obj_make_compatible(self, primitive, target_version):
        reserved = primitive.get("reserved", 0)
        super().obj_make_compatible(primitive, target_version)
        if _vtuple(target_version) < (1, 1) and "used" in primitive:
            primitive["used"] += reserved

    @property
    def free(self):
        """Pages neither used by guests nor reserved for the host."""
        return self.total - self.used - self.reserved

    @property
    def free_kb(self):
        return self.free * self.size_kb

    @property
    def total_kb(self):
        return self.total * self.size_kb


# Version 1.0: id, cpuset, memory, cpu_usage, memory_usage, pinned_cpus,
#              siblings, mempages (NUMAPagesTopology 1.0)
# Version 1.1: added pcpuset (dedicated CPUs; cpuset keeps the shared ones).
#              A 1.0 reader knows one set of CPUs, so the backport folds
#              pcpuset into cpuset and counts pinned CPUs in cpu_usage.
# Version 1.2: mempages hold NUMAPagesTopology 1.1 (reserved pages)
# Version 1.3: added socket
@base.HoststateObjectRegistry.register
class NUMACell(fields.RelationshipBackport, fields.DefaultsOnInit,
               base.HoststateObject):
    """One NUMA cell of a host: its CPUs, memory and pages, and their use.

    ``cpuset`` holds the CPUs floating guests share (``cpu_usage`` counts
    their use), ``pcpuset`` the CPUs dedicated guests are pinned to
    (``pinned_cpus`` says which are taken).
    """

    VERSION = "1.3"
    FIELDS_ADDED = {"pcpuset": "1.1", "socket": "1.3"}
    obj_relationships = {"mempages": [("1.0", "1.0"), ("1.2", "1.1")]}

    fields = {
        "id": fields.NonNegativeIntegerField(),
        "cpuset": fields.SetOfNonNegativeIntegersField(
            high=_CPU_ID_MAX),
        "pcpuset": fields.SetOfNonNegativeIntegersField(
            high=_CPU_ID_MAX, default=set()),
        "memory": fields.NonNegativeIntegerField(),
        "cpu_usage": fields.NonNegativeIntegerField(default=0),
        "memory_usage": fields.NonNegativeIntegerField(default=0),
        "pinned_cpus": fields.SetOfNonNegativeIntegersField(
            high=_CPU_ID_MAX, default=set()),
        "siblings": fields.ListOfSetsOfNonNegativeIntegersField(
            high=_CPU_ID_MAX, default=[]),
        "mempages": fields.ListOfObjectsField("NUMAPagesTopology",
                                              default=[]),
        "socket": fields.NonNegativeIntegerField(nullable=True, default=None),
    }

    def obj_make_compatible(self, primitive, target_version):
        pcpus = set(primitive.get("pcpuset", ()))
        pinned = len(primitive.get("pinned_cpus", ()))
        super().obj_make_compatible(primitive, target_version)
        if _vtuple(target_version) < (1, 1) and "cpuset" in primitive:
            primitive["cpuset"] = tuple(sorted(set(primitive["cpuset"]) |
                                               pcpus))
            if "cpu_usage" in primitive:
                primitive["cpu_usage"] += pinned

    # -- capacity --

    @property
    def free_pcpus(self):
        """Dedicated CPUs nobody is pinned to."""
        return self.pcpuset - self.pinned_cpus

    @property
    def avail_pcpus(self):
        return len(self.free_pcpus)

    @property
    def avail_cpus(self):
        """Shared CPUs minus their use (negative when overcommitted)."""
        return len(self.cpuset) - self.cpu_usage

    @property
    def avail_memory(self):
        """MiB not used by guests (negative when overcommitted)."""
        return self.memory - self.memory_usage

    @property
    def has_threads(self):
        """Whether any core of this cell has more than one thread."""
        return any(len(sibling) > 1 for sibling in self.siblings)

    @property
    def free_siblings(self):
        """Per core, its threads that are dedicated and free."""
        free = self.free_pcpus
        return [sibling & free for sibling in self.siblings]

    def can_fit_pagesize(self, pagesize_kb, memory_kb, use_free=True):
        """Whether ``memory_kb`` fits in whole pages of ``pagesize_kb``.

        With ``use_free`` false, counts every page of that size (for "could
        this ever fit here"), not only the free ones.
        """
        for pages in self.mempages:
            if pages.size_kb == pagesize_kb:
                room = pages.free_kb if use_free else pages.total_kb
                return memory_kb <= room and memory_kb % pagesize_kb == 0
        raise MemoryPageSizeNotSupported(cell=self.id, pagesize=pagesize_kb)

    # -- pinning --

    def pin_cpus(self, cpus):
        """Mark ``cpus`` pinned; all must be dedicated and free."""
        cpus = set(cpus)
        if not cpus <= self.pcpuset:
            raise CPUPinningUnknown(requested=sorted(cpus),
                                    available=sorted(self.pcpuset))
        if cpus & self.pinned_cpus:
            raise CPUPinningInvalid(requested=sorted(cpus),
                                    available=sorted(self.free_pcpus))
        self.pinned_cpus = self.pinned_cpus | cpus

    def unpin_cpus(self, cpus):
        """Release ``cpus``; all must be dedicated and pinned."""
        cpus = set(cpus)
        if not cpus <= self.pcpuset:
            raise CPUUnpinningUnknown(requested=sorted(cpus),
                                      available=sorted(self.pcpuset))
        if not cpus <= self.pinned_cpus:
            raise CPUUnpinningInvalid(requested=sorted(cpus),
                                      pinned=sorted(self.pinned_cpus))
        self.pinned_cpus = self.pinned_cpus - cpus

    def _with_siblings(self, cpus):
        whole = set(cpus)
        for sibling in self.siblings:
            if sibling & whole:
                whole |= sibling
        return whole

    def pin_cpus_with_siblings(self, cpus):
        """Pin ``cpus`` and every thread of their cores (``isolate``)."""
        self.pin_cpus(self._with_siblings(cpus))

    def unpin_cpus_with_siblings(self, cpus):
        self.unpin_cpus(self._with_siblings(cpus))


# Version 1.0: cells (NUMACell 1.0)
# Version 1.1: cells hold NUMACell 1.1 (pcpuset)
# Version 1.2: cells hold NUMACell 1.2 (reserved pages)
# Version 1.3: cells hold NUMACell 1.3 (socket)
@base.HoststateObjectRegistry.register
class NUMATopology(fields.RelationshipBackport, fields.DefaultsOnInit,
                   base.HoststateObject):
    """A host's NUMA cells; stored as JSON in compute_nodes.numa_topology.

    Bumped with every NUMACell bump, so the version alone tells an old
    reader's cell version (see fields.RelationshipBackport).
    """

    VERSION = "1.3"
    obj_relationships = {"cells": [("1.0", "1.0"), ("1.1", "1.1"),
                                   ("1.2", "1.2"), ("1.3", "1.3")]}

    fields = {
        "cells": fields.ListOfObjectsField("NUMACell", default=[]),
    }

    @property
    def has_threads(self):
        return any(cell.has_threads for cell in self.cells)

    def cell(self, cell_id):
        """The cell with id ``cell_id``; LookupError if there is none."""
        for candidate in self.cells:
            if candidate.id == cell_id:
                return candidate
        raise LookupError("no NUMA cell %s" % cell_id)

    def to_json(self, target_version=None, version_manifest=None):
        """The JSON text stored in compute_nodes.numa_topology."""
        return fields.dump_json(self, target_version, version_manifest)

    @classmethod
    def from_json(cls, text):
        return fields.load_json(cls, text)


# Version 1.0: cpu_allocation_ratio, ram_allocation_ratio
@base.HoststateObjectRegistry.register
class NUMATopologyLimits(base.HoststateObject):
    """How far a host's NUMA cells may be overcommitted."""

    VERSION = "1.0"

    fields = {
        "cpu_allocation_ratio": fields.NonNegativeFloatField(
            high=limits.MAX_ALLOCATION_RATIO),
        "ram_allocation_ratio": fields.NonNegativeFloatField(
            high=limits.MAX_ALLOCATION_RATIO),
    }


# --- instance side -----------------------------------------------------------

# Version 1.0: id, cpuset, pcpuset, memory, pagesize, cpu_pinning,
#              cpu_thread_policy, cpu_policy, cpuset_reserved
@base.HoststateObjectRegistry.register
class InstanceNUMACell(fields.DefaultsOnInit, base.HoststateObject):
    """One guest NUMA cell: guest CPUs and MiB, and once placed, its pinning.

    ``cpuset`` are the guest CPUs that float, ``pcpuset`` those to pin;
    ``cpu_pinning`` maps each of the latter to the host CPU it got, and
    ``cpuset_reserved`` holds host CPUs kept for isolated emulator threads.
    ``id`` is the host cell the guest cell was placed on, once placed.
    """

    VERSION = "1.0"

    fields = {
        "id": fields.NonNegativeIntegerField(),
        "cpuset": fields.SetOfNonNegativeIntegersField(
            high=_CPU_ID_MAX, default=set()),
        "pcpuset": fields.SetOfNonNegativeIntegersField(
            high=_CPU_ID_MAX, default=set()),
        "memory": fields.NonNegativeIntegerField(),
        "pagesize": fields.NonNegativeIntegerField(nullable=True,
                                                   default=None),
        "cpu_pinning": fields.CPUPinningField(high=_CPU_ID_MAX, nullable=True,
                                              default=None),
        "cpu_thread_policy": fields.CPUThreadAllocationPolicyField(
            nullable=True, default=None),
        "cpu_policy": fields.CPUAllocationPolicyField(nullable=True,
                                                      default=None),
        "cpuset_reserved": fields.SetOfNonNegativeIntegersField(
            high=_CPU_ID_MAX, nullable=True, default=None),
    }

    @property
    def total_cpus(self):
        return len(self.cpuset) + len(self.pcpuset)

    @property
    def cpu_pinning_requested(self):
        return self.cpu_policy in (fields.CPUAllocationPolicy.DEDICATED,
                                   fields.CPUAllocationPolicy.MIXED)


# Version 1.0: instance_uuid, cells, emulator_threads_policy
@base.HoststateObjectRegistry.register
class InstanceNUMATopology(fields.DefaultsOnInit, base.HoststateObject):
    """A guest's NUMA cells; travels in RequestSpec and instance records."""

    VERSION = "1.0"

    fields = {
        "instance_uuid": fields.UUIDField(nullable=True, default=None),
        "cells": fields.ListOfObjectsField("InstanceNUMACell", default=[]),
        "emulator_threads_policy": fields.CPUEmulatorThreadsPolicyField(
            nullable=True, default=None),
    }

    @property
    def cpu_pinning_requested(self):
        """Whether the guest wants pinned CPUs (every cell asks for them)."""
        return bool(self.cells) and all(
            cell.cpu_pinning_requested for cell in self.cells)

    @property
    def cpu_pinning(self):
        """The host CPUs this guest is pinned to, over all cells."""
        return {host_cpu for cell in self.cells
                for host_cpu in (cell.cpu_pinning or {}).values()}

    @property
    def cpuset_reserved(self):
        """Host CPUs reserved for the emulator threads, over all cells."""
        return {cpu for cell in self.cells
                for cpu in (cell.cpuset_reserved or ())}

    @property
    def emulator_threads_isolated(self):
        return (self.emulator_threads_policy ==
                fields.CPUEmulatorThreadsPolicy.ISOLATE)

    def to_json(self, target_version=None, version_manifest=None):
        return fields.dump_json(self, target_version, version_manifest)

    @classmethod
    def from_json(cls, text):
        return fields.load_json(cls, text)
