"""DefaultsOnInit sets a new object's defaults as ovo's obj_set_defaults
does (issue 14 made it quicker: immutable defaults are coerced once per
class)."""
import pytest
from oslo_versionedobjects import base as ovo_base

from hoststate.objects import base
from hoststate.objects import fields

CLASSES = sorted({cls for versions in
                  base.HoststateObjectRegistry.obj_classes().values()
                  for cls in versions
                  if issubclass(cls, fields.DefaultsOnInit)},
                 key=lambda cls: (cls.obj_name(), cls.VERSION))


def _the_slow_way(cls):
    obj = cls.__new__(cls)
    base.HoststateObject.__init__(obj)
    ovo_base.VersionedObject.obj_set_defaults(obj)
    return obj


def _set_fields(obj):
    return {name: getattr(obj, name) for name in obj.fields
            if obj.obj_attr_is_set(name)}


def test_every_class_with_defaults_on_init_is_checked():
    names = {cls.obj_name() for cls in CLASSES}
    assert {"RequestSpec", "Selection", "Flavor", "ImageMeta",
            "NUMACell", "InstancePCIRequest"} <= names


@pytest.mark.parametrize("cls", CLASSES,
                         ids=lambda cls: f"{cls.obj_name()}-{cls.VERSION}")
def test_defaults_are_the_ones_obj_set_defaults_sets(cls):
    quick, slow = cls(), _the_slow_way(cls)
    assert _set_fields(quick) == _set_fields(slow)
    assert {name: type(value) for name, value in _set_fields(quick).items()} \
        == {name: type(value) for name, value in _set_fields(slow).items()}
    assert quick.obj_what_changed() == slow.obj_what_changed()


@pytest.mark.parametrize("cls", CLASSES,
                         ids=lambda cls: f"{cls.obj_name()}-{cls.VERSION}")
def test_a_mutable_default_is_an_object_of_its_own(cls):
    first, second = cls(), cls()
    for name, value in _set_fields(first).items():
        if isinstance(value, (list, dict, set)):
            assert getattr(second, name) is not value, name


def test_a_given_value_is_kept_and_the_rest_defaulted():
    from hoststate.objects import request_spec
    limits = request_spec.SchedulerLimits(vcpu=8)
    assert (limits.vcpu, limits.memory_mb, limits.disk_gb) == (8, None, None)
    assert limits.obj_what_changed() == set(limits.fields)
