"""Flavor specs Nova hands to Placement, read here (issue 13): the
``resources:`` overrides of what an instance takes, the CPU policy they
imply, and the HW_CPU_HYPERTHREADING trait's thread policy; every spec
hoststate cannot honour is an error naming it."""
import pytest

from hoststate.hardware import numa as hw
from hoststate.hardware import placement_specs
from hoststate.hardware import usage as hw_usage
from hoststate.objects import flavor as flavor_obj
from hoststate.objects import image_meta as image_meta_obj

from .numa_builders import DEDICATED, ISOLATE, REQUIRE, SHARED

Invalid = placement_specs.InvalidResourceRequest


def flavor(vcpus=4, memory_mb=2048, root_gb=20, ephemeral_gb=0, swap=0,
           **extra_specs):
    return flavor_obj.Flavor(flavorid="f", name="f", vcpus=vcpus,
                             memory_mb=memory_mb, root_gb=root_gb,
                             ephemeral_gb=ephemeral_gb, swap=swap,
                             extra_specs=extra_specs)


# --- what an instance takes ------------------------------------------------------

@pytest.mark.parametrize("specs, expected", [
    # no override: 4 vCPUs, 2048 MiB, 20 + 1 GiB + 512 MiB of swap
    ({}, (4, 2048, 21.5)),
    # the bare-metal flavor: no vCPU, memory or disk from the node
    ({"resources:VCPU": "0", "resources:MEMORY_MB": "0",
      "resources:DISK_GB": "0"}, (0, 0, 0)),
    # each class replaces its own amount only; the disk override replaces
    # root, ephemeral and swap together
    ({"resources:MEMORY_MB": "1024"}, (4, 1024, 21.5)),
    ({"resources:DISK_GB": "5"}, (4, 2048, 5)),
    ({"resources:VCPU": " 2 "}, (2, 2048, 21.5)),
    # PCPU pins the flavor's vCPUs: the count stays the flavor's
    ({"resources:PCPU": "4"}, (4, 2048, 21.5)),
    # other namespaces are not resource requests
    ({"resourcesX": "1", "hw:cpu_policy": "shared"}, (4, 2048, 21.5)),
])
def test_overrides_replace_the_flavor_amounts(specs, expected):
    usage = hw_usage.usage_from_flavor(
        flavor(ephemeral_gb=1, swap=512, **specs))
    assert (usage.vcpus, usage.memory_mb, usage.disk_gb) == expected


def test_a_disk_override_holds_for_a_volume_backed_instance():
    """Nova asks for DISK_GB from the spec when it is set, boot from volume
    or not."""
    usage = hw_usage.usage_from_flavor(
        flavor(**{"resources:DISK_GB": "7"}), is_bfv=True)
    assert usage.disk_gb == 7


@pytest.mark.parametrize("key, value, reason", [
    ("resources:VGPU", "1", "a node tracks only VCPU, MEMORY_MB, DISK_GB, "
                            "PCPU"),
    ("resources:CUSTOM_BAREMETAL_GOLD", "1",
     "a node tracks only VCPU, MEMORY_MB, DISK_GB, PCPU"),
    ("resources1:VCPU", "2", "granular resource groups are not supported: "
                             "a node is one resource provider; use "
                             "resources:VCPU"),
    ("resources_gpu:MEMORY_MB", "2", "granular resource groups are not "
                                     "supported: a node is one resource "
                                     "provider; use resources:MEMORY_MB"),
    ("resources:VCPU", "-1", "must be a whole number, 0 or more"),
    ("resources:MEMORY_MB", "1.5", "must be a whole number, 0 or more"),
    ("resources:DISK_GB", "", "must be a whole number, 0 or more"),
])
def test_specs_that_cannot_be_honoured_are_named(key, value, reason):
    with pytest.raises(Invalid) as err:
        hw_usage.usage_from_flavor(flavor(**{key: value}))
    assert str(err.value) == \
        f"Invalid flavor request {key}={value!r}: {reason}"


def test_vcpu_and_pcpu_together_are_refused():
    with pytest.raises(Invalid) as err:
        placement_specs.requested({"resources:VCPU": "4",
                                   "resources:PCPU": "4"})
    assert str(err.value) == ("Invalid flavor request resources:PCPU='4': "
                              "resources:VCPU and resources:PCPU exclude "
                              "each other")


