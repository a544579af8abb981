"""HoststateObject's quicker ``obj_attr_is_set`` and
``_obj_from_primitive`` (issue 15: a RequestSpec and its Selections
cross the bus on every select) answer and load exactly what
oslo.versionedobjects' own do, and still refuse a bad value by name."""
import uuid

import pytest
from oslo_versionedobjects import base as ovo_base

from hoststate import context as hs_context
from hoststate import exception
from hoststate import rpc
from hoststate.objects import request_spec
from hoststate.objects import selection as selection_obj
from support import specs

CTX = hs_context.RequestContext(user_id="u1")


def _selection(**changes):
    chosen = selection_obj.Selection.from_node(
        "host1", "node1", str(uuid.uuid4()), str(uuid.uuid4()),
        allocation_request={"allocations": {}}, availability_zone="az1")
    chosen.update(changes)
    return chosen


def _objects():
    spec = specs.plain_spec()
    spec.obj_reset_changes(["num_instances"])
    return [spec, _selection(), request_spec.RequestSpec()]


@pytest.mark.parametrize("obj", _objects(), ids=lambda o: o.obj_name())
def test_obj_attr_is_set_answers_as_ovo_does(obj):
    answers = {name: obj.obj_attr_is_set(name) for name in obj.fields}
    assert answers == {
        name: ovo_base.VersionedObject.obj_attr_is_set(obj, name)
        for name in obj.fields}
    assert True in answers.values() or obj.obj_name() == "RequestSpec"
    for name in obj.obj_extra_fields:
        assert obj.obj_attr_is_set(name) == \
            ovo_base.VersionedObject.obj_attr_is_set(obj, name)
    with pytest.raises(AttributeError):
        obj.obj_attr_is_set("no_such_field")


def _ovo_loaded(primitive):
    """``primitive`` loaded by ovo's own ``_obj_from_primitive``."""
    cls = ovo_base.VersionedObjectRegistry.obj_classes()[
        primitive["hoststate_object.name"]][0]
    load = ovo_base.VersionedObject._obj_from_primitive.__func__
    return load(cls, CTX, primitive["hoststate_object.version"], primitive)


@pytest.mark.parametrize("obj", _objects(), ids=lambda o: o.obj_name())
def test_an_object_loads_as_ovo_loads_it(obj):
    primitive = obj.obj_to_primitive()
    ours = type(obj).obj_from_primitive(primitive, context=CTX)
    theirs = _ovo_loaded(primitive)
    assert ours.obj_to_primitive() == theirs.obj_to_primitive() == primitive
    assert ours.obj_what_changed() == theirs.obj_what_changed()
    assert ours._context is CTX
    assert ours.VERSION == obj.VERSION


def test_an_older_version_loads_as_that_version():
    primitive = _selection().obj_to_primitive(target_version="1.0")
    loaded = selection_obj.Selection.obj_from_primitive(primitive)
    assert loaded.VERSION == "1.0"
    assert loaded.obj_to_primitive() == _ovo_loaded(primitive) \
        .obj_to_primitive()


def test_a_bad_value_is_still_refused_by_name():
    primitive = _selection().obj_to_primitive()
    primitive["hoststate_object.data"]["compute_node_uuid"] = "not-a-uuid"
    with pytest.raises(exception.ObjectFieldInvalid) as caught:
        rpc.RequestContextSerializer().deserialize_entity(CTX, primitive)
    assert (caught.value.kwargs["objname"], caught.value.kwargs["field"]) \
        == ("Selection", "compute_node_uuid")
    with pytest.raises(exception.ObjectFieldInvalid):   # as ovo's loader
        _ovo_loaded(primitive)
