"""The bus itself: calls and casts, contexts and objects, errors, on the
in-process bus and on the real RabbitMQ (a vhost of the session's own)."""
import threading

import oslo_messaging as messaging
import pytest
from oslo_config import cfg

from hoststate import conf as hconf
from hoststate import context as hs_context
from hoststate import exception
from hoststate import rpc
from hoststate.objects import service as service_obj

TOPIC = "hs-bus-test"


class Echo:
    target = messaging.Target(version="1.1")

    def __init__(self):
        self.cast_seen = threading.Event()
        self.casts = []

    @messaging.expose
    def echo(self, context, value):
        return {"value": value, "user": context.user_id,
                "engine": context.engine}

    @messaging.expose
    def describe(self, context, service):
        return service.host, service.obj_name(), service._context.user_id

    @messaging.expose
    def refuse(self, context, host):
        raise exception.ComputeHostNotFound(host=host)

    @messaging.expose
    def remember(self, context, value):
        self.casts.append(value)
        self.cast_seen.set()

    def not_exposed(self, context):
        return "should never be reachable"


@pytest.fixture(params=["local", "rabbit"])
def bus(request):
    conf = hconf.load([], conf=cfg.ConfigOpts())
    if request.param == "rabbit":
        conf.set_override("transport_url",
                          request.getfixturevalue("rabbitmq_url"))
    endpoint = Echo()
    server = rpc.get_server(conf, TOPIC, "server-1", [endpoint],
                            engine="the server's engine")
    server.start()
    client = rpc.get_client(conf, TOPIC, "1.0", timeout=10)
    try:
        yield client, endpoint
    finally:
        server.stop()
        server.wait()
        rpc.cleanup()


def ctx():
    return hs_context.RequestContext(user_id="u1", engine="never sent")


def test_a_call_carries_the_context_without_its_engine(bus):
    client, _ = bus
    answer = client.call(ctx(), "echo", value=[1, "two"])
    assert answer == {"value": [1, "two"], "user": "u1",
                      "engine": "the server's engine"}


def test_versioned_objects_travel_as_objects(bus):
    client, _ = bus
    service = service_obj.Service(host="h1", binary="nova-compute",
                                  topic="compute")
    # a tuple comes back as a list over a real broker (JSON)
    assert list(client.call(ctx(), "describe", service=service)) == [
        "h1", "Service", "u1"]


def test_a_typed_error_is_raised_again_at_the_caller(bus):
    client, _ = bus
    with pytest.raises(exception.ComputeHostNotFound) as info:
        client.call(ctx(), "refuse", host="h9")
    assert info.value.host == "h9"


def test_a_method_not_exposed_is_refused(bus):
    client, _ = bus
    with pytest.raises(messaging.NoSuchMethod):
        client.call(ctx(), "not_exposed")


def test_a_cast_is_delivered(bus):
    client, endpoint = bus
    client.cast(ctx(), "remember", value=7)
    assert endpoint.cast_seen.wait(10)
    assert endpoint.casts == [7]


def test_a_version_above_the_server_is_refused(bus):
    client, _ = bus
    with pytest.raises(messaging.UnsupportedVersion):
        client.prepare(version="1.2").call(ctx(), "echo", value=1)


def test_a_client_capped_below_a_version_cannot_send_it():
    conf = hconf.load([], conf=cfg.ConfigOpts())
    client = rpc.get_client(conf, TOPIC, "1.0", version_cap="1.0")
    assert client.can_send_version("1.0")
    assert not client.can_send_version("1.1")


def test_unset_transport_url_means_the_in_process_bus():
    conf = hconf.load([], conf=cfg.ConfigOpts())
    assert conf.transport_url is None
    assert rpc.transport_url(conf) == "local://"
    assert rpc.is_in_process(conf)


def test_an_unknown_transport_is_a_config_error_without_the_password():
    conf = hconf.load([], conf=cfg.ConfigOpts())
    conf.set_override("transport_url", "nosuchbus://u:s3cret@h:1/")
    with pytest.raises(exception.ConfigInvalid) as info:
        rpc.get_transport(conf)
    assert (info.value.group, info.value.option) == ("DEFAULT",
                                                      "transport_url")
    assert "s3cret" not in str(info.value)
    assert info.value.value == "nosuchbus://u:***@h:1/"
