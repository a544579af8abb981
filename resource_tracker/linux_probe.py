"""Read a Linux host's CPUs, memory, NUMA cells, huge pages and PCI devices.

Pure readers of ``/proc`` and ``/sys``. Every function takes ``root`` (the
directory holding ``proc/`` and ``sys/``; ``/`` by default) so tests can
point it at a fake tree. A file that is missing reads as "not known" and the
caller falls back, as on kernels or containers that hide parts of ``/sys``.

Units: memory in KiB as the kernel prints it unless a name says MiB; page
sizes in KiB.
"""
import glob
import json
import os
import platform
import re

from hoststate.objects import fields
from hoststate.objects import numa
from hoststate.objects import traits as traits_mod

CPU_DIR = "sys/devices/system/cpu"
NODE_DIR = "sys/devices/system/node"
HUGEPAGES_DIR = "sys/kernel/mm/hugepages"
PCI_DIR = "sys/bus/pci/devices"

#: What /proc/cpuinfo calls vendors, as libvirt names them in cpu_info.
_VENDORS = {"GenuineIntel": "Intel", "AuthenticAMD": "AMD",
            "HygonGenuine": "Hygon", "CentaurHauls": "VIA"}


def _path(root, *parts):
    return os.path.join(root, *parts)


def _read(path, default=None):
    """The stripped text of ``path``, or ``default`` if it cannot be read."""
    try:
        with open(path) as handle:
            return handle.read().strip()
    except OSError:
        return default


def _read_int(path, default=None):
    text = _read(path)
    try:
        return int(text, 0) if text is not None else default
    except ValueError:
        return default


def parse_cpu_list(text):
    """The CPU ids of a kernel cpulist such as ``"0-3,8,10-11"``."""
    cpus = set()
    for part in (text or "").strip().split(","):
        part = part.strip()
        if not part:
            continue
        if "-" in part:
            first, last = part.split("-", 1)
            cpus.update(range(int(first), int(last) + 1))
        else:
            cpus.add(int(part))
    return cpus


def parse_meminfo(text):
    """``{name: KiB}`` of a /proc/meminfo or node meminfo text.

    Node files prefix each line with ``Node <n>``; that prefix is dropped.
    Values without a unit (page counts) are kept as they are.
    """
    values = {}
    for line in (text or "").splitlines():
        line = re.sub(r"^Node\s+\d+\s+", "", line)
        name, sep, rest = line.partition(":")
        if not sep:
            continue
        words = rest.split()
        if words and words[0].isdigit():
            values[name.strip()] = int(words[0])
    return values


def read_meminfo(root="/"):
    """/proc/meminfo as ``{name: KiB}``."""
    return parse_meminfo(_read(_path(root, "proc", "meminfo"), ""))


# --- CPUs --------------------------------------------------------------------

def online_cpus(root="/"):
    """The online CPU ids (``/sys/devices/system/cpu/online``).

    Falls back to the processors /proc/cpuinfo lists, then to
    ``os.cpu_count()`` CPUs numbered from 0.
    """
    text = _read(_path(root, CPU_DIR, "online"))
    if text is not None:
        return parse_cpu_list(text)
    processors = {int(block["processor"]) for block in read_cpuinfo(root)
                  if block.get("processor", "").isdigit()}
    return processors or set(range(os.cpu_count() or 1))


def cpu_topology(root="/", cpus=None):
    """Per online CPU: ``{cpu: (package, core_id, siblings)}``.

    ``siblings`` are the online threads of the CPU's core (the CPU itself
    when ``thread_siblings_list`` cannot be read). Package and core default
    to 0 and the CPU id.
    """
    cpus = online_cpus(root) if cpus is None else set(cpus)
    result = {}
    for cpu in sorted(cpus):
        topo = _path(root, CPU_DIR, "cpu%d" % cpu, "topology")
        package = _read_int(os.path.join(topo, "physical_package_id"), 0)
        core = _read_int(os.path.join(topo, "core_id"), cpu)
        siblings = parse_cpu_list(
            _read(os.path.join(topo, "thread_siblings_list"), "")) & cpus
        result[cpu] = (package, core, siblings or {cpu})
    return result


def read_cpuinfo(root="/"):
    """/proc/cpuinfo as a list of ``{key: value}``, one per processor."""
    blocks, block = [], {}
    for line in (_read(_path(root, "proc", "cpuinfo"), "") or "").splitlines():
        if not line.strip():
            if block:
                blocks.append(block)
            block = {}
            continue
        key, sep, value = line.partition(":")
        if sep:
            block[key.strip()] = value.strip()
    if block:
        blocks.append(block)
    return blocks


