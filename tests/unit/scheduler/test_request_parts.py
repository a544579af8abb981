"""The request vector's flavor and image parts are memoized by value
(``scheduler.request_parts``): the same values give the same answers
without work, other values (an object changed in place included) are
computed again, and a NUMA topology or an error is never shared."""
import pytest

from hoststate import exception
from hoststate.hardware import numa as hw_numa
from hoststate.objects import flavor as flavor_obj
from hoststate.objects import image_meta
from hoststate.objects import request_spec
from hoststate.scheduler import request as request_mod
from hoststate.scheduler import request_parts

IMAGE = "22222222-2222-2222-2222-222222222222"


def _spec(extra_specs=None, properties=None, memory_mb=2048, image=True):
    flavor = flavor_obj.Flavor(id=1, flavorid="m1", name="m1", vcpus=2,
                               memory_mb=memory_mb, root_gb=20,
                               ephemeral_gb=1, swap=512,
                               extra_specs=dict(extra_specs or {}))
    return request_spec.RequestSpec.from_components(
        "f3c1a8a4-2b7e-4f3b-9e0c-8d1b6a5c4e21", flavor,
        image={"id": IMAGE, "properties": dict(properties or {})}
        if image else None)


def _parts(spec):
    request = request_mod.RequestVector(spec)
    return request, request_parts.of(
        spec.flavor, tuple(getattr(spec.flavor, n)
                           for n in request_parts.FLAVOR_FIELDS),
        request.image_id, request.extra_specs, request.image_props)


def test_equal_values_share_one_answer_and_others_do_not():
    _, first = _parts(_spec({"trait:HW_CPU_X86_AVX": "required"}))
    _, again = _parts(_spec({"trait:HW_CPU_X86_AVX": "required"}))
    _, other = _parts(_spec({"trait:HW_CPU_X86_AVX": "forbidden"}))
    assert again is first
    assert other is not first
    assert first.traits.required == frozenset(["HW_CPU_X86_AVX"])
    assert other.traits.forbidden == frozenset(["HW_CPU_X86_AVX"])


def test_a_flavor_changed_in_place_is_computed_again():
    spec = _spec()
    request, before = _parts(spec)
    assert request.wanted().memory_mb == 2048
    spec.flavor.memory_mb = 4096
    request, after = _parts(spec)
    assert after is not before
    assert request.wanted().memory_mb == 4096
    # root 20 + ephemeral 1 + swap 512 MiB, rounded up to whole GiB
    assert request.wanted().disk_gb == 22


def test_booting_from_a_volume_is_its_own_key():
    with_image = request_mod.RequestVector(_spec())
    from_volume = request_mod.RequestVector(_spec(image=False))
    assert with_image.wanted().disk_gb == 22
    assert from_volume.wanted().disk_gb == 2      # no root disk


def test_image_properties_are_the_set_fields_in_field_order():
    properties = {"hw_architecture": "AMD64", "hw_numa_nodes": 2,
                  "traits_required": ["CUSTOM_X"],
                  "hw_numa_cpus": [{0, 1}, {2, 3}], "hw_numa_mem": [512, 512]}
    image = image_meta.ImageMeta.from_dict({"id": IMAGE,
                                            "properties": properties})
    props = image.properties
    expected = {name: getattr(props, name) for name in props.fields
                if props.obj_attr_is_set(name) and
                getattr(props, name) is not None}
    found = request_parts.image_properties(image)
    assert list(found.items()) == list(expected.items())
    assert found["hw_architecture"] == "x86_64"


def test_a_numa_topology_is_built_for_each_request():
    spec = _spec({"hw:numa_nodes": "2"})
    first = request_mod.RequestVector(spec, max_vcpus=8).numa_request
    second = request_mod.RequestVector(spec, max_vcpus=8).numa_request
    assert len(first.cells) == 2
    assert second is not first
    assert second.obj_to_primitive() == first.obj_to_primitive()


def test_a_numa_request_too_large_raises_every_time():
    spec = _spec({"hw:numa_nodes": "2"})
    for _ in range(2):
        with pytest.raises(hw_numa.NUMARequestTooLarge):
            request_mod.RequestVector(spec, max_vcpus=1)


def test_a_bad_trait_spec_raises_every_time():
    spec = _spec({"trait:HW_CPU_X86_AVX": "preferred"})
    for _ in range(2):
        with pytest.raises(exception.InvalidSchedulerRequest) as caught:
            request_mod.RequestVector(spec)
        assert caught.value.kwargs["field"] == "trait:HW_CPU_X86_AVX"


def test_values_that_are_not_plain_data_are_not_kept():
    assert request_parts._key((2, 2048, 20, 1, 512), IMAGE,
                              {"a": object()}, {}) is None
    assert request_parts._key((2, 2048, 20, 1, 512), IMAGE, {"a": "1"},
                              {"hw_numa_cpus": [{0, 1}]}) is not None
    # an int and a float of one value are different keys
    assert request_parts._key((2,), None, {}, {}) != \
        request_parts._key((2.0,), None, {}, {})
