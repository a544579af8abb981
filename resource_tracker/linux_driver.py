"""A virt driver that reports the Linux machine it runs on, as one node.

It runs no guests: it tells a resource tracker what this host has, read from
``/proc`` and ``/sys`` by :mod:`hoststate.resource_tracker.linux_probe`, so
a compute agent can enroll real hardware and the scheduler place on it.

Choices, where Nova has no single answer:

* ``hypervisor_type`` is ``"linux"`` (a free-form string in the node
  record); nothing here is a hypervisor, and naming one (``"QEMU"``) would
  claim guests could be started.
* ``hypervisor_version`` is the kernel release in Nova's encoding,
  major*1000000 + minor*1000 + patch (6.1.0 -> 6001000).
* ``supported_instances`` are what a libvirt/QEMU compute on this machine
  would offer: ``[arch, "qemu", "hvm"]``, and ``[arch, "kvm", "hvm"]``
  when ``/dev/kvm`` exists. None when the architecture has no canonical
  name. A constructor argument overrides them.
* ``vcpus`` are the online CPUs of the machine, not the CPUs this process
  may run on (its affinity, narrower in a cpuset cgroup). ``vcpus_used`` is
  0: no guests run through this driver.
* ``memory_mb_used`` is MemTotal - MemAvailable (memory the host itself
  needs now); each NUMA cell's ``memory`` is that node's own MemTotal.
* Disk figures are those of the filesystem holding ``instances_path``;
  ``disk_available_least`` is the space still writable (``f_bavail``).
* ``traits`` are the CPU's HW_CPU_X86_* flags (``linux_probe.cpu_traits``)
  and COMPUTE_IMAGE_TYPE_* of the disk formats a libvirt/QEMU compute
  takes (:data:`QEMU_IMAGE_FORMATS`, Nova's libvirt driver's without an
  image backend that needs raw images), the same claim as
  ``supported_instances``.
* The node uuid is kept in ``<instances_path>/compute_id``, written with a
  new uuid4 the first time and read afterwards (Nova's local node uuid
  file), so the node keeps its identity across restarts.
"""
import os
import platform
import socket
import tempfile
import threading
import uuid as uuidlib

from hoststate.objects import fields
from hoststate.resource_tracker import driver
from hoststate.resource_tracker import exception
from hoststate.resource_tracker import linux_probe

__all__ = ["LinuxHostDriver", "HYPERVISOR_TYPE", "COMPUTE_ID_FILE"]

HYPERVISOR_TYPE = "linux"
COMPUTE_ID_FILE = "compute_id"
#: Disk formats a libvirt/QEMU compute boots from.
QEMU_IMAGE_FORMATS = ("aki", "ami", "ari", "iso", "qcow2", "raw")


