"""Tests of usage arithmetic (hoststate.hardware.usage)."""
import pytest

from hoststate.hardware import usage as hw_usage
from hoststate.objects import flavor as flavor_obj
from hoststate.objects import instance as instance_obj

Usage = hw_usage.Usage


def flavor(vcpus=2, memory_mb=2048, root_gb=20, ephemeral_gb=0, swap=0):
    return flavor_obj.Flavor(flavorid="f", name="f", vcpus=vcpus,
                             memory_mb=memory_mb, root_gb=root_gb,
                             ephemeral_gb=ephemeral_gb, swap=swap)


def instance(image_ref="img-1", flavor=None, **columns):
    inst = instance_obj.Instance(image_ref=image_ref, flavor=flavor)
    for name, value in columns.items():
        setattr(inst, name, value)
    return inst


# --- Usage arithmetic --------------------------------------------------------

def test_usage_adds_subtracts_and_scales():
    a, b = Usage(2, 2048, 20.5), Usage(1, 512, 1.25)
    assert a + b == Usage(3, 2560, 21.75)
    assert a - b == Usage(1, 1536, 19.25)
    assert a.scaled(-1) == -a == Usage(-2, -2048, -20.5)
    assert a.scaled(1) == a
    assert a + b - b == a
    assert sum([a, b], hw_usage.ZERO) == a + b


def test_usage_is_frozen():
    with pytest.raises(AttributeError):
        Usage().vcpus = 1


# --- from a flavor -----------------------------------------------------------

@pytest.mark.parametrize("sizes, is_bfv, expected", [
    # root 20 + ephemeral 0 + swap 0
    (dict(root_gb=20), False, Usage(2, 2048, 20.0)),
    # root 20 + ephemeral 10 + swap 512/1024 = 30.5 (Nova adds swap / 1024)
    (dict(root_gb=20, ephemeral_gb=10, swap=512), False, Usage(2, 2048, 30.5)),
    # boot from volume: root counts 0 -> 0 + 10 + 0.5 = 10.5
    (dict(root_gb=20, ephemeral_gb=10, swap=512), True, Usage(2, 2048, 10.5)),
    # swap 1 MiB: 1/1024 of a GiB, kept exactly (a binary fraction)
    (dict(root_gb=0, swap=1), False, Usage(2, 2048, 0.0009765625)),
    # swap 3072 MiB = 3 GiB
    (dict(root_gb=1, swap=3072), False, Usage(2, 2048, 4.0)),
])
def test_usage_from_flavor(sizes, is_bfv, expected):
    assert hw_usage.usage_from_flavor(flavor(**sizes), is_bfv) == expected


def test_usage_from_flavor_dict():
    assert hw_usage.usage_from_flavor(
        {"vcpus": 4, "memory_mb": 1024, "root_gb": 5, "swap": 2048}) == \
        Usage(4, 1024, 7.0)


# --- boot from volume --------------------------------------------------------

@pytest.mark.parametrize("image_ref, expected", [
    ("img-1", False), ("", True), (None, True),
])
def test_is_boot_from_volume_is_an_empty_image_ref(image_ref, expected):
    assert hw_usage.is_boot_from_volume(instance(image_ref)) is expected
    assert hw_usage.is_boot_from_volume({"image_ref": image_ref}) is expected


def test_unset_image_ref_is_boot_from_volume():
    assert hw_usage.is_boot_from_volume(instance_obj.Instance()) is True


# --- from an instance --------------------------------------------------------

def test_nova_bfv_instance_counts_root_gb_zero():
    # Nova: test_get_usage_dict_return_0_root_gb_for_bfv_instance
    inst = instance("", flavor(root_gb=1, ephemeral_gb=0))
    assert hw_usage.usage_from_instance(inst) == Usage(2, 2048, 0.0)


def test_nova_usage_includes_swap():
    # Nova: test_get_usage_dict_include_swap; 1 root + 10/1024 swap
    inst = instance("img-1", flavor(root_gb=1, swap=10))
    assert hw_usage.usage_from_instance(inst).disk_gb == 1 + 10 / 1024


def test_is_bfv_argument_overrides_the_heuristic():
    inst = instance("img-1", flavor(root_gb=20))
    assert hw_usage.usage_from_instance(inst, is_bfv=True).disk_gb == 0.0
    bfv = instance("", flavor(root_gb=20))
    assert hw_usage.usage_from_instance(bfv, is_bfv=False).disk_gb == 20.0


def test_instance_without_flavor_uses_its_columns():
    # 4 vcpus, 1024 MiB, root 10 + ephemeral 5 = 15 (columns carry no swap)
    inst = instance("img-1", None, vcpus=4, memory_mb=1024, root_gb=10,
                    ephemeral_gb=5)
    assert hw_usage.usage_from_instance(inst) == Usage(4, 1024, 15.0)
    assert hw_usage.usage_from_instance(inst, is_bfv=True) == \
        Usage(4, 1024, 5.0)


def test_instance_with_nothing_set_uses_nothing():
    assert hw_usage.usage_from_instance(instance_obj.Instance()) == \
        hw_usage.ZERO


# --- the integer Nova stores -------------------------------------------------

@pytest.mark.parametrize("disks, reserved_mb, expected", [
    ([], 0, 0),
    ([], 1536, 1),                 # int(1.5): reserved disk truncated too
    ([20.5], 0, 20),               # 20 + int(0.5)
    ([0.5, 0.5], 0, 0),            # each instance truncated on its own,
                                   # not int(1.0) = 1 of the sum
    ([20.5, 10.75, 4.0], 2048, 36),  # 2 + 20 + 10 + 4
])
def test_local_gb_used_truncates_each_instance(disks, reserved_mb, expected):
    usages = [Usage(disk_gb=d) for d in disks]
    assert hw_usage.local_gb_used(usages, reserved_mb) == expected
