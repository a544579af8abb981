"""An agent one release older: its calls name object versions one step
back, and the conductor answers at those versions."""
import logging

import pytest
from oslo_utils import versionutils

from hoststate import exception
from hoststate import rpc
from hoststate.conductor import manager
from hoststate.conductor import rpcapi
from hoststate.objects import base
from hoststate.objects import compute_node as cn_obj
from hoststate.objects import indirection

from support.conductor import agent_context


def one_step_back(version):
    major, minor = versionutils.convert_version_to_tuple(version)
    return f"{major}.{max(minor - 1, 0)}"


def _manifest_one_step_back():
    return {name: one_step_back(classes[0].VERSION) for name, classes in
            base.HoststateObjectRegistry.hoststate_classes.items()}


def _raw(bus_conf):
    return rpc.get_client(bus_conf, rpcapi.TOPIC, "1.0",
                          timeout=20).prepare(namespace="objects")


def _stored_node(ctx, host="compute-1"):
    with indirection.serving_locally():
        node = cn_obj.ComputeNode(
            ctx, host=host, hypervisor_hostname="n1", vcpus=8,
            memory_mb=4096, local_gb=10, vcpus_used=0, memory_mb_used=0,
            local_gb_used=0, hypervisor_type="fake", hypervisor_version=1,
            cpu_info="{}", driver_traits=["HW_CPU_X86_AVX2"])
        node.create()
    return node


def test_a_read_is_answered_at_the_callers_versions(conductor, bus_conf,
                                                    ctx):
    node = _stored_node(ctx)
    manifest = _manifest_one_step_back()
    assert manifest["ComputeNode"] == "1.6"
    answer = _raw(bus_conf).call(
        agent_context(), "object_class_action_versions",
        objname="ComputeNode", objmethod="get_by_uuid",
        object_versions=manifest, args=[node.uuid], kwargs={})
    # 1.7 added driver_traits: a 1.6 agent gets the node without them
    assert answer.VERSION == "1.6"
    assert answer.uuid == node.uuid
    assert not answer.obj_attr_is_set("driver_traits")


def test_a_save_of_an_older_object_is_served(conductor, bus_conf, ctx):
    node = _stored_node(ctx)
    with indirection.serving_locally():
        older = cn_obj.ComputeNode.get_by_uuid(ctx, node.uuid)
    older.vcpus_used = 2
    primitive = older.obj_to_primitive(target_version="1.6")
    updates, result = _raw(bus_conf).call(
        agent_context(), "object_action", objinst=primitive,
        objmethod="save", args=[], kwargs={})
    assert result is None
    assert updates["generation"] == node.generation + 1
    with indirection.serving_locally():
        stored = cn_obj.ComputeNode.get_by_uuid(ctx, node.uuid)
    # what the older agent did not know about is left as it was
    assert (stored.vcpus_used, stored.driver_traits) == (
        2, ["HW_CPU_X86_AVX2"])


def test_an_object_too_new_for_the_agent_is_backported(conductor, ctx):
    node = _stored_node(ctx)
    with indirection.serving_locally():
        newest = cn_obj.ComputeNode.get_by_uuid(ctx, node.uuid)
    manifest = _manifest_one_step_back()
    back = indirection.current_api().object_backport_versions(
        agent_context(), newest, manifest)
    assert (back.VERSION, back.uuid) == ("1.6", node.uuid)
    assert not back.obj_attr_is_set("driver_traits")


def test_a_refusal_is_logged(conductor, ctx, caplog):
    caplog.set_level(logging.WARNING, logger=manager.LOG.name)
    with pytest.raises(exception.ConductorRefused):
        cn_obj.ComputeNodeList.get_all(agent_context())
    assert [r.getMessage() for r in caplog.records
            if r.name == manager.LOG.name] == [
        "conductor refused ComputeNodeList.get_all for host 'compute-1': "
        "not on the conductor's allow-list"]
