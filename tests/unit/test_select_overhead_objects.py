"""``HoststateObject.obj_get`` reads a set field where oslo.versionedobjects
keeps it, and answers as the attribute does: the set value (None when
set to None), the default when unset, AttributeError for a name that is
no field, whatever the instance's ``__dict__`` holds.
"""
import pytest

from hoststate.objects import flavor as flavor_obj
from hoststate.objects import request_spec


def test_a_set_field_is_its_value_as_the_attribute_gives_it():
    flavor = flavor_obj.Flavor(id=1, name="m1", vcpus=2, extra_specs={})
    for name in ("id", "name", "vcpus", "extra_specs"):
        assert flavor.obj_get(name, "unused") is getattr(flavor, name)


def test_a_field_set_to_none_is_none_not_the_default():
    spec = request_spec.RequestSpec(availability_zone=None)
    assert spec.obj_get("availability_zone", "az1") is None


def test_an_unset_field_is_the_default_and_stays_unset():
    flavor = flavor_obj.Flavor(id=1)
    assert flavor.obj_get("vcpus") is None
    assert flavor.obj_get("vcpus", 4) == 4
    assert not flavor.obj_attr_is_set("vcpus")


def test_a_name_that_is_no_field_raises_even_if_set_in_the_dict():
    flavor = flavor_obj.Flavor(id=1)
    with pytest.raises(AttributeError):
        flavor.obj_get("bogus")
    # ``trusted`` writes names unchecked: still no field, still refused
    trusted = flavor_obj.Flavor.trusted(bogus=3)
    with pytest.raises(AttributeError):
        trusted.obj_get("bogus")
