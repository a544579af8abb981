"""Trait names (standard os-traits names or CUSTOM_*), their stored text,
and the trait fields of ComputeNode and ImageMetaProps."""
import pytest

from hoststate import exception
from hoststate.objects import compute_node as cn_obj
from hoststate.objects import image_meta
from hoststate.objects import traits

NOT_STANDARD = ("not a standard trait (os-traits) nor a custom one "
                "(CUSTOM_...)")
BAD_CUSTOM = ("a custom trait is CUSTOM_ followed by upper-case letters, "
              "digits and _ only")


@pytest.mark.parametrize("name, reason", [
    ("HW_CPU_X86_AVX2", None),
    ("COMPUTE_IMAGE_TYPE_QCOW2", None),
    ("CUSTOM_GPU_A100", None),
    ("CUSTOM_" + "X" * 248, None),                      # 255 characters
    ("CUSTOM_" + "X" * 249, "longer than 255 characters (256)"),
    ("CUSTOM_", BAD_CUSTOM),
    ("CUSTOM_gpu", BAD_CUSTOM),
    ("CUSTOM_A-B", BAD_CUSTOM),
    ("hw_cpu_x86_avx2", NOT_STANDARD),                  # names are exact
    ("HW_CPU_X86_AVX9", NOT_STANDARD),
    ("", NOT_STANDARD),
    (5, "a trait name is text, not a int"),
])
def test_what_a_trait_name_is(name, reason):
    assert traits.problem(name) == reason


def test_check_sorts_and_drops_repeats():
    assert traits.check(["HW_CPU_X86_SSE", "CUSTOM_B", "HW_CPU_X86_SSE"],
                        "f") == ["CUSTOM_B", "HW_CPU_X86_SSE"]


def test_check_names_the_field_and_the_first_bad_name():
    with pytest.raises(traits.InvalidTrait) as refused:
        traits.check(["CUSTOM_OK", "AVX", "CUSTOM_x"], "--trait")
    assert (refused.value.field, refused.value.value) == ("--trait", "AVX")
    assert str(refused.value) == f"--trait cannot be 'AVX': {NOT_STANDARD}"


@pytest.mark.parametrize("names, text", [
    ([], None),
    (None, None),
    (["HW_CPU_X86_SSE", "CUSTOM_B", "CUSTOM_B"],
     '["CUSTOM_B", "HW_CPU_X86_SSE"]'),
])
def test_stored_text_is_a_sorted_list_or_null(names, text):
    assert traits.to_text(names) == text
    assert traits.from_text(text) == sorted(set(names or ()))


@pytest.mark.parametrize("disk_format, trait", [
    ("qcow2", "COMPUTE_IMAGE_TYPE_QCOW2"),
    ("raw", "COMPUTE_IMAGE_TYPE_RAW"),
    ("VHDX", "COMPUTE_IMAGE_TYPE_VHDX"),
    ("floppy", None),              # os-traits has no such trait
    ("", None),
    (None, None),
])
def test_image_type_trait(disk_format, trait):
    assert traits.image_type_trait(disk_format) == trait


# --- the object fields -----------------------------------------------------------

def test_node_trait_fields_are_sorted_without_repeats():
    node = cn_obj.ComputeNode(driver_traits=["HW_CPU_X86_SSE2",
                                             "HW_CPU_X86_AVX",
                                             "HW_CPU_X86_AVX"],
                              operator_traits=["CUSTOM_SSD"])
    assert node.driver_traits == ["HW_CPU_X86_AVX", "HW_CPU_X86_SSE2"]
    assert node.traits() == ["CUSTOM_SSD", "HW_CPU_X86_AVX",
                             "HW_CPU_X86_SSE2"]


@pytest.mark.parametrize("field", ["driver_traits", "operator_traits"])
def test_a_node_refuses_a_name_that_is_no_trait(field):
    node = cn_obj.ComputeNode()
    with pytest.raises(exception.ObjectFieldInvalid) as refused:
        setattr(node, field, ["CUSTOM_OK", "custom_bad"])
    assert (refused.value.field, refused.value.value) == \
        (field, ["CUSTOM_OK", "custom_bad"])
    assert not node.obj_attr_is_set(field)


def test_a_node_before_1_7_has_no_traits():
    node = cn_obj.ComputeNode(vcpus=1, driver_traits=["HW_CPU_X86_AVX"],
                              operator_traits=["CUSTOM_X"])
    data = node.obj_to_primitive(target_version="1.6")[
        "hoststate_object.data"]
    assert data == {"vcpus": 1}
    data = node.obj_to_primitive(target_version="1.7")[
        "hoststate_object.data"]
    assert data == {"vcpus": 1, "driver_traits": ["HW_CPU_X86_AVX"],
                    "operator_traits": ["CUSTOM_X"]}


def test_update_from_virt_driver_takes_the_drivers_traits():
    node = cn_obj.ComputeNode(operator_traits=["CUSTOM_X"])
    node.update_from_virt_driver({"vcpus": 2,
                                  "traits": ["HW_CPU_X86_SSE", "CUSTOM_D"]})
    assert (node.driver_traits, node.operator_traits) == \
        (["CUSTOM_D", "HW_CPU_X86_SSE"], ["CUSTOM_X"])


# --- image properties ------------------------------------------------------------

def test_image_trait_properties_become_traits_required():
    """As Nova's ImageMetaProps: only the value "required" counts."""
    meta = image_meta.ImageMeta.from_dict({
        "id": "6a0c4b1e-8a49-4a8e-9c02-33a7f0f3c1d2", "disk_format": "qcow2",
        "properties": {"trait:HW_CPU_X86_AVX2": "required",
                       "trait:CUSTOM_FAST": "required",
                       "trait:CUSTOM_SLOW": "forbidden",
                       "trait:NOT_A_TRAIT": "maybe",
                       "hw_disk_bus": "virtio"}})
    assert meta.properties.traits_required == ["CUSTOM_FAST",
                                               "HW_CPU_X86_AVX2"]


def test_an_image_without_trait_properties_leaves_traits_unset():
    meta = image_meta.ImageMeta.from_dict({"properties": {"os_type": "linux"}})
    assert meta.properties.obj_get("traits_required") is None


def test_an_image_requiring_no_trait_names_the_property():
    with pytest.raises(exception.ObjectFieldInvalid) as refused:
        image_meta.ImageMeta.from_dict(
            {"properties": {"trait:NOT_A_TRAIT": "required"}})
    assert str(refused.value) == (
        f"ImageMetaProps.trait:NOT_A_TRAIT cannot be 'required': "
        f"{NOT_STANDARD}")


def test_image_meta_1_0_carries_props_1_0_without_traits():
    meta = image_meta.ImageMeta.from_dict(
        {"properties": {"trait:CUSTOM_FAST": "required", "os_type": "linux"}})
    primitive = meta.obj_to_primitive(target_version="1.0")
    props = primitive["hoststate_object.data"]["properties"]
    assert props["hoststate_object.version"] == "1.0"
    assert props["hoststate_object.data"] == {"os_type": "linux"}
