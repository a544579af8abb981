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


# --- Nova's usage of an instance ----------------------------------------------

def test_nova_bfv_instance_counts_root_gb_zero():
    # Nova: test_get_usage_dict_return_0_root_gb_for_bfv_instance
    inst = instance("", flavor(root_gb=1, ephemeral_gb=0))
    assert hw_usage.usage_from_flavor(
        inst.flavor, hw_usage.is_boot_from_volume(inst)) == \
        Usage(2, 2048, 0.0)


def test_nova_usage_includes_swap():
    # Nova: test_get_usage_dict_include_swap; 1 root + 10/1024 swap
    inst = instance("img-1", flavor(root_gb=1, swap=10))
    assert hw_usage.usage_from_flavor(
        inst.flavor, hw_usage.is_boot_from_volume(inst)).disk_gb == \
        1 + 10 / 1024
