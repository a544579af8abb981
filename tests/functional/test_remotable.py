"""Remotable methods work for a process that has no database at all.

A minimal in-process stand-in for the conductor serves the calls: it gets
serialised objects, runs the method with its own database engine, and sends
the result back serialised. The caller's context has no engine, so every
read and write here must have gone through the indirection API.
"""
import contextlib

import pytest

from hoststate import context as hs_context
from hoststate import exception
from hoststate.objects import base
from hoststate.objects import compute_node as cn_obj
from hoststate.objects import indirection
from hoststate.objects import service as service_obj


class InProcessConductor:
    """Serves remotable calls the way ovo's indirection API expects."""

    def __init__(self, engine):
        self.engine = engine
        self.calls = []

    @contextlib.contextmanager
    def _serving(self, context):
        # While serving, calls run locally instead of looping back here.
        with indirection.serving_locally():
            yield hs_context.RequestContext.from_dict(context.to_dict(),
                                                      engine=self.engine)

    @staticmethod
    def _over_the_wire(obj, versions=None):
        if not isinstance(obj, base.HoststateObject):
            return obj
        cls = type(obj)
        target = (versions or {}).get(cls.obj_name())
        return cls.obj_from_primitive(obj.obj_to_primitive(
            target_version=target, version_manifest=versions))

    def object_class_action_versions(self, context, objname, objmethod,
                                     object_versions, args, kwargs):
        self.calls.append((objname, objmethod))
        cls = base.HoststateObjectRegistry.newest(objname)
        with self._serving(context) as server_context:
            result = getattr(cls, objmethod)(server_context, *args, **kwargs)
        return self._over_the_wire(result, object_versions)

    def object_action(self, context, objinst, objmethod, args, kwargs):
        self.calls.append((objinst.obj_name(), objmethod))
        with self._serving(context) as server_context:
            served = self._over_the_wire(objinst)
            before = served.obj_clone()
            served._context = server_context
            result = getattr(served, objmethod)(*args, **kwargs)
        updates = {
            name: field.to_primitive(served, name, getattr(served, name))
            for name, field in served.fields.items()
            if served.obj_attr_is_set(name) and (
                not before.obj_attr_is_set(name)
                or getattr(before, name) != getattr(served, name))}
        updates["obj_what_changed"] = served.obj_what_changed()
        return updates, result

    def object_backport_versions(self, context, objinst, object_versions):
        return self._over_the_wire(objinst, object_versions)


@pytest.fixture
def remote_ctx(ctx):
    conductor = InProcessConductor(ctx.engine)
    indirection.set_api(conductor)
    try:
        yield hs_context.get_admin_context(engine=None), conductor
    finally:
        indirection.set_api(None)


def test_create_save_and_get_through_the_conductor(remote_ctx):
    ctx, conductor = remote_ctx
    service = service_obj.Service(ctx, host="h1", binary="nova-compute",
                                  topic="compute")
    service.create()
    service.report_count = 1
    service.save()

    loaded = service_obj.Service.get_by_id(ctx, service.id)

    assert conductor.calls == [("Service", "create"), ("Service", "save"),
                               ("Service", "get_by_id")]
    assert (loaded.report_count, loaded.generation) == (1, 1)
    assert loaded.last_seen_up is not None
    assert (service.id, service.generation) == (loaded.id, 1)
    assert service.obj_what_changed() == set()


def test_errors_raised_by_the_server_reach_the_caller(remote_ctx):
    ctx, _ = remote_ctx
    with pytest.raises(exception.ComputeNodeNotFound):
        cn_obj.ComputeNode.get_by_uuid(ctx, "6b5b1a54-7a4e-4c35-a2c7-3f0f4a9e0c11")


def test_without_a_conductor_a_context_without_engine_cannot_read():
    ctx = hs_context.get_admin_context(engine=None)
    with pytest.raises(exception.DBError, match="names no database engine"):
        service_obj.ServiceList.get_all(ctx)
