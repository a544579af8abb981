"""What Nova hands Placement from a flavor, read without Placement: the
``resources:CLASS=AMOUNT`` extra specs, and the one trait that changes the
guest's NUMA request, ``HW_CPU_HYPERTHREADING``.

Nova asks Placement for VCPU, MEMORY_MB and DISK_GB from the flavor's
sizes unless an extra spec names the class: ``resources:VCPU=0`` (the
bare-metal flavor's way of asking for no vCPU), ``resources:MEMORY_MB=N``,
``resources:DISK_GB=N`` replace the flavor's amounts, and
``resources:PCPU=N`` asks for N pinned CPUs instead of vCPUs. hoststate
has no Placement; the overrides change what a claim takes and what the
capacity rule checks (``usage.usage_from_flavor``, the one place every
claim, recount and capacity check reads an instance's size from), not
what the legacy RamFilter, CoreFilter and DiskFilter read (Nova's read the
flavor's sizes too), nor what the in-memory claim of a simulation
consumes between the instances of one request (Nova's
``consume_from_request`` takes the flavor's sizes as well).

Nova's rules, kept here:

* the amount is a whole number, zero or more (Nova's API refuses anything
  else when the extra spec is set);
* ``resources:VCPU`` and ``resources:PCPU`` together are refused, and
  either beside ``hw:cpu_policy`` (or the image's ``hw_cpu_policy``);
* ``resources:PCPU`` must equal the flavor's vCPUs (one more with
  ``hw:emulator_threads_policy=isolate``), and makes the CPU policy
  ``dedicated``; ``resources:VCPU`` makes it ``shared``.

What hoststate refuses (with the spec named) rather than ignore:

* other resource classes (``resources:VGPU``, ``resources:CUSTOM_X``):
  a node here tracks vCPUs, memory and disk only;
* granular groups (``resources1:VCPU``): a node is one resource provider,
  with no nested providers to spread groups over.

A pinned CPU counts as one of the node's vCPUs, as a ``dedicated``
flavor's CPUs do here: ``resources:PCPU`` changes the policy, not the
count.
"""
import re

from hoststate import exception
from hoststate.objects import fields

#: resource class -> the usage field its amount replaces
SUPPORTED = {"VCPU": "vcpus", "MEMORY_MB": "memory_mb", "DISK_GB": "disk_gb",
             "PCPU": None}
_KEY = re.compile(r"resources([a-zA-Z0-9_-]{1,64})?:(.*)")
_DEDICATED = fields.CPUAllocationPolicy.DEDICATED
_SHARED = fields.CPUAllocationPolicy.SHARED
_ISOLATE = fields.CPUEmulatorThreadsPolicy.ISOLATE
_HT = "HW_CPU_HYPERTHREADING"
#: the flavor's trait:HW_CPU_HYPERTHREADING, in any request group
_HT_TRAIT = re.compile(r"trait([1-9][0-9]*)?:" + _HT)


class InvalidResourceRequest(exception.HoststateError, ValueError):
    """A ``resources:...`` or HW_CPU_HYPERTHREADING spec hoststate cannot
    honour."""

    msg_fmt = "Invalid flavor request %(key)s=%(value)r: %(reason)s"


def requested(extra_specs):
    """{resource class: amount} of the ``resources:`` extra specs (empty
    when there are none). Raises InvalidResourceRequest naming the first
    spec it cannot honour."""
    amounts = {}
    for key, value in (extra_specs or {}).items():
        match = _KEY.fullmatch(key)
        if match is None:
            continue
        group, name = match.groups()
        if group:
            raise InvalidResourceRequest(
                key=key, value=value,
                reason="granular resource groups are not supported: a node "
                       "is one resource provider; use resources:" + name)
        if name not in SUPPORTED:
            raise InvalidResourceRequest(
                key=key, value=value,
                reason="a node tracks only %s" % ", ".join(SUPPORTED))
        amounts[name] = _amount(key, value)
    if "VCPU" in amounts and "PCPU" in amounts:
        raise InvalidResourceRequest(
            key="resources:PCPU", value=extra_specs["resources:PCPU"],
            reason="resources:VCPU and resources:PCPU exclude each other")
    return amounts


def _amount(key, value):
    text = str(value).strip()
    if not text.isdigit():
        raise InvalidResourceRequest(
            key=key, value=value, reason="must be a whole number, 0 or more")
    return int(text)


def overridden(usage_fields, extra_specs):
    """``usage_fields`` (a dict of vcpus, memory_mb, disk_gb) with the
    amounts the extra specs override."""
    for name, amount in requested(extra_specs).items():
        field = SUPPORTED[name]
        if field is not None:
            usage_fields[field] = amount
    return usage_fields


def cpu_policy(extra_specs, cpu_policy_asked, vcpus, emulator_policy):
    """The CPU policy ``resources:VCPU`` / ``resources:PCPU`` imply, or
    ``cpu_policy_asked`` (what hw:cpu_policy or the image said) when there
    is neither. Nova's consistency rules raise InvalidResourceRequest."""
    amounts = requested(extra_specs)
    name = "PCPU" if "PCPU" in amounts else "VCPU" if "VCPU" in amounts \
        else None
    if name is None:
        return cpu_policy_asked
    key = "resources:" + name
    if cpu_policy_asked is not None:
        raise InvalidResourceRequest(
            key=key, value=extra_specs[key],
            reason="it cannot be combined with hw:cpu_policy or the image's "
                   "hw_cpu_policy; use one or the other")
    if name == "VCPU":
        return _SHARED
    wanted = vcpus + (1 if emulator_policy == _ISOLATE else 0)
    if amounts["PCPU"] != wanted:
        raise InvalidResourceRequest(
            key=key, value=extra_specs[key],
            reason="must be the flavor's %d vCPUs%s" % (
                vcpus, " plus 1 for the isolated emulator threads"
                if emulator_policy == _ISOLATE else ""))
    return _DEDICATED


def thread_policy(specs, props, asked):
    """The thread policy (``asked``: what hw:cpu_thread_policy or the
    image said), with Nova's reading of the trait
    HW_CPU_HYPERTHREADING: ``trait:HW_CPU_HYPERTHREADING=forbidden`` in the
    flavor means ``isolate``, ``required`` (or the image requiring the
    trait) means ``require``; beside a thread policy it is refused."""
    key = next((k for k in specs if _HT_TRAIT.fullmatch(k)), None)
    value = specs[key] if key is not None else None
    if key is None and _HT in _image_traits(props):
        key, value = "traits_required", _HT
    if key is None:
        return asked
    if asked is not None:
        raise InvalidResourceRequest(
            key=key, value=value,
            reason="the trait HW_CPU_HYPERTHREADING cannot be combined with "
                   "hw:cpu_thread_policy or hw_cpu_thread_policy; use one "
                   "or the other")
    if value == "forbidden":
        return fields.CPUThreadAllocationPolicy.ISOLATE
    if value in ("required", _HT):
        return fields.CPUThreadAllocationPolicy.REQUIRE
    return None


def _image_traits(props):
    """Traits the image requires (``trait:NAME=required`` properties)."""
    if "traits_required" not in props.fields:
        return ()
    return props.obj_get("traits_required") or ()
