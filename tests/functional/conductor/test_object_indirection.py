"""Remotable calls of an agent with no database, served by a conductor
over the bus (in-process and RabbitMQ), on every database backend."""
import oslo_messaging as messaging
import pytest

from hoststate import exception
from hoststate import rpc
from hoststate.conductor import rpcapi
from hoststate.objects import compute_node as cn_obj
from hoststate.objects import indirection
from hoststate.objects import service as service_obj
from support.databases import snapshot

from support.conductor import agent_context


def _node(ctx, host, name, **fields):
    values = dict(host=host, hypervisor_hostname=name, vcpus=8,
                  memory_mb=16384, local_gb=100, vcpus_used=0,
                  memory_mb_used=512, local_gb_used=0, hypervisor_type="fake",
                  hypervisor_version=1, cpu_info="{}")
    values.update(fields)
    node = cn_obj.ComputeNode(ctx, **values)
    node.create()
    return node


def test_an_agent_registers_and_reports_through_the_conductor(conductor,
                                                               ctx):
    agent = agent_context("compute-1")
    service = service_obj.Service(agent, host="compute-1",
                                  binary="nova-compute", topic="compute")
    service.create()
    node = _node(agent, "compute-1", "node-a")
    node.vcpus_used = 3
    node.save()
    service.report_count = 5
    service.save()

    assert agent.engine is None        # so all of it went over the bus
    with indirection.serving_locally():
        stored = cn_obj.ComputeNode.get_by_uuid(ctx, node.uuid)
        stored_service = service_obj.Service.get_by_id(ctx, service.id)
    assert (stored.host, stored.vcpus_used, stored.generation) == (
        "compute-1", 3, node.generation)
    assert node.obj_what_changed() == set()
    assert stored_service.report_count == 5


def test_reads_of_any_host_are_served(conductor, ctx):
    with indirection.serving_locally():
        other = _node(ctx, "compute-2", "node-b")
    found = cn_obj.ComputeNode.get_by_uuid(agent_context("compute-1"),
                                           other.uuid)
    assert (found.id, found.host) == (other.id, "compute-2")


def _refused(ctx, call, reason):
    before = snapshot(ctx.engine)
    with pytest.raises(exception.ConductorRefused) as info:
        call()
    assert reason in str(info.value)
    assert snapshot(ctx.engine) == before
    return info.value


def test_a_node_of_another_host_cannot_be_written(conductor, ctx):
    with indirection.serving_locally():
        theirs = _node(ctx, "compute-2", "node-b")
    forged = cn_obj.ComputeNode.get_by_uuid(agent_context("compute-1"),
                                            theirs.uuid)
    forged.vcpus_used = 8
    error = _refused(ctx, forged.save,
                     "the ComputeNode as sent belongs to compute-2")
    assert (error.objname, error.method, error.caller) == (
        "ComputeNode", "save", "compute-1")


def test_claiming_another_hosts_row_by_its_id_is_refused(conductor, ctx):
    with indirection.serving_locally():
        theirs = _node(ctx, "compute-2", "node-b")
    forged = cn_obj.ComputeNode.get_by_uuid(agent_context("compute-1"),
                                            theirs.uuid)
    forged.host = "compute-1"          # names the caller, keeps their id
    forged.vcpus_used = 8
    _refused(ctx, forged.save, "the ComputeNode as stored belongs to "
                               "compute-2")


def test_creating_a_node_for_another_host_is_refused(conductor, ctx):
    _refused(ctx, lambda: _node(agent_context("compute-1"), "compute-2",
                                "node-z"),
             "the ComputeNode as sent belongs to compute-2")


def test_a_method_off_the_allow_list_is_refused(conductor, ctx):
    agent = agent_context("compute-1")
    _refused(ctx, lambda: cn_obj.ComputeNodeList.update_operator_traits(
        agent, "compute-1", "node-a", ["CUSTOM_X"]),
        "not on the conductor's allow-list")
    _refused(ctx, lambda: service_obj.ServiceList.get_all(agent),
             "not on the conductor's allow-list")


def test_a_context_without_a_host_is_refused(conductor, ctx):
    anonymous = agent_context(host=None)
    _refused(ctx, lambda: service_obj.Service.get_by_compute_host(
        anonymous, "compute-1"), "names no service host")


def test_a_not_found_error_reaches_the_agent_typed(conductor):
    with pytest.raises(exception.ComputeNodeNotFound):
        cn_obj.ComputeNode.get_by_uuid(
            agent_context(), "6b5b1a54-7a4e-4c35-a2c7-3f0f4a9e0c11")


def test_an_agent_finds_a_conductor_answering(conductor, bus_conf):
    assert rpcapi.wait_for_conductor(conductor, agent_context(),
                                     bus_conf) == 0


def test_an_agent_without_a_conductor_waits_and_warns(bus_conf, caplog):
    bus_conf.set_override("rpc_response_timeout", 1)
    api = rpcapi.ConductorAPI(bus_conf)
    with pytest.raises(messaging.MessagingTimeout):
        rpcapi.wait_for_conductor(api, agent_context(), bus_conf, attempts=2)
    assert [r.getMessage() for r in caplog.records
            if r.name == rpcapi.LOG.name] == [
        "no conductor answered on topic conductor within 1 s; waiting for "
        "one"] * 2


def _primitive(version="1.7", data=None, name="ComputeNode",
               namespace="hoststate"):
    primitive = {"hoststate_object.name": name,
                 "hoststate_object.namespace": namespace,
                 "hoststate_object.version": version}
    if data is not None:
        primitive["hoststate_object.data"] = data
    return primitive


@pytest.mark.parametrize("primitive, error, text", [
    (_primitive(version="9.9", data={}), exception.UnknownObject,
     "unknown object ComputeNode 9.9"),
    (_primitive(name="NoSuch", version="1.0", data={}),
     exception.UnknownObject, "unknown object NoSuch 1.0"),
    (_primitive(namespace="other", data={}), exception.UnknownObject,
     "unknown object ComputeNode 1.7"),
    (_primitive(data={"vcpus": "lots"}), exception.ObjectFieldInvalid,
     "ComputeNode.vcpus cannot be 'lots'"),
    (_primitive(), exception.MalformedObject,
     "malformed ComputeNode primitive: KeyError"),
    (_primitive(version="x", data={}), exception.MalformedObject,
     "malformed ComputeNode primitive"),
], ids=["newer-version", "unknown-class", "other-namespace", "bad-value",
        "no-data", "bad-version"])
def test_a_malformed_or_unknown_object_is_refused_typed(
        conductor, bus_conf, ctx, primitive, error, text):
    raw = rpc.get_client(bus_conf, rpcapi.TOPIC, "1.0",
                         timeout=20).prepare(namespace="objects")
    before = snapshot(ctx.engine)
    with pytest.raises(error) as info:
        rpc.errors_as_sent(raw.call)(
            agent_context(), "object_action", objinst=primitive,
            objmethod="save", args=[], kwargs={})
    assert str(info.value).startswith(text)
    assert snapshot(ctx.engine) == before
