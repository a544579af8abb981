"""Tests of ImageMeta / ImageMetaProps: Glance dicts in, typed and
canonical properties out; unknown properties ignored, bad known ones
refused."""
import pytest

from hoststate import exception
from hoststate.objects import image_meta

NS = "hoststate_object."
IMAGE_ID = "9c4b2a0e-7d8f-4d0e-8a6a-0c2f5b1e9d31"

GLANCE_V1 = {
    "id": IMAGE_ID, "name": "cirros", "min_ram": 128, "min_disk": 1,
    "size": 16338944, "disk_format": "qcow2", "container_format": "bare",
    "status": "active", "checksum": "ee1eca47dc88f4879d8a229cc70a07c6",
    "properties": {
        "hw_architecture": "x86_64", "img_hv_type": "kvm",
        "hw_vm_mode": "hvm", "img_hv_requested_version": ">=6.0",
        "hw_cpu_policy": "dedicated", "hw_cpu_thread_policy": "isolate",
        "hw_numa_nodes": "2", "hw_mem_page_size": "2MB",
        "hw_pci_numa_affinity_policy": "preferred", "os_type": "linux",
        "hw_maxphysaddr_bits": "42", "hw_maxphysaddr_mode": "emulate",
        "owner_specified.openstack.sha256": "abc", "company_cost_centre": "7",
    },
}


def test_from_glance_v1_dict_types_every_known_property():
    meta = image_meta.ImageMeta.from_dict(GLANCE_V1)
    assert (meta.id, meta.name, meta.min_ram, meta.min_disk, meta.size,
            meta.disk_format, meta.container_format) == (
        IMAGE_ID, "cirros", 128, 1, 16338944, "qcow2", "bare")
    props = meta.properties
    props.obj_reset_changes()
    assert props.obj_to_primitive()[NS + "data"] == {
        "hw_architecture": "x86_64", "img_hv_type": "kvm",
        "hw_vm_mode": "hvm", "img_hv_requested_version": ">=6.0",
        "hw_cpu_policy": "dedicated", "hw_cpu_thread_policy": "isolate",
        "hw_numa_nodes": 2, "hw_mem_page_size": "2MB",
        "hw_pci_numa_affinity_policy": "preferred", "os_type": "linux",
        "hw_maxphysaddr_bits": 42, "hw_maxphysaddr_mode": "emulate"}


def test_unknown_properties_and_keys_are_ignored_not_errors():
    meta = image_meta.ImageMeta.from_dict(GLANCE_V1)
    assert not meta.properties.obj_attr_is_set("hw_numa_cpus")
    for name in ("status", "checksum", "company_cost_centre"):
        assert name not in meta.fields
        assert name not in meta.properties.fields


def test_glance_v2_flat_properties_are_read():
    flat = {"id": IMAGE_ID, "min_ram": 0, "hw_architecture": "aarch64",
            "visibility": "public", "tags": ["a"]}
    meta = image_meta.ImageMeta.from_dict(flat)
    assert meta.properties.hw_architecture == "aarch64"


def test_nested_properties_win_over_flat_ones():
    image = {"hw_vm_mode": "xen", "properties": {"hw_vm_mode": "hvm"}}
    assert image_meta.ImageMeta.from_dict(image).properties.hw_vm_mode == \
        "hvm"


def test_values_are_canonicalized():
    props = image_meta.ImageMetaProps.from_dict({
        "hw_architecture": "AMD64", "img_hv_type": "xapi",
        "hw_vm_mode": "pv", "hw_cpu_policy": "Shared", "os_type": "WINDOWS"})
    assert (props.hw_architecture, props.img_hv_type, props.hw_vm_mode,
            props.hw_cpu_policy, props.os_type) == (
        "x86_64", "xen", "xen", "shared", "windows")


def test_legacy_names_are_mapped_and_new_names_win():
    props = image_meta.ImageMetaProps.from_dict({
        "architecture": "i386", "hypervisor_type": "qemu",
        "vm_mode": "hvm", "hypervisor_version_requires": ">=2.0",
        "hw_vm_mode": "exe"})
    assert (props.hw_architecture, props.img_hv_type,
            props.img_hv_requested_version, props.hw_vm_mode) == (
        "i686", "qemu", ">=2.0", "exe")