# --- the CPU policy they imply ------------------------------------------------------

def cells(specs, image=None, vcpus=4):
    topology = hw.get_constraints(flavor(vcpus=vcpus, **specs), image)
    if topology is None:
        return None
    return [(sorted(c.cpuset), sorted(c.pcpuset), c.cpu_policy,
             c.cpu_thread_policy) for c in topology.cells]


@pytest.mark.parametrize("specs, expected", [
    # resources:PCPU is a dedicated guest: one cell, every vCPU to pin
    ({"resources:PCPU": "4"}, [([], [0, 1, 2, 3], DEDICATED, None)]),
    # ... one more PCPU for isolated emulator threads
    ({"resources:PCPU": "5", "hw:emulator_threads_policy": "isolate"},
     [([], [0, 1, 2, 3], DEDICATED, None)]),
    # resources:VCPU is a shared guest: no topology
    ({"resources:VCPU": "4"}, None),
    ({"resources:VCPU": "0"}, None),
    # the hyperthreading trait sets the thread policy of a pinned guest
    ({"hw:cpu_policy": "dedicated",
      "trait:HW_CPU_HYPERTHREADING": "forbidden"},
     [([], [0, 1, 2, 3], DEDICATED, ISOLATE)]),
    ({"hw:cpu_policy": "dedicated",
      "trait:HW_CPU_HYPERTHREADING": "required"},
     [([], [0, 1, 2, 3], DEDICATED, REQUIRE)]),
    ({"resources:PCPU": "4", "trait1:HW_CPU_HYPERTHREADING": "forbidden"},
     [([], [0, 1, 2, 3], DEDICATED, ISOLATE)]),
])
def test_cpu_policy_and_thread_policy_from_placement_specs(specs, expected):
    assert cells(specs) == expected


@pytest.mark.parametrize("specs, key, value, reason", [
    ({"resources:PCPU": "4", "hw:cpu_policy": "dedicated"}, "resources:PCPU",
     "4", "it cannot be combined with hw:cpu_policy or the image's "
          "hw_cpu_policy; use one or the other"),
    ({"resources:VCPU": "4", "hw:cpu_policy": "shared"}, "resources:VCPU",
     "4", "it cannot be combined with hw:cpu_policy or the image's "
          "hw_cpu_policy; use one or the other"),
    ({"resources:PCPU": "3"}, "resources:PCPU", "3",
     "must be the flavor's 4 vCPUs"),
    ({"resources:PCPU": "4", "hw:emulator_threads_policy": "isolate"},
     "resources:PCPU", "4",
     "must be the flavor's 4 vCPUs plus 1 for the isolated emulator "
     "threads"),
    ({"hw:cpu_policy": "dedicated", "hw:cpu_thread_policy": "prefer",
      "trait:HW_CPU_HYPERTHREADING": "forbidden"},
     "trait:HW_CPU_HYPERTHREADING", "forbidden",
     "the trait HW_CPU_HYPERTHREADING cannot be combined with "
     "hw:cpu_thread_policy or hw_cpu_thread_policy; use one or the other"),
])
def test_inconsistent_cpu_specs_are_named(specs, key, value, reason):
    with pytest.raises(Invalid) as err:
        cells(specs)
    assert str(err.value) == \
        f"Invalid flavor request {key}={value!r}: {reason}"


def test_the_image_cpu_policy_conflicts_with_a_pcpu_request():
    image = image_meta_obj.ImageMeta.from_dict(
        {"properties": {"hw_cpu_policy": "dedicated"}})
    with pytest.raises(Invalid) as err:
        cells({"resources:PCPU": "4"}, image)
    assert err.value.kwargs["key"] == "resources:PCPU"


def test_the_hyperthreading_trait_needs_a_pinned_guest():
    """As Nova: the trait sets a thread policy, which a shared guest may
    not have."""
    with pytest.raises(hw.InvalidNUMARequest):
        cells({"trait:HW_CPU_HYPERTHREADING": "required"})
    with pytest.raises(hw.InvalidNUMARequest):
        cells({"hw:cpu_policy": SHARED,
               "trait:HW_CPU_HYPERTHREADING": "forbidden"})