class LinuxHostDriver(driver.VirtDriver):
    """This machine as the node ``nodename`` (the host name by default).

    :param instances_path: directory instance disks would live in; its
        filesystem gives the disk figures and it holds the ``compute_id``
        file (created, with the directory, on first use).
    :param nodename: the node name (``hypervisor_hostname``).
    :param root: where ``proc/``, ``sys/`` and ``dev/`` are read from.
    :param dedicated_cpus: CPU ids offered for pinning (each cell's
        ``pcpuset``); the other online CPUs are shared. None: all shared.
    :param supported_instances: ``[arch, hv_type, vm_mode]`` triples to
        report instead of the ones worked out from this machine.
    :param machine: the architecture name (``platform.machine()`` default).
    """

    def __init__(self, instances_path, nodename=None, *, root="/",
                 dedicated_cpus=None, supported_instances=None,
                 machine=None):
        self.instances_path = os.fspath(instances_path)
        self.nodename = nodename or socket.gethostname()
        self.root = os.fspath(root)
        self.dedicated_cpus = set(dedicated_cpus or ())
        self.machine = machine
        self._supported_instances = supported_instances
        self._uuid = None
        self._uuid_lock = threading.Lock()

    # -- protocol -----------------------------------------------------------

    def get_available_nodes(self):
        return [self.nodename]

    def get_available_resource(self, nodename):
        if nodename != self.nodename:
            raise self._node_not_found(nodename)
        root = self.root
        online = linux_probe.online_cpus(root)
        topology = linux_probe.cpu_topology(root, online)
        meminfo = linux_probe.read_meminfo(root)
        total_kb = meminfo.get("MemTotal", 0)
        total_gb, used_gb, free_gb = linux_probe.disk_usage_gb(
            self._ensure_instances_path())
        info = linux_probe.cpu_info(root, self.machine, topology)
        return {
            "vcpus": len(online),
            "memory_mb": total_kb // 1024,
            "local_gb": total_gb,
            "vcpus_used": 0,
            "memory_mb_used": (total_kb - _available_kb(meminfo)) // 1024,
            "local_gb_used": used_gb,
            "hypervisor_type": HYPERVISOR_TYPE,
            "hypervisor_version": linux_probe.version_to_int(
                linux_probe.kernel_release(root)),
            "hypervisor_hostname": self.nodename,
            "cpu_info": linux_probe.cpu_info_json(info),
            "numa_topology": linux_probe.numa_topology(
                root, self.dedicated_cpus, topology=topology),
            "pci_passthrough_devices": linux_probe.pci_devices(root),
            "supported_instances": self.supported_instances(info["arch"]),
            "disk_available_least": free_gb,
            "uuid": self.node_uuid(),
            "traits": linux_probe.node_traits(info, QEMU_IMAGE_FORMATS),
        }

    # -- pieces -------------------------------------------------------------

    def supported_instances(self, machine=None):
        """The ``[arch, hv_type, vm_mode]`` triples this node reports."""
        if self._supported_instances is not None:
            return [list(triple) for triple in self._supported_instances]
        arch = linux_probe.canonical_arch(
            machine or self.machine or platform.machine())
        if arch is None:
            return []
        triples = [[arch, fields.HVType.QEMU, fields.VMMode.HVM]]
        if os.path.exists(os.path.join(self.root, "dev", "kvm")):
            triples.append([arch, fields.HVType.KVM, fields.VMMode.HVM])
        return triples

    def node_uuid(self):
        """The uuid in ``<instances_path>/compute_id``, made on first use.

        A new file is written aside and hard-linked into place, so two
        processes starting at once agree on one uuid and nobody reads a
        half-written file. A file that does not hold a uuid raises
        :class:`LocalNodeUUIDInvalid` rather than being replaced: the node's
        identity is not ours to change.
        """
        with self._uuid_lock:
            if self._uuid is None:
                self._uuid = self._read_or_create_uuid()
            return self._uuid

    def _ensure_instances_path(self):
        os.makedirs(self.instances_path, exist_ok=True)
        return self.instances_path

    def _read_or_create_uuid(self):
        path = os.path.join(self._ensure_instances_path(), COMPUTE_ID_FILE)
        if not os.path.exists(path):
            fd, temp = tempfile.mkstemp(dir=self.instances_path,
                                        prefix=".compute_id.")
            try:
                with os.fdopen(fd, "w") as handle:
                    handle.write(str(uuidlib.uuid4()) + "\n")
                    handle.flush()
                    os.fsync(handle.fileno())
                try:
                    os.link(temp, path)
                except FileExistsError:
                    pass  # another process won; use its uuid
            finally:
                os.unlink(temp)
        with open(path) as handle:
            content = handle.read()
        try:
            return str(uuidlib.UUID(content.strip()))
        except ValueError:
            raise exception.LocalNodeUUIDInvalid(
                path=path, content=content) from None


def _available_kb(meminfo):
    """MemAvailable, or what kernels before 3.14 let one estimate it by."""
    if "MemAvailable" in meminfo:
        return meminfo["MemAvailable"]
    return sum(meminfo.get(key, 0) for key in ("MemFree", "Buffers", "Cached"))