def test_numbered_numa_properties_become_lists():
    props = image_meta.ImageMetaProps.from_dict({
        "hw_numa_nodes": "2", "hw_numa_cpus.0": "0-2,^1",
        "hw_numa_cpus.1": "1,3-4", "hw_numa_mem.0": "512",
        "hw_numa_mem.1": "1536",
        "hw_numa_cpus.3": "5"})           # after a gap: ignored
    assert props.hw_numa_cpus == [{0, 2}, {1, 3, 4}]
    assert props.hw_numa_mem == [512, 1536]


@pytest.mark.parametrize("spec,cpus", [
    ("0-3,^2,6", {0, 1, 3, 6}), ("5", {5}), (" 1 , 2 ", {1, 2}),
    ("0-7,^2-5", {0, 1, 6, 7}), ("", set()),
])
def test_parse_cpu_spec(spec, cpus):
    assert image_meta.parse_cpu_spec(spec) == cpus


@pytest.mark.parametrize("spec", ["a", "3-1", "1-", "-1", "0-2-4"])
def test_parse_cpu_spec_rejects_nonsense(spec):
    with pytest.raises(ValueError):
        image_meta.parse_cpu_spec(spec)


def test_unset_property_reads_as_default():
    props = image_meta.ImageMeta.from_dict({"id": IMAGE_ID}).properties
    assert props.obj_get("hw_architecture") is None
    assert props.obj_get("hw_numa_nodes", 1) == 1


def test_null_minimums_read_as_zero():
    meta = image_meta.ImageMeta.from_dict({"min_ram": None, "min_disk": None})
    assert (meta.min_ram, meta.min_disk, meta.id) == (0, 0, None)


@pytest.mark.parametrize("name,value", [
    ("hw_numa_nodes", "two"), ("hw_numa_nodes", "0"),
    ("hw_architecture", "z80"), ("img_hv_type", "bochs"),
    ("hw_cpu_policy", "exclusive"), ("hw_maxphysaddr_bits", "-1"),
    ("img_hv_requested_version", "about six"),
    ("hw_pci_numa_affinity_policy", "strict"),
    ("hw_numa_cpus.0", "0-x"), ("hw_numa_mem.0", "-5"),
])
def test_bad_known_property_raises_naming_it(name, value):
    with pytest.raises(exception.ObjectFieldInvalid) as err:
        image_meta.ImageMeta.from_dict({"properties": {name: value}})
    assert err.value.objname == "ImageMetaProps"
    assert err.value.field == name.split(".")[0]


@pytest.mark.parametrize("image,field", [
    ({"min_ram": -1}, "min_ram"), ({"min_disk": "big"}, "min_disk"),
    ({"id": "not-a-uuid"}, "id"), ({"size": -3}, "size"),
    ({"properties": ["hw_numa_nodes"]}, "properties"),
])
def test_bad_image_values_raise_naming_the_field(image, field):
    with pytest.raises(exception.ObjectFieldInvalid) as err:
        image_meta.ImageMeta.from_dict(image)
    assert (err.value.objname, err.value.field) == ("ImageMeta", field)


def test_unknown_field_on_construction_raises():
    with pytest.raises(exception.UnknownObjectField):
        image_meta.ImageMetaProps(hw_cost_centre="7")


def test_round_trip_through_primitive():
    meta = image_meta.ImageMeta.from_dict(dict(
        GLANCE_V1, properties=dict(GLANCE_V1["properties"],
                                   **{"hw_numa_cpus.0": "0-1"})))
    # Equality compares primitives, change lists included (in set order).
    meta.obj_reset_changes(recursive=True)
    again = image_meta.ImageMeta.obj_from_primitive(meta.obj_to_primitive())
    assert again == meta
    assert again.properties.hw_numa_cpus == [{0, 1}]


def test_image_without_properties_has_empty_props():
    meta = image_meta.ImageMeta(id=IMAGE_ID)
    meta.obj_reset_changes(recursive=True)
    assert meta.obj_to_primitive() == {
        NS + "name": "ImageMeta", NS + "namespace": "hoststate",
        NS + "version": "1.1", NS + "data": {
            "id": IMAGE_ID, "name": None, "min_ram": 0, "min_disk": 0,
            "size": None, "disk_format": None, "container_format": None,
            "properties": {
                NS + "name": "ImageMetaProps", NS + "namespace": "hoststate",
                NS + "version": "1.1", NS + "data": {}}}}
