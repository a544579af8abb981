"""A guest's NUMA request, read from its flavor and image.

:func:`get_constraints` turns flavor extra specs (``hw:...``) and image
properties (``hw_...``) into an unplaced InstanceNUMATopology, as Nova's
``numa_get_constraints`` does, or None when the guest asks for nothing NUMA
related. Every inconsistent request raises :class:`InvalidNUMARequest`
naming the key and value at fault.

Which side wins when flavor and image both speak (Nova's rules):

* ``cpu_policy``: a ``dedicated`` flavor wins over anything the image says;
  a ``mixed`` flavor refuses a ``dedicated`` image; a ``shared`` flavor
  refuses a ``dedicated`` or ``mixed`` image; an unset flavor takes the
  image's value.
* ``cpu_thread_policy``: an unset or ``prefer`` flavor takes the flavor's
  value, else the image's (a ``prefer`` flavor is not overridden); an
  ``isolate`` or ``require`` flavor refuses a different image value.
* ``mem_page_size``: the image may only speak when the flavor says
  ``large`` or ``any``, and then the image's value wins.
* ``numa_nodes``, ``numa_cpus.N`` and ``numa_mem.N``: Nova refuses the image
  setting them at all when the flavor does; hoststate refuses only when the
  two *disagree* (the same value twice is no conflict).

Page size requests are parsed by numa_pages.parse_page_size: ``small``,
``large`` and ``any`` become sentinels there, sizes become KiB.
"""
import re

from hoststate import exception
from hoststate.hardware import placement_specs
from hoststate.hardware.numa_errors import InvalidNUMARequest
from hoststate.hardware.numa_errors import NUMARequestTooLarge
from hoststate.hardware.numa_pages import (PAGESIZE_ANY, PAGESIZE_LARGE,
                                           parse_page_size)
from hoststate.objects import fields
from hoststate.objects import image_meta as image_meta_obj
from hoststate.objects import numa as numa_obj

_DEDICATED = fields.CPUAllocationPolicy.DEDICATED
_SHARED = fields.CPUAllocationPolicy.SHARED
_MIXED = fields.CPUAllocationPolicy.MIXED
_PREFER = fields.CPUThreadAllocationPolicy.PREFER
_ISOLATE = fields.CPUEmulatorThreadsPolicy.ISOLATE


# --- reading one setting from flavor and image -------------------------------

def _image_props(image_meta):
    """ImageMetaProps from an ImageMeta, ImageMetaProps, dict or None."""
    if image_meta is None:
        return image_meta_obj.ImageMetaProps()
    if isinstance(image_meta, image_meta_obj.ImageMetaProps):
        return image_meta
    if isinstance(image_meta, image_meta_obj.ImageMeta):
        return image_meta.obj_get("properties") or \
            image_meta_obj.ImageMetaProps()
    if isinstance(image_meta, dict):
        return image_meta_obj.ImageMetaProps.from_dict(image_meta)
    raise exception.InvalidArgument(
        name="image_meta", value=image_meta,
        reason="must be an ImageMeta, its ImageMetaProps or a dict of "
               "image properties, not %s" % type(image_meta).__name__)


def _flavor_enum(specs, key, enum):
    raw = specs.get(key)
    if raw is None or str(raw).strip() == "":
        return None
    try:
        return enum.canonicalize(raw)
    except ValueError:
        raise InvalidNUMARequest(
            key=key, value=raw,
            reason="must be one of %s" % ", ".join(enum.ALL)) from None


def _cpu_policy(specs, props):
    flavor = _flavor_enum(specs, "hw:cpu_policy", fields.CPUAllocationPolicy)
    image = props.obj_get("hw_cpu_policy")
    if flavor == _DEDICATED:
        return flavor
    if flavor == _MIXED and image == _DEDICATED:
        raise InvalidNUMARequest(
            key="hw_cpu_policy", value=image,
            reason="the flavor's hw:cpu_policy=mixed forbids the image "
                   "asking for dedicated CPUs")
    if flavor == _SHARED and image in (_DEDICATED, _MIXED):
        raise InvalidNUMARequest(
            key="hw_cpu_policy", value=image,
            reason="the flavor's hw:cpu_policy=shared forbids the image "
                   "asking for pinned CPUs")
    return flavor or image


def _thread_policy(specs, props):
    flavor = _flavor_enum(specs, "hw:cpu_thread_policy",
                          fields.CPUThreadAllocationPolicy)
    image = props.obj_get("hw_cpu_thread_policy")
    if flavor in (None, _PREFER):
        return flavor or image
    if image is not None and image != flavor:
        raise InvalidNUMARequest(
            key="hw_cpu_thread_policy", value=image,
            reason="the flavor's hw:cpu_thread_policy=%s forbids another "
                   "thread policy" % flavor)
    return flavor


