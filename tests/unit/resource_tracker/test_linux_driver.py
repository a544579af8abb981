"""LinuxHostDriver and its probes: against a made-up /sys + /proc tree whose
values are worked out by hand, and against this very machine, read again
independently here."""
import json
import os
import platform
import re
import socket
import sys
import threading
import uuid

import pytest

from hoststate.objects import compute_node
from hoststate.objects import hv_spec
from hoststate.objects import numa
from hoststate.resource_tracker import driver
from hoststate.resource_tracker import exception
from hoststate.resource_tracker import linux_probe
from hoststate.resource_tracker.linux_driver import LinuxHostDriver

GiB = 1024 ** 3


# --- a made-up host ----------------------------------------------------------
#
# Two sockets, each one NUMA node with 2 cores x 2 threads, numbered as Intel
# does (first threads first): node0 = CPUs {0,1,4,5}, node1 = {2,3,6,7}, and
# the cores are {0,4} {1,5} on package 0, {2,6} {3,7} on package 1. CPU 7 is
# offline: "online" says 0-6, it has no topology dir, yet node1/cpulist and
# cpu3's thread_siblings_list still name it, so both must be cut to online.
#
# Memory: 16 GiB in all (MemTotal 16777216 kB), 12 GiB available, 8 GiB a
# node. node0 has 512 x 2 MiB pages (12 in use) and one 1 GiB page (free);
# node1 has none.
#
# PCI: an Intel NIC on node 0 and an NVIDIA GPU with no NUMA affinity (-1).

CPUINFO_BLOCK = """processor\t: {n}
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Gold 6230 CPU @ 2.10GHz
flags\t\t: sse2 fpu vmx avx2 fpu

"""

MEMINFO = """MemTotal:       16777216 kB
MemFree:         1048576 kB
MemAvailable:   12582912 kB
Buffers:           10240 kB
HugePages_Total:     512
"""

NODE_MEMINFO = """Node {n} MemTotal:       8388608 kB
Node {n} MemFree:        4194304 kB
Node {n} MemUsed:        4194304 kB
"""

# cpu -> (package, core_id, thread_siblings_list)
CPUS = {0: (0, 0, "0,4"), 1: (0, 1, "1,5"), 2: (1, 0, "2,6"),
        3: (1, 1, "3,7"), 4: (0, 0, "0,4"), 5: (0, 1, "1,5"),
        6: (1, 0, "2,6")}


def write(root, relpath, text):
    path = root / relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def hugepages(root, base, sizes):
    for size_kb, (total, free) in sizes.items():
        write(root, f"{base}/hugepages-{size_kb}kB/nr_hugepages", f"{total}\n")
        write(root, f"{base}/hugepages-{size_kb}kB/free_hugepages",
              f"{free}\n")


def pci(root, address, vendor, device, klass, numa_node):
    base = f"sys/bus/pci/devices/{address}"
    write(root, f"{base}/vendor", vendor + "\n")
    write(root, f"{base}/device", device + "\n")
    write(root, f"{base}/class", klass + "\n")
    write(root, f"{base}/numa_node", f"{numa_node}\n")
    return root / base


@pytest.fixture
def fake_root(tmp_path):
    root = tmp_path / "root"
    write(root, "proc/cpuinfo",
          "".join(CPUINFO_BLOCK.format(n=n) for n in range(7)))
    write(root, "proc/meminfo", MEMINFO)
    write(root, "proc/sys/kernel/osrelease", "5.15.0-91-generic\n")
    write(root, "sys/devices/system/cpu/online", "0-6\n")
    write(root, "sys/devices/system/cpu/possible", "0-7\n")
    for cpu, (package, core, siblings) in CPUS.items():
        topo = f"sys/devices/system/cpu/cpu{cpu}/topology"
        write(root, f"{topo}/physical_package_id", f"{package}\n")
        write(root, f"{topo}/core_id", f"{core}\n")
        write(root, f"{topo}/thread_siblings_list", siblings + "\n")
    (root / "sys/devices/system/cpu/cpu7").mkdir()  # offline: no topology
    write(root, "sys/devices/system/node/online", "0-1\n")
    write(root, "sys/devices/system/node/node0/cpulist", "0-1,4-5\n")
    write(root, "sys/devices/system/node/node1/cpulist", "2-3,6-7\n")
    for node in (0, 1):
        write(root, f"sys/devices/system/node/node{node}/meminfo",
              NODE_MEMINFO.format(n=node))
    hugepages(root, "sys/devices/system/node/node0/hugepages",
              {2048: (512, 500), 1048576: (1, 1)})
    hugepages(root, "sys/devices/system/node/node1/hugepages",
              {2048: (0, 0), 1048576: (0, 0)})
    pci(root, "0000:00:1f.2", "0x8086", "0x1521", "0x020000", 0)
    pci(root, "0000:3b:00.0", "0x10de", "0x1DB4", "0x030200", -1)
    write(root, "dev/kvm", "")
    return root


