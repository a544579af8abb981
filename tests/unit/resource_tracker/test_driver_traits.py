"""What the drivers report as traits: the linux driver's CPU flags, SMT and
image types, the fake driver's configured ones, and the check every
reported list goes through."""
import pytest

from hoststate.objects import traits as traits_obj
from hoststate.resource_tracker import driver
from hoststate.resource_tracker import linux_probe
from hoststate.resource_tracker.fake_driver import FakeDriver, NodeInventory

from .test_driver import full_resources


def _info(arch="x86_64", features=(), threads=1):
    return {"arch": arch, "features": sorted(features),
            "topology": {"sockets": 1, "cores": 4, "threads": threads}}


@pytest.mark.parametrize("features, traits", [
    ((), []),
    # the kernel's spellings: pni is SSE3, sse4_2 SSE4.2, pclmulqdq CLMUL
    (("pni", "sse4_2", "pclmulqdq", "fpu", "de"),
     ["HW_CPU_X86_CLMUL", "HW_CPU_X86_SSE3", "HW_CPU_X86_SSE42"]),
    # one flag, two traits (the generic and the vendor's name)
    (("vmx",), ["HW_CPU_X86_INTEL_VMX", "HW_CPU_X86_VMX"]),
    (("svm", "avx512_vnni", "sha_ni"),
     ["HW_CPU_X86_AMD_SVM", "HW_CPU_X86_AVX512VNNI", "HW_CPU_X86_SHA",
      "HW_CPU_X86_SVM"]),
])
def test_x86_flags_become_cpu_traits(features, traits):
    assert linux_probe.cpu_traits(_info(features=features)) == traits


def test_other_architectures_report_no_cpu_traits():
    """An ARM CPU lists "aes" too; it is not AES-NI."""
    assert linux_probe.cpu_traits(_info("aarch64", ("aes", "sha2"))) == []


def test_every_mapped_trait_is_a_standard_trait():
    mapped = {t for names in linux_probe.X86_FLAG_TRAITS.values()
              for t in names}
    assert mapped <= traits_obj.standard_traits()


def test_node_traits_add_smt_and_image_types():
    assert linux_probe.node_traits(_info(features=("avx",), threads=2),
                                   ("qcow2", "raw", "floppy")) == [
        "COMPUTE_IMAGE_TYPE_QCOW2", "COMPUTE_IMAGE_TYPE_RAW",
        "HW_CPU_HYPERTHREADING", "HW_CPU_X86_AVX"]
    assert linux_probe.node_traits(_info(threads=1)) == []


def test_the_fake_driver_reports_its_inventorys_traits_sorted():
    fake = FakeDriver({"n1": NodeInventory(
        vcpus=1, memory_mb=512, local_gb=1,
        traits=["HW_CPU_X86_SSE", "CUSTOM_B", "CUSTOM_B"])})
    assert fake.get_available_resource("n1")["traits"] == \
        ["CUSTOM_B", "HW_CPU_X86_SSE"]
    fake.set_inventory("n1", traits=[])
    assert fake.get_available_resource("n1")["traits"] == []


@pytest.mark.parametrize("traits, message", [
    (["CUSTOM_OK", "avx"], "traits of node n1 cannot be 'avx': not a "
     "standard trait (os-traits) nor a custom one (CUSTOM_...)"),
    ("HW_CPU_X86_AVX", "traits of node n1 cannot be 'HW_CPU_X86_AVX': a "
     "list of trait names is required"),
])
def test_reported_traits_are_checked(traits, message):
    with pytest.raises(traits_obj.InvalidTrait) as refused:
        driver.validate_resources(full_resources(traits=traits))
    assert str(refused.value) == message