def _emulator_policy(specs, props):
    flavor = _flavor_enum(specs, "hw:emulator_threads_policy",
                          fields.CPUEmulatorThreadsPolicy)
    image = props.obj_get("hw_emulator_threads_policy")
    if flavor is not None and image is not None and flavor != image:
        raise InvalidNUMARequest(
            key="hw_emulator_threads_policy", value=image,
            reason="the flavor's hw:emulator_threads_policy is %s" % flavor)
    return flavor or image


def _page_size(specs, props):
    raw_flavor = specs.get("hw:mem_page_size")
    raw_image = props.obj_get("hw_mem_page_size")
    flavor = (parse_page_size(raw_flavor) if raw_flavor not in (None, "")
              else None)
    image = (parse_page_size(raw_image, "hw_mem_page_size")
             if raw_image not in (None, "") else None)
    if image is None:
        return flavor
    if flavor is None:
        raise InvalidNUMARequest(
            key="hw_mem_page_size", value=raw_image,
            reason="the flavor sets no hw:mem_page_size, so the image may "
                   "not choose one")
    if flavor in (PAGESIZE_LARGE, PAGESIZE_ANY) or flavor == image:
        return image
    raise InvalidNUMARequest(
        key="hw_mem_page_size", value=raw_image,
        reason="the flavor's hw:mem_page_size=%s may only be refined by "
               "the image when it is large or any" % raw_flavor)


def _node_count(specs, props, vcpus):
    raw = specs.get("hw:numa_nodes")
    flavor = None
    if raw is not None and str(raw).strip() != "":
        try:
            flavor = int(str(raw).strip())
        except ValueError:
            flavor = 0
        if flavor < 1:
            raise InvalidNUMARequest(key="hw:numa_nodes", value=raw,
                                     reason="must be a whole number >= 1")
    image = props.obj_get("hw_numa_nodes")
    if flavor is not None and image is not None and flavor != image:
        raise InvalidNUMARequest(
            key="hw_numa_nodes", value=image,
            reason="the flavor's hw:numa_nodes is %d" % flavor)
    nodes = flavor or image
    if nodes is not None and nodes > vcpus:
        raise InvalidNUMARequest(
            key="hw:numa_nodes" if flavor else "hw_numa_nodes", value=nodes,
            reason="more NUMA cells than the flavor's %d vCPUs" % vcpus)
    return nodes


_PER_CELL_RE = re.compile(r"hw:numa_(cpus|mem)\.(\d+)")


def _flavor_per_cell(specs, vcpus):
    """([cpu sets], [MiB]) from hw:numa_cpus.N / hw:numa_mem.N, or None."""
    found = {"cpus": {}, "mem": {}}
    for key, value in specs.items():
        match = _PER_CELL_RE.fullmatch(key)
        if match:
            found[match.group(1)][int(match.group(2))] = (key, value)
    if not found["cpus"] and not found["mem"]:
        return None
    for kind, other in (("cpus", "mem"), ("mem", "cpus")):
        for index in sorted(found[kind]):
            if index not in found[other]:
                key, value = found[kind][index]
                raise InvalidNUMARequest(
                    key=key, value=value,
                    reason="hw:numa_%s.%d is missing" % (other, index))
    indexes = sorted(found["cpus"])
    for expected, index in enumerate(indexes):
        if index != expected:
            key, value = found["cpus"][index]
            raise InvalidNUMARequest(
                key=key, value=value,
                reason="hw:numa_cpus.%d is missing: cells are numbered "
                       "from 0 without gaps" % expected)
    cpus, mems = [], []
    for index in indexes:
        key, value = found["cpus"][index]
        try:
            cpus.append(image_meta_obj.parse_cpu_spec(value, limit=vcpus))
        except ValueError as exc:
            raise InvalidNUMARequest(key=key, value=value,
                                     reason=str(exc)) from None
        key, value = found["mem"][index]
        try:
            mem = int(str(value).strip())
        except ValueError:
            mem = -1
        if mem < 0:
            raise InvalidNUMARequest(key=key, value=value,
                                     reason="must be a whole number of MiB")
        mems.append(mem)
    return cpus, mems