@pytest.fixture
def fake_driver(fake_root, tmp_path):
    return LinuxHostDriver(tmp_path / "instances", "fake-host.example",
                           root=fake_root, dedicated_cpus={4, 5, 6},
                           machine="x86_64")


def test_fake_host_resources(fake_driver, tmp_path):
    resources = fake_driver.get_available_resource("fake-host.example")
    assert set(resources) == set(driver.RESOURCE_KEYS)
    driver.validate_resources(resources)

    stat = os.statvfs(tmp_path / "instances")
    expected_disk = (stat.f_blocks * stat.f_frsize // GiB,
                     (stat.f_blocks - stat.f_bfree) * stat.f_frsize // GiB,
                     stat.f_bavail * stat.f_frsize // GiB)
    got_disk = (resources["local_gb"], resources["local_gb_used"],
                resources["disk_available_least"])
    assert got_disk[0] == expected_disk[0]
    # other processes write to this disk meanwhile: allow one GiB
    assert abs(got_disk[1] - expected_disk[1]) <= 1
    assert abs(got_disk[2] - expected_disk[2]) <= 1

    assert {k: resources[k] for k in (
        "vcpus", "memory_mb", "vcpus_used", "memory_mb_used",
        "hypervisor_type", "hypervisor_version", "hypervisor_hostname",
        "supported_instances")} == {
        "vcpus": 7,                      # CPUs 0-6 online
        "memory_mb": 16384,              # 16777216 kB // 1024
        "vcpus_used": 0,                 # no guests run through it
        "memory_mb_used": 4096,          # (16777216 - 12582912) // 1024
        "hypervisor_type": "linux",
        "hypervisor_version": 5015000,   # 5.15.0-91-generic
        "hypervisor_hostname": "fake-host.example",
        # /dev/kvm exists, so kvm besides qemu
        "supported_instances": [["x86_64", "qemu", "hvm"],
                                ["x86_64", "kvm", "hvm"]],
    }
    # the uuid is the one now in <instances>/compute_id
    stored = (tmp_path / "instances" / "compute_id").read_text().strip()
    assert resources["uuid"] == stored == str(uuid.UUID(stored))


def test_fake_host_cpu_info(fake_driver):
    info = json.loads(fake_driver.get_available_resource(
        "fake-host.example")["cpu_info"])
    assert info == {
        "arch": "x86_64",
        "model": "Intel(R) Xeon(R) Gold 6230 CPU @ 2.10GHz",
        "vendor": "Intel",                       # GenuineIntel, as libvirt
        # 2 packages; online cores (package, core) = 4 -> 2 per socket;
        # the widest core has 2 online threads
        "topology": {"sockets": 2, "cores": 2, "threads": 2},
        "features": ["avx2", "fpu", "sse2", "vmx"],  # sorted, deduplicated
    }


def test_fake_host_numa_topology(fake_driver):
    topology = fake_driver.get_available_resource(
        "fake-host.example")["numa_topology"]
    assert isinstance(topology, numa.NUMATopology)
    cell0, cell1 = topology.cells
    assert (cell0.id, cell1.id) == (0, 1)
    # dedicated_cpus={4,5,6}: node0 {0,1,4,5} -> shared {0,1}, pinned {4,5};
    # node1 {2,3,6,7} minus offline 7 -> shared {2,3}, pinned {6}
    assert (cell0.cpuset, cell0.pcpuset) == ({0, 1}, {4, 5})
    assert (cell1.cpuset, cell1.pcpuset) == ({2, 3}, {6})
    # cores of each cell, cut to online CPUs: {3,7} is just {3} now
    assert cell0.siblings == [{0, 4}, {1, 5}]
    assert cell1.siblings == [{2, 6}, {3}]
    assert (cell0.socket, cell1.socket) == (0, 1)
    # 8388608 kB a node = 8192 MiB (huge pages included)
    assert (cell0.memory, cell1.memory) == (8192, 8192)
    page = os.sysconf("SC_PAGE_SIZE") // 1024
    # node0: 8388608 kB - 512 x 2048 kB - 1 x 1048576 kB = 6291456 kB of
    # small pages (1572864 of 4 KiB); 500 of 512 2 MiB pages are free, so
    # 12 are the host's (reserved). node1: 8388608 kB, no huge pages.
    assert [(p.size_kb, p.total, p.used, p.reserved)
            for p in cell0.mempages] == [
        (page, 6291456 // page, 0, 0), (2048, 512, 0, 12),
        (1048576, 1, 0, 0)]
    assert [(p.size_kb, p.total, p.reserved) for p in cell1.mempages] == [
        (page, 8388608 // page, 0), (2048, 0, 0), (1048576, 0, 0)]
    # nothing used yet: the tracker counts guests
    assert all(c.cpu_usage == c.memory_usage == 0 and not c.pinned_cpus
               for c in topology.cells)
    assert cell0.mempages[1].free == 500
    assert topology.obj_what_changed() == set()
    assert numa.NUMATopology.from_json(topology.to_json()).to_json() == \
        topology.to_json()


def test_fake_host_pci_devices(fake_driver):
    devices = fake_driver.get_available_resource(
        "fake-host.example")["pci_passthrough_devices"]
    assert devices == [
        {"address": "0000:00:1f.2", "vendor_id": "8086",
         "product_id": "1521", "class_id": "020000", "numa_node": 0,
         "dev_type": "type-PCI", "dev_id": "pci_0000_00_1f_2",
         "label": "label_8086_1521"},
        # numa_node -1 (no affinity) is None; ids are lowercased
        {"address": "0000:3b:00.0", "vendor_id": "10de",
         "product_id": "1db4", "class_id": "030200", "numa_node": None,
         "dev_type": "type-PCI", "dev_id": "pci_0000_3b_00_0",
         "label": "label_10de_1db4"},
    ]


def test_sriov_functions(fake_root):
    pf = pci(fake_root, "0000:5e:00.0", "0x8086", "0x1572", "0x020000", 1)
    write(fake_root, "sys/bus/pci/devices/0000:5e:00.0/sriov_totalvfs", "8\n")
    vf = pci(fake_root, "0000:5e:02.0", "0x8086", "0x154c", "0x020000", 1)
    os.symlink("../0000:5e:00.0", vf / "physfn")
    # a NIC able to do SR-IOV but with none configured is still a PF
    nic = pci(fake_root, "0000:5e:00.1", "0x8086", "0x1572", "0x020000", 1)
    write(fake_root, "sys/bus/pci/devices/0000:5e:00.1/sriov_totalvfs", "0\n")
    by_address = {d["address"]: d for d in linux_probe.pci_devices(fake_root)}
    assert by_address[pf.name]["dev_type"] == "type-PF"
    assert "parent_addr" not in by_address[pf.name]
    assert by_address[vf.name]["dev_type"] == "type-VF"
    assert by_address[vf.name]["parent_addr"] == "0000:5e:00.0"
    assert by_address[nic.name]["dev_type"] == "type-PCI"


def test_no_numa_dir_gives_one_cell(fake_root):
    # a kernel without NUMA: one cell, every online CPU, all of MemTotal,
    # huge pages from /sys/kernel/mm/hugepages
    import shutil
    shutil.rmtree(fake_root / "sys/devices/system/node")
    hugepages(fake_root, "sys/kernel/mm/hugepages", {2048: (100, 40)})
    topology = linux_probe.numa_topology(fake_root, small_page_kb=4)
    (cell,) = topology.cells
    assert (cell.id, cell.cpuset, cell.pcpuset) == (0, set(range(7)), set())
    assert cell.memory == 16384
    # 16777216 kB - 100 x 2048 kB = 16572416 kB = 4143104 pages of 4 KiB
    assert [(p.size_kb, p.total, p.reserved) for p in cell.mempages] == [
        (4, 4143104, 0), (2048, 100, 60)]
    assert cell.siblings == [{0, 4}, {1, 5}, {2, 6}, {3}]
    assert cell.socket is None  # CPUs of two packages


def test_missing_files_fall_back(tmp_path):
    # an empty tree: CPUs from os.cpu_count(), nothing else known
    root = tmp_path / "empty"
    root.mkdir()
    cpus = linux_probe.online_cpus(root)
    assert cpus == set(range(os.cpu_count()))
    assert linux_probe.pci_devices(root) == []
    assert linux_probe.cpu_topology(root, {0, 1}) == {
        0: (0, 0, {0}), 1: (0, 1, {1})}
    info = linux_probe.cpu_info(root, "aarch64", {})
    assert info == {"arch": "aarch64", "model": None, "vendor": None,
                    "topology": {"sockets": 1, "cores": 1, "threads": 1},
                    "features": []}


def test_online_cpus_from_cpuinfo_when_sysfs_hides_them(fake_root):
    os.unlink(fake_root / "sys/devices/system/cpu/online")
    assert linux_probe.online_cpus(fake_root) == set(range(7))


def test_supported_instances(fake_root, tmp_path):
    os.unlink(fake_root / "dev/kvm")
    drv = LinuxHostDriver(tmp_path, "n", root=fake_root, machine="amd64")
    # amd64 is x86_64's Debian name; no /dev/kvm, so QEMU only
    assert drv.supported_instances() == [["x86_64", "qemu", "hvm"]]
    assert LinuxHostDriver(tmp_path, "n", root=fake_root,
                           machine="z80").supported_instances() == []
    given = LinuxHostDriver(tmp_path, "n", root=fake_root,
                            supported_instances=[("aarch64", "kvm", "hvm")])
    assert given.supported_instances() == [["aarch64", "kvm", "hvm"]]


# --- small parsers -----------------------------------------------------------

@pytest.mark.parametrize("text, cpus", [
    ("0-3,8,10-11", {0, 1, 2, 3, 8, 10, 11}),
    ("0", {0}),
    ("", set()),
    ("\n", set()),
    ("0-1\n", {0, 1}),
])
def test_parse_cpu_list(text, cpus):
    assert linux_probe.parse_cpu_list(text) == cpus


@pytest.mark.parametrize("release, version", [
    ("6.1.0-13-amd64", 6001000),
    ("6.18.44-fc-v657", 6018044),
    ("5.15.0", 5015000),
    ("4.9.337", 4009337),
    ("6.8", 6008000),
    ("7", 7000000),
    ("", 0),
    ("weird", 0),
])
def test_version_to_int(release, version):
    assert linux_probe.version_to_int(release) == version


def test_parse_meminfo():
    assert linux_probe.parse_meminfo(
        "Node 1 MemTotal:  100 kB\nNode 1 HugePages_Total:  3\nbogus\n") == {
        "MemTotal": 100, "HugePages_Total": 3}


def test_memory_used_without_memavailable(fake_root, tmp_path):
    # kernels before 3.14: MemFree + Buffers + Cached estimates it
    write(fake_root, "proc/meminfo",
          "MemTotal: 4194304 kB\nMemFree: 1048576 kB\nBuffers: 0 kB\n"
          "Cached: 1048576 kB\n")
    drv = LinuxHostDriver(tmp_path / "i", "n", root=fake_root)
    # (4194304 - 2097152) // 1024
    assert drv.get_available_resource("n")["memory_mb_used"] == 2048


# --- nodes and identity ------------------------------------------------------

def test_one_node(fake_driver):
    assert fake_driver.get_available_nodes() == ["fake-host.example"]
    assert fake_driver.node_is_available("fake-host.example")
    assert not fake_driver.node_is_available("other")
    assert not fake_driver.is_node_deleted("fake-host.example")
    assert fake_driver.rebalances_nodes is False
    with pytest.raises(exception.VirtNodeNotFound):
        fake_driver.get_available_resource("other")


def test_host_operations_not_supported(fake_driver):
    for call in (lambda: fake_driver.host_power_action("reboot"),
                 lambda: fake_driver.set_host_enabled(False),
                 lambda: fake_driver.host_maintenance_mode("h", True)):
        with pytest.raises(exception.NotSupportedByDriver,
                           match="LinuxHostDriver"):
            call()


def test_nodename_defaults_to_the_host_name(tmp_path):
    assert LinuxHostDriver(tmp_path).nodename == socket.gethostname()


def test_node_uuid_persists(tmp_path):
    path = tmp_path / "instances"
    first = LinuxHostDriver(path, "n").node_uuid()
    assert (path / "compute_id").read_text() == first + "\n"
    # a new process (driver) reads the same one
    assert LinuxHostDriver(path, "n").node_uuid() == first
    # no temporary files left behind
    assert os.listdir(path) == ["compute_id"]


def test_node_uuid_is_read_not_invented(tmp_path):
    (tmp_path / "compute_id").write_text(
        "  6F7C4F5E-9D1B-4A57-9A43-1C3F5A1D2E01\n")
    assert LinuxHostDriver(tmp_path, "n").node_uuid() == \
        "6f7c4f5e-9d1b-4a57-9a43-1c3f5a1d2e01"


def test_node_uuid_file_with_garbage(tmp_path):
    (tmp_path / "compute_id").write_text("not a uuid\n")
    with pytest.raises(exception.LocalNodeUUIDInvalid) as err:
        LinuxHostDriver(tmp_path, "n").node_uuid()
    assert err.value.path == str(tmp_path / "compute_id")
    # never overwritten
    assert (tmp_path / "compute_id").read_text() == "not a uuid\n"


def test_node_uuid_race(tmp_path):
    # drivers of several "processes" starting at once agree on one uuid
    drivers = [LinuxHostDriver(tmp_path, "n") for _ in range(8)]
    start = threading.Barrier(len(drivers))
    got = []

    def run(drv):
        start.wait()
        got.append(drv.node_uuid())

    threads = [threading.Thread(target=run, args=(d,)) for d in drivers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(got) == 8 and len(set(got)) == 1
    assert os.listdir(tmp_path) == ["compute_id"]


def test_node_record_takes_the_report(fake_driver):
    resources = fake_driver.get_available_resource("fake-host.example")
    node = compute_node.ComputeNode()
    node.update_from_virt_driver(resources)
    assert (node.vcpus, node.memory_mb, node.hypervisor_version,
            node.uuid) == (7, 16384, 5015000, resources["uuid"])
    assert [hv_spec.HVSpec.from_list(t).to_list()
            for t in resources["supported_instances"]] == \
        resources["supported_instances"]


# --- this machine ------------------------------------------------------------

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="reads /proc and /sys")


def read_text(path):
    with open(path) as handle:
        return handle.read()


def cpulist(text):
    """An independent cpulist parser, so the test does not trust the probe."""
    cpus = set()
    for part in filter(None, text.strip().split(",")):
        lo, _, hi = part.partition("-")
        cpus |= set(range(int(lo), int(hi or lo) + 1))
    return cpus


def meminfo_kb(path, key):
    return int(re.search(r"%s:\s+(\d+) kB" % key, read_text(path)).group(1))


@pytest.fixture
def here(tmp_path):
    drv = LinuxHostDriver(tmp_path / "instances")
    return drv, drv.get_available_resource(drv.nodename)


@linux_only
def test_this_machine_cpus(here):
    _, resources = here
    online = cpulist(read_text("/sys/devices/system/cpu/online"))
    assert resources["vcpus"] == len(online)
    # os.cpu_count() counts online CPUs too (sysconf _SC_NPROCESSORS_ONLN);
    # this process may be confined to fewer (affinity, cpuset cgroup)
    assert resources["vcpus"] == os.cpu_count()
    assert 1 <= len(os.sched_getaffinity(0)) <= resources["vcpus"]
    assert os.sched_getaffinity(0) <= online
    topology = resources["numa_topology"]
    cpus = [c.cpuset | c.pcpuset for c in topology.cells]
    # every online CPU is in exactly one cell, all shared by default
    assert set().union(*cpus) == online
    assert sum(map(len, cpus)) == len(online)
    assert all(not c.pcpuset for c in topology.cells)
    for cell in topology.cells:
        for sibling in cell.siblings:
            cpu = min(sibling)
            listed = cpulist(read_text(
                f"/sys/devices/system/cpu/cpu{cpu}/topology/"
                "thread_siblings_list"))
            assert sibling == listed & online & (cell.cpuset | cell.pcpuset)


@linux_only
def test_this_machine_memory(here):
    _, resources = here
    total_kb = meminfo_kb("/proc/meminfo", "MemTotal")
    assert resources["memory_mb"] == total_kb // 1024
    used_mb = (total_kb - meminfo_kb("/proc/meminfo", "MemAvailable")) // 1024
    # memory use moves while tests run: allow 512 MiB either way
    assert abs(resources["memory_mb_used"] - used_mb) <= 512
    assert 0 < resources["memory_mb_used"] < resources["memory_mb"]


@linux_only
def test_this_machine_numa_cells(here):
    _, resources = here
    cells = resources["numa_topology"].cells
    node_dir = "/sys/devices/system/node"
    if not os.path.isdir(node_dir):
        assert [c.memory for c in cells] == [resources["memory_mb"]]
        return
    nodes = sorted(int(name[4:]) for name in os.listdir(node_dir)
                   if re.fullmatch(r"node\d+", name))
    assert [c.id for c in cells] == nodes
    for cell in cells:
        node = f"{node_dir}/node{cell.id}"
        # a cell's memory is its node's own MemTotal (which need not add up
        # to /proc/meminfo's: in some VMs it does not)
        text = read_text(f"{node}/meminfo")
        total_kb = int(re.search(r"MemTotal:\s+(\d+) kB", text).group(1))
        assert cell.memory == total_kb // 1024
        sizes = sorted(int(re.search(r"(\d+)kB", d).group(1))
                       for d in os.listdir(f"{node}/hugepages"))
        assert [p.size_kb for p in cell.mempages] == \
            [os.sysconf("SC_PAGE_SIZE") // 1024] + sizes
        for pages in cell.mempages[1:]:
            base = f"{node}/hugepages/hugepages-{pages.size_kb}kB"
            assert pages.total == int(read_text(f"{base}/nr_hugepages"))


@linux_only
def test_this_machine_disk(here, tmp_path):
    _, resources = here
    stat = os.statvfs(tmp_path)
    assert resources["local_gb"] == stat.f_blocks * stat.f_frsize // GiB
    used = (stat.f_blocks - stat.f_bfree) * stat.f_frsize // GiB
    free = stat.f_bavail * stat.f_frsize // GiB
    assert abs(resources["local_gb_used"] - used) <= 1
    assert abs(resources["disk_available_least"] - free) <= 1


@linux_only
def test_this_machine_identity(here, tmp_path):
    drv, resources = here
    assert resources["hypervisor_hostname"] == socket.gethostname()
    assert resources["hypervisor_type"] == "linux"
    major, minor, patch = (int(x or 0) for x in re.match(
        r"(\d+)\.(\d+)(?:\.(\d+))?", platform.release()).groups())
    assert resources["hypervisor_version"] == \
        major * 1000000 + minor * 1000 + patch
    assert resources["uuid"] == (
        tmp_path / "instances" / "compute_id").read_text().strip()
    assert drv.get_available_resource(drv.nodename)["uuid"] == \
        resources["uuid"]


@linux_only
def test_this_machine_cpu_info(here):
    _, resources = here
    info = json.loads(resources["cpu_info"])
    assert info["arch"] == (linux_probe.canonical_arch(platform.machine())
                            or platform.machine())
    cpuinfo = read_text("/proc/cpuinfo")
    model = re.search(r"^model name\s*:\s*(.*)$", cpuinfo, re.M)
    assert info["model"] == (model.group(1).strip() if model else None)
    flags = re.search(r"^(?:flags|Features)\s*:\s*(.*)$", cpuinfo, re.M)
    assert info["features"] == (sorted(set(flags.group(1).split()))
                                if flags else [])
    topo = info["topology"]
    assert topo["sockets"] * topo["cores"] * topo["threads"] >= \
        resources["vcpus"]


@linux_only
def test_this_machine_pci(here):
    _, resources = here
    base = "/sys/bus/pci/devices"
    addresses = sorted(os.listdir(base)) if os.path.isdir(base) else []
    devices = resources["pci_passthrough_devices"]
    assert [d["address"] for d in devices] == addresses
    for device in devices:
        vendor = read_text(f"{base}/{device['address']}/vendor").strip()
        assert "0x" + device["vendor_id"] == vendor.lower()
        assert device["numa_node"] is None or device["numa_node"] >= 0


@linux_only
def test_this_machine_report_is_a_valid_node(here):
    _, resources = here
    driver.validate_resources(resources)
    node = compute_node.ComputeNode()
    node.update_from_virt_driver(resources)
    for triple in resources["supported_instances"]:
        hv_spec.HVSpec.from_list(triple)
    topology = resources["numa_topology"]
    assert numa.NUMATopology.from_json(topology.to_json()).to_json() == \
        topology.to_json()
