"""The bus itself: calls and casts, contexts and objects, errors, on the
in-process bus and on the real RabbitMQ (a vhost of the session's own)."""
import subprocess
import sys
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
#: longest a thread told to stop may take to return (oslo.messaging's
#: longest poll step is 5 s)
THREAD_EXIT_S = 10


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


@pytest.mark.parametrize("bus_name", ["local", "rabbit"])
def test_cleanup_leaves_no_thread_behind(request, bus_name):
    before = set(threading.enumerate())
    conf = hconf.load([], conf=cfg.ConfigOpts())
    if bus_name == "rabbit":
        conf.set_override("transport_url",
                          request.getfixturevalue("rabbitmq_url"))
    endpoint = Echo()
    server = rpc.get_server(conf, TOPIC, "server-1", [endpoint])
    server.start()
    client = rpc.get_client(conf, TOPIC, "1.0", timeout=10)
    assert client.call(ctx(), "echo", value=1)["value"] == 1
    client.cast(ctx(), "remember", value=2)
    assert endpoint.cast_seen.wait(10)
    server.stop()
    server.wait()
    rpc.cleanup()
    left = [t for t in threading.enumerate() if t not in before]
    for thread in left:   # a stopped thread may still be returning
        thread.join(THREAD_EXIT_S)
    assert [t.name for t in left if t.is_alive()] == []


#: a process that serves and calls on the bus, then ends without stopping
#: anything (no server.stop, no rpc.cleanup): it must still exit
_FORGETFUL = """
import sys
import oslo_messaging as messaging
from oslo_config import cfg
from hoststate import conf as hconf, context, rpc
conf = hconf.load([], conf=cfg.ConfigOpts())
conf.set_override("transport_url", sys.argv[1])
class Echo:
    target = messaging.Target(version="1.0")
    @messaging.expose
    def echo(self, ctxt, value):
        return value
rpc.get_server(conf, "hs-exit-test", "s1", [Echo()]).start()
client = rpc.get_client(conf, "hs-exit-test", "1.0", timeout=10)
print(client.call(context.RequestContext(user_id="u1"), "echo", value=7))
"""


@pytest.mark.slow
def test_a_process_on_rabbitmq_exits_without_cleaning_up(rabbitmq_url):
    result = subprocess.run([sys.executable, "-c", _FORGETFUL, rabbitmq_url],
                            capture_output=True, text=True, timeout=120)
    assert (result.returncode, result.stdout) == (0, "7\n"), result.stderr


def test_a_typed_error_from_a_broker_is_its_own_class_and_message(bus):
    client, _ = bus
    call = rpc.errors_as_sent(client.call)
    with pytest.raises(exception.ComputeHostNotFound) as info:
        call(ctx(), "refuse", host="h9")
    assert type(info.value) is exception.ComputeHostNotFound
    assert str(info.value) == "Compute host h9 could not be found"
    assert info.value.host == "h9"