def _per_cell(specs, props, vcpus):
    """(cpus, mems, flavor?) of an explicit per-cell layout, or None."""
    flavor = _flavor_per_cell(specs, vcpus)
    image_cpus = props.obj_get("hw_numa_cpus")
    image_mems = props.obj_get("hw_numa_mem")
    image = None
    if image_cpus is not None or image_mems is not None:
        if image_cpus is None or image_mems is None or \
                len(image_cpus) != len(image_mems):
            key = "hw_numa_cpus" if image_cpus is not None else "hw_numa_mem"
            raise InvalidNUMARequest(
                key=key, value=props.obj_get(key),
                reason="hw_numa_cpus.N and hw_numa_mem.N must be given for "
                       "the same cells")
        image = ([set(c) for c in image_cpus], list(image_mems))
    if flavor is not None and image is not None and flavor != image:
        raise InvalidNUMARequest(
            key="hw_numa_cpus", value=image_cpus,
            reason="the flavor gives another per-cell layout "
                   "(hw:numa_cpus.N / hw:numa_mem.N)")
    if flavor is not None:
        return flavor + (True,)
    if image is not None:
        return image + (False,)
    return None


def _dedicated_cpus(specs, vcpus, cpu_policy):
    """The guest CPUs to pin: all for dedicated, the mask for mixed."""
    raw = specs.get("hw:cpu_dedicated_mask")
    if cpu_policy != _MIXED:
        if raw:
            raise InvalidNUMARequest(
                key="hw:cpu_dedicated_mask", value=raw,
                reason="only hw:cpu_policy=mixed takes a dedicated mask")
        return set(range(vcpus)) if cpu_policy == _DEDICATED else set()
    if not raw:
        raise InvalidNUMARequest(
            key="hw:cpu_policy", value=cpu_policy,
            reason="mixed needs hw:cpu_dedicated_mask to say which vCPUs "
                   "are dedicated")
    spec = str(raw).strip()
    if spec.startswith("^"):
        spec = "0-%d,%s" % (vcpus - 1, spec)
    try:
        dedicated = image_meta_obj.parse_cpu_spec(spec, limit=vcpus)
    except ValueError as exc:
        raise InvalidNUMARequest(key="hw:cpu_dedicated_mask", value=raw,
                                 reason=str(exc)) from None
    if not dedicated or len(dedicated) == vcpus:
        raise InvalidNUMARequest(
            key="hw:cpu_dedicated_mask", value=raw,
            reason="mixed needs at least one dedicated and one shared vCPU")
    return dedicated


# --- building the cells ------------------------------------------------------

def _auto_cells(nodes, vcpus, memory, nodes_key):
    if vcpus % nodes or memory % nodes:
        raise InvalidNUMARequest(
            key=nodes_key, value=nodes,
            reason="%d vCPUs and %d MiB do not split evenly over %d cells; "
                   "give hw:numa_cpus.N and hw:numa_mem.N"
                   % (vcpus, memory, nodes))
    per_cpus, per_mem = vcpus // nodes, memory // nodes
    return [(set(range(n * per_cpus, (n + 1) * per_cpus)), per_mem)
            for n in range(nodes)]


def _manual_cells(nodes, vcpus, memory, cpus, mems, from_flavor, nodes_key):
    cpus_key = "hw:numa_cpus.%d" if from_flavor else "hw_numa_cpus.%d"
    mem_key = "hw:numa_mem.%d" if from_flavor else "hw_numa_mem.%d"
    if len(cpus) != nodes:
        raise InvalidNUMARequest(
            key=nodes_key, value=nodes,
            reason="%s are given for %d cells"
                   % (cpus_key.replace("%d", "N"), len(cpus)))
    seen = {}
    for index, cell_cpus in enumerate(cpus):
        key = cpus_key % index
        if not cell_cpus:
            raise InvalidNUMARequest(key=key, value=sorted(cell_cpus),
                                     reason="every cell needs a vCPU")
        for cpu in sorted(cell_cpus):
            if cpu >= vcpus:
                raise InvalidNUMARequest(
                    key=key, value=sorted(cell_cpus),
                    reason="vCPU %d does not exist: the flavor has %d "
                           "vCPUs (0-%d)" % (cpu, vcpus, vcpus - 1))
            if cpu in seen:
                raise InvalidNUMARequest(
                    key=key, value=sorted(cell_cpus),
                    reason="vCPU %d is already in cell %d"
                           % (cpu, seen[cpu]))
            seen[cpu] = index
    missing = set(range(vcpus)) - set(seen)
    if missing:
        raise InvalidNUMARequest(
            key=cpus_key.replace("%d", "N"), value=[sorted(c) for c in cpus],
            reason="vCPUs %s are in no cell" % sorted(missing))
    if sum(mems) != memory:
        raise InvalidNUMARequest(
            key=mem_key.replace("%d", "N"), value=mems,
            reason="the cells total %d MiB but the flavor has %d MiB"
                   % (sum(mems), memory))
    return list(zip((set(c) for c in cpus), mems))


#: The most vCPUs a NUMA guest may have when the caller names no host
#: bound (the same ceiling as a CPU spec's ids).
MAX_GUEST_VCPUS = image_meta_obj.MAX_CPU_IDS