def cpu_info(root="/", machine=None, topology=None):
    """The ``cpu_info`` dict Nova's libvirt driver reports.

    ``{"arch", "model", "vendor", "topology": {"sockets", "cores",
    "threads"}, "features"}``: ``arch`` is ``platform.machine()`` (or
    ``machine``) as an Architecture member when it names one; model,
    vendor and flags come from the first processor of /proc/cpuinfo (None
    and [] when it has none, as on some ARM kernels);
    ``cores`` per socket and ``threads`` per core from ``topology`` (see
    :func:`cpu_topology`).
    """
    topology = cpu_topology(root) if topology is None else topology
    first = (read_cpuinfo(root) or [{}])[0]
    vendor = first.get("vendor_id") or first.get("CPU implementer")
    flags = first.get("flags") or first.get("Features") or ""
    packages = {package for package, _, _ in topology.values()}
    cores = {(package, core) for package, core, _ in topology.values()}
    sockets = max(len(packages), 1)
    machine = machine or platform.machine()
    return {
        "arch": canonical_arch(machine) or machine,
        "model": first.get("model name") or first.get("cpu model"),
        "vendor": _VENDORS.get(vendor, vendor),
        "topology": {
            "sockets": sockets,
            "cores": max(len(cores) // sockets, 1),
            "threads": max((len(s) for _, _, s in topology.values()),
                           default=1),
        },
        "features": sorted(set(flags.split())),
    }


def cpu_info_json(info):
    return json.dumps(info, sort_keys=True)


# --- traits --------------------------------------------------------------------

#: /proc/cpuinfo flags of x86 CPUs and the traits each one gives: the CPU
#: features Nova's libvirt driver turns into traits, spelled as the kernel
#: prints them (``pni`` is SSE3, ``sse4_1`` SSE4.1, ``pclmulqdq`` CLMUL).
X86_FLAG_TRAITS = {
    "3dnow": ("HW_CPU_X86_3DNOW",), "abm": ("HW_CPU_X86_ABM",),
    "aes": ("HW_CPU_X86_AESNI",), "amx_bf16": ("HW_CPU_X86_AMXBF16",),
    "amx_int8": ("HW_CPU_X86_AMXINT8",), "amx_tile": ("HW_CPU_X86_AMXTILE",),
    "avx": ("HW_CPU_X86_AVX",), "avx2": ("HW_CPU_X86_AVX2",),
    "avx512bw": ("HW_CPU_X86_AVX512BW",), "avx512cd": ("HW_CPU_X86_AVX512CD",),
    "avx512dq": ("HW_CPU_X86_AVX512DQ",), "avx512er": ("HW_CPU_X86_AVX512ER",),
    "avx512f": ("HW_CPU_X86_AVX512F",), "avx512pf": ("HW_CPU_X86_AVX512PF",),
    "avx512vl": ("HW_CPU_X86_AVX512VL",),
    "avx512_vnni": ("HW_CPU_X86_AVX512VNNI",),
    "avx512vbmi": ("HW_CPU_X86_AVX512VBMI",),
    "avx512ifma": ("HW_CPU_X86_AVX512IFMA",),
    "avx512_vbmi2": ("HW_CPU_X86_AVX512VBMI2",),
    "avx512_bitalg": ("HW_CPU_X86_AVX512BITALG",),
    "vaes": ("HW_CPU_X86_AVX512VAES",), "gfni": ("HW_CPU_X86_AVX512GFNI",),
    "vpclmulqdq": ("HW_CPU_X86_AVX512VPCLMULQDQ",),
    "avx512_vpopcntdq": ("HW_CPU_X86_AVX512VPOPCNTDQ",),
    "bmi1": ("HW_CPU_X86_BMI",), "bmi2": ("HW_CPU_X86_BMI2",),
    "pclmulqdq": ("HW_CPU_X86_CLMUL",), "f16c": ("HW_CPU_X86_F16C",),
    "fma": ("HW_CPU_X86_FMA3",), "fma4": ("HW_CPU_X86_FMA4",),
    "mmx": ("HW_CPU_X86_MMX",), "mpx": ("HW_CPU_X86_MPX",),
    "sha_ni": ("HW_CPU_X86_SHA",), "sse": ("HW_CPU_X86_SSE",),
    "sse2": ("HW_CPU_X86_SSE2",), "pni": ("HW_CPU_X86_SSE3",),
    "sse4_1": ("HW_CPU_X86_SSE41",), "sse4_2": ("HW_CPU_X86_SSE42",),
    "sse4a": ("HW_CPU_X86_SSE4A",), "ssse3": ("HW_CPU_X86_SSSE3",),
    # the generic name first, then the vendor's (Nova reports both)
    "svm": ("HW_CPU_X86_SVM", "HW_CPU_X86_AMD_SVM"),
    "vmx": ("HW_CPU_X86_VMX", "HW_CPU_X86_INTEL_VMX"),
    "tbm": ("HW_CPU_X86_TBM",), "xop": ("HW_CPU_X86_XOP",),
}
_X86 = (fields.Architecture.X86_64, fields.Architecture.I686)


def cpu_traits(info):
    """The HW_CPU_X86_* traits of a :func:`cpu_info` dict's features, on
    an x86 CPU (other architectures spell other things with the same
    words: an ARM ``aes`` is not AES-NI); only names the installed
    os-traits knows."""
    if info.get("arch") not in _X86:
        return []
    known = traits_mod.standard_traits()
    return sorted({trait for flag in info.get("features") or ()
                   for trait in X86_FLAG_TRAITS.get(flag, ())
                   if trait in known})


#: The trait of a host whose cores run more than one thread (SMT).
HYPERTHREADING = "HW_CPU_HYPERTHREADING"


def node_traits(info, image_formats=()):
    """The traits a node of this CPU reports: its CPU traits,
    HW_CPU_HYPERTHREADING when a core has more than one thread (as Nova's
    libvirt driver reports it), and COMPUTE_IMAGE_TYPE_* for each disk
    format in ``image_formats`` that os-traits names."""
    found = set(cpu_traits(info))
    if (info.get("topology") or {}).get("threads", 1) > 1:
        found.add(HYPERTHREADING)
    found.update(traits_mod.image_type_trait(f) for f in image_formats)
    found.discard(None)
    return sorted(found)


# --- NUMA cells and huge pages -----------------------------------------------

def read_hugepages(directory):
    """``{size_kb: (nr_hugepages, free_hugepages)}`` of a ``hugepages`` dir
    (a node's, or /sys/kernel/mm/hugepages)."""
    pages = {}
    for entry in glob.glob(os.path.join(directory, "hugepages-*kB")):
        match = re.search(r"hugepages-(\d+)kB$", entry)
        if not match:
            continue
        total = _read_int(os.path.join(entry, "nr_hugepages"), 0)
        free = _read_int(os.path.join(entry, "free_hugepages"), total)
        pages[int(match.group(1))] = (total, min(free, total))
    return pages


def numa_nodes(root="/"):
    """The NUMA nodes as ``[(id, cpus, mem_total_kb, hugepages)]``.

    ``cpus`` are the node's online CPUs, ``hugepages`` as
    :func:`read_hugepages`. None when ``/sys/devices/system/node`` is
    missing (kernels without NUMA support).
    """
    base = _path(root, NODE_DIR)
    if not os.path.isdir(base):
        return None
    online = online_cpus(root)
    nodes = []
    for entry in os.listdir(base):
        match = re.fullmatch(r"node(\d+)", entry)
        if not match:
            continue
        directory = os.path.join(base, entry)
        cpus = parse_cpu_list(_read(os.path.join(directory, "cpulist"), ""))
        meminfo = parse_meminfo(_read(os.path.join(directory, "meminfo"), ""))
        nodes.append((int(match.group(1)), cpus & online,
                      meminfo.get("MemTotal", 0),
                      read_hugepages(os.path.join(directory, "hugepages"))))
    return sorted(nodes)


def _single_node(root, online):
    """The one cell of a host without NUMA: every CPU, all memory."""
    return [(0, set(online), read_meminfo(root).get("MemTotal", 0),
             read_hugepages(_path(root, HUGEPAGES_DIR)))]


def page_size_kb():
    return os.sysconf("SC_PAGE_SIZE") // 1024


def numa_topology(root="/", dedicated_cpus=None, small_page_kb=None,
                  topology=None):
    """The host's NUMATopology.

    Each node is a cell: its online CPUs, shared (``cpuset``) unless in
    ``dedicated_cpus`` (``pcpuset``); ``memory`` its MemTotal in MiB;
    ``siblings`` its cores' threads; ``socket`` the package of its CPUs
    (None if they span several); ``mempages`` the small pages (the memory
    not held as huge pages, in ``small_page_kb`` pages, the system's by
    default) then each huge page size. Huge pages the host already uses
    (``nr_hugepages - free_hugepages``) are ``reserved``: the tracker counts
    guest use in ``used`` on top of them.
    """
    small_page_kb = small_page_kb or page_size_kb()
    online = online_cpus(root)
    topology = cpu_topology(root, online) if topology is None else topology
    dedicated = set(dedicated_cpus or ())
    nodes = numa_nodes(root)
    if nodes is None:
        nodes = _single_node(root, online)
    cells = []
    for node_id, cpus, mem_kb, hugepages in nodes:
        huge_kb = sum(size * total for size, (total, _) in hugepages.items())
        mempages = [numa.NUMAPagesTopology(
            size_kb=small_page_kb,
            total=max(mem_kb - huge_kb, 0) // small_page_kb)]
        for size in sorted(hugepages):
            total, free = hugepages[size]
            mempages.append(numa.NUMAPagesTopology(
                size_kb=size, total=total, reserved=total - free))
        siblings = {frozenset(topology[cpu][2] & cpus)
                    for cpu in cpus if cpu in topology}
        sockets = {topology[cpu][0] for cpu in cpus if cpu in topology}
        cells.append(numa.NUMACell(
            id=node_id, cpuset=cpus - dedicated, pcpuset=cpus & dedicated,
            memory=mem_kb // 1024,
            siblings=[set(s) for s in sorted(siblings, key=sorted) if s],
            mempages=mempages,
            socket=sockets.pop() if len(sockets) == 1 else None))
    result = numa.NUMATopology(cells=cells)
    result.obj_reset_changes(recursive=True)
    return result


# --- PCI ---------------------------------------------------------------------

def _hex_id(text):
    """``"0x8086"`` -> ``"8086"`` (lowercase, no prefix)."""
    if text is None:
        return None
    text = text.lower()
    return text[2:] if text.startswith("0x") else text


def pci_devices(root="/"):
    """The PCI devices, as the dicts Nova's libvirt driver reports.

    ``{"address", "vendor_id", "product_id", "class_id", "numa_node",
    "dev_type", "dev_id", "label"}`` plus ``"parent_addr"`` for a virtual
    function. ``numa_node`` is None when the kernel says -1 (no affinity);
    ``dev_type`` is ``type-VF`` for a device with a ``physfn`` link,
    ``type-PF`` for one with SR-IOV virtual functions (``sriov_totalvfs`` >
    0), else ``type-PCI``. Sorted by address.
    """
    base = _path(root, PCI_DIR)
    try:
        addresses = sorted(os.listdir(base))
    except OSError:
        return []
    devices = []
    for address in addresses:
        directory = os.path.join(base, address)
        vendor = _hex_id(_read(os.path.join(directory, "vendor")))
        product = _hex_id(_read(os.path.join(directory, "device")))
        if vendor is None or product is None:
            continue
        numa_node = _read_int(os.path.join(directory, "numa_node"), -1)
        device = {
            "address": address,
            "vendor_id": vendor,
            "product_id": product,
            "class_id": _hex_id(_read(os.path.join(directory, "class"))),
            "numa_node": numa_node if numa_node >= 0 else None,
            "dev_type": fields.PciDeviceType.STANDARD,
            "dev_id": "pci_" + re.sub(r"[:.]", "_", address),
            "label": "label_%s_%s" % (vendor, product),
        }
        physfn = os.path.join(directory, "physfn")
        if os.path.islink(physfn):
            device["dev_type"] = fields.PciDeviceType.SRIOV_VF
            device["parent_addr"] = os.path.basename(os.readlink(physfn))
        elif _read_int(os.path.join(directory, "sriov_totalvfs"), 0) > 0:
            device["dev_type"] = fields.PciDeviceType.SRIOV_PF
        devices.append(device)
    return devices


# --- disk and kernel ---------------------------------------------------------

GiB = 1024 ** 3


def disk_usage_gb(path):
    """``(total, used, free)`` GiB of the filesystem holding ``path``.

    As Nova's libvirt driver: total is every block, used the blocks not
    free, free what an unprivileged user may still write (``f_bavail``), so
    used + free may be less than total (root-reserved blocks). Rounded down.
    """
    stat = os.statvfs(path)
    total = stat.f_blocks * stat.f_frsize
    used = (stat.f_blocks - stat.f_bfree) * stat.f_frsize
    free = stat.f_bavail * stat.f_frsize
    return total // GiB, used // GiB, free // GiB


def kernel_release(root="/"):
    """The running kernel's release (``/proc/sys/kernel/osrelease``, else
    ``platform.release()``)."""
    return (_read(_path(root, "proc", "sys", "kernel", "osrelease"))
            or platform.release())


def version_to_int(release):
    """``"6.1.0-13-amd64"`` -> 6001000: major*1000000 + minor*1000 + patch.

    Nova's convention for hypervisor_version. Missing parts count as 0;
    text with no leading number gives 0.
    """
    match = re.match(r"(\d+)(?:\.(\d+))?(?:\.(\d+))?", release or "")
    if not match:
        return 0
    major, minor, patch = (int(part or 0) for part in match.groups())
    return major * 1000000 + minor * 1000 + patch


def canonical_arch(machine):
    """``machine`` as an Architecture member, or None if it names none."""
    try:
        return fields.Architecture.canonicalize(machine)
    except ValueError:
        return None