def get_constraints(flavor, image_meta=None, max_vcpus=MAX_GUEST_VCPUS,
                    where="the largest host"):
    """The unplaced InstanceNUMATopology ``flavor`` and ``image_meta`` ask
    for, or None when they ask for no NUMA placement.

    A topology is built when ``hw:numa_nodes`` (or ``hw_numa_nodes``) is
    set, and also, with one cell, when CPUs are to be pinned
    (``hw:cpu_policy`` dedicated or mixed) or a page size is requested.
    Cells split the flavor's vCPUs and MiB evenly unless per-cell
    ``hw:numa_cpus.N`` / ``hw:numa_mem.N`` give them. Each cell's guest CPUs
    are split into ``cpuset`` (floating) and ``pcpuset`` (to pin) by the
    CPU policy; every cell carries the page size request (see
    :func:`parse_page_size`), CPU policy and thread policy; the topology
    carries the emulator threads policy. ``image_meta`` may be an
    ImageMeta, its ImageMetaProps or a Glance property dict.

    The work is bounded by the hosts, not by the flavor: a guest asking
    for a topology with more than ``max_vcpus`` vCPUs (the CPUs of the
    largest host it could go to, named ``where`` in the error) raises
    NUMARequestTooLarge before any CPU set is built; a guest asking for
    none costs the same whatever its size.
    """
    specs = dict(flavor.extra_specs or {})
    props = _image_props(image_meta)
    vcpus, memory = flavor.vcpus, flavor.memory_mb

    emulator_policy = _emulator_policy(specs, props)
    cpu_policy = placement_specs.cpu_policy(
        specs, _cpu_policy(specs, props), vcpus, emulator_policy)
    thread_policy = placement_specs.thread_policy(specs, props,
                                    _thread_policy(specs, props))
    pagesize = _page_size(specs, props)
    pinned = cpu_policy in (_DEDICATED, _MIXED)
    if not pinned:
        if thread_policy is not None:
            raise InvalidNUMARequest(
                key="hw:cpu_thread_policy", value=thread_policy,
                reason="a thread policy needs hw:cpu_policy dedicated or "
                       "mixed")
        if emulator_policy == _ISOLATE:
            raise InvalidNUMARequest(
                key="hw:emulator_threads_policy", value=emulator_policy,
                reason="isolated emulator threads need hw:cpu_policy "
                       "dedicated or mixed")
    nodes = _node_count(specs, props, vcpus)
    if nodes is None and pagesize is None and not pinned and \
            not _asks_per_cell(specs, props):
        return None
    if vcpus > max_vcpus:
        raise NUMARequestTooLarge(vcpus=vcpus, limit=max_vcpus, where=where)
    dedicated = _dedicated_cpus(specs, vcpus, cpu_policy)

    nodes_key = "hw:numa_nodes" if specs.get("hw:numa_nodes") else \
        "hw_numa_nodes"
    per_cell = _per_cell(specs, props, vcpus)
    if nodes is None:
        if per_cell is not None:
            key = "hw:numa_cpus.0" if per_cell[2] else "hw_numa_cpus.0"
            raise InvalidNUMARequest(
                key=key, value=sorted(per_cell[0][0]),
                reason="per-cell CPUs and memory need hw:numa_nodes")
        nodes = 1               # pinning or pages imply one cell
        if vcpus < 1:
            raise InvalidNUMARequest(
                key="hw:cpu_policy" if pinned else "hw:mem_page_size",
                value=cpu_policy if pinned else pagesize,
                reason="the flavor has no vCPUs to place")

    if per_cell is None:
        layout = _auto_cells(nodes, vcpus, memory, nodes_key)
    else:
        layout = _manual_cells(nodes, vcpus, memory, per_cell[0],
                               per_cell[1], per_cell[2], nodes_key)

    cells = [numa_obj.InstanceNUMACell(
        id=index, cpuset=cell_cpus - dedicated,
        pcpuset=cell_cpus & dedicated, memory=cell_mem, pagesize=pagesize,
        cpu_policy=cpu_policy, cpu_thread_policy=thread_policy)
        for index, (cell_cpus, cell_mem) in enumerate(layout)]
    return numa_obj.InstanceNUMATopology(
        cells=cells, emulator_threads_policy=emulator_policy)


def _asks_per_cell(specs, props):
    """Whether flavor or image give per-cell CPUs or memory (an error
    without hw:numa_nodes, which the full parse reports)."""
    return any(_PER_CELL_RE.fullmatch(key) for key in specs) or \
        props.obj_get("hw_numa_cpus") is not None or \
        props.obj_get("hw_numa_mem") is not None
