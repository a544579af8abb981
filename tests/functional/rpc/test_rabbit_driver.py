"""hoststate's RabbitMQ connections (hoststate.rabbit_driver), on the real
broker: replies go unconfirmed and not mandatory, calls and casts keep
their confirms, an idle reader waits at least IDLE_POLL_MIN_S, and every
rabbit transport the process makes has these connections."""
import threading
import uuid

import kombu
import oslo_messaging as messaging
import pytest
from amqp import channel as amqp_channel
from oslo_config import cfg
from oslo_messaging._drivers import common as rpc_common
from oslo_messaging._drivers import impl_rabbit

from hoststate import conf as hconf
from hoststate import context as hs_context
from hoststate import rabbit_driver
from hoststate import rpc

TOPIC = "hs-rabbit-driver-test"


class Echo:
    target = messaging.Target(version="1.0")

    def __init__(self):
        self.cast_seen = threading.Event()

    @messaging.expose
    def echo(self, context, value):
        return value

    @messaging.expose
    def remember(self, context, value):
        self.cast_seen.set()


@pytest.fixture
def conf(rabbitmq_url):
    conf = hconf.load([], conf=cfg.ConfigOpts())
    conf.set_override("transport_url", rabbitmq_url)
    yield conf
    rpc.cleanup()


@pytest.fixture
def published(monkeypatch):
    """(routing key, channel in confirm mode, mandatory) of every message
    this process publishes, as py-amqp writes it to the broker."""
    seen = []
    write = amqp_channel.Channel._basic_publish

    def recording(self, msg, exchange="", routing_key="", mandatory=False,
                  *args, **kwargs):
        seen.append((routing_key, self._confirm_selected, mandatory))
        return write(self, msg, exchange, routing_key, mandatory,
                     *args, **kwargs)

    monkeypatch.setattr(amqp_channel.Channel, "_basic_publish", recording)
    return seen


@pytest.fixture
def served(conf):
    endpoint = Echo()
    server = rpc.get_server(conf, TOPIC, "server-1", [endpoint])
    server.start()
    try:
        yield rpc.get_client(conf, TOPIC, "1.0", timeout=10), endpoint
    finally:
        server.stop()
        server.wait()


def _ctx():
    return hs_context.RequestContext(user_id="u1")


def test_a_rabbit_transport_has_hoststate_connections(conf):
    pool = rpc.get_transport(conf)._driver._connection_pool
    assert pool.connection_cls is rabbit_driver.Connection


def test_an_oslo_rabbit_driver_built_otherwise_keeps_its_connections(
        conf, monkeypatch, caplog):
    """An oslo.messaging whose rabbit connection lacks what hoststate's
    overrides (a later release, say) is left with its own connections."""
    monkeypatch.delattr(impl_rabbit.Connection,
                        "_publish_and_raises_on_missing_exchange")
    transport = rpc.get_transport(conf)
    assert transport._driver._connection_pool.connection_cls is \
        impl_rabbit.Connection
    assert [r.getMessage().split(": ", 1)[1] for r in caplog.records
            if r.name == "hoststate.rabbit_driver"] == [
        "its rabbit driver is not the one hoststate.rabbit_driver was "
        "written for; using its own connections"]


def test_the_in_process_bus_is_left_as_it_is():
    transport = rpc.get_transport(hconf.load([], conf=cfg.ConfigOpts()))
    try:
        assert rabbit_driver.adopt(transport) is transport
        assert not hasattr(transport._driver, "_connection_pool")
    finally:
        rpc.cleanup()


def test_a_call_is_confirmed_and_its_reply_is_not(published, served):
    client, _ = served
    assert client.call(_ctx(), "echo", value="x") == "x"
    calls = [p for p in published if p[0] == TOPIC]
    replies = [p for p in published if p[0].startswith("reply_")]
    assert calls == [(TOPIC, True, False)]
    # the answer and oslo's closing message, on a channel never in
    # confirm mode, and not mandatory
    assert replies and set(replies) == {(replies[0][0], False, False)}


def test_a_cast_stays_confirmed(published, served):
    client, endpoint = served
    client.cast(_ctx(), "remember", value=1)
    assert endpoint.cast_seen.wait(10)
    assert [p for p in published if p[0] == TOPIC] == [(TOPIC, True, False)]


def test_replies_keep_arriving_on_one_unconfirmed_channel(served):
    client, _ = served
    for value in range(30):
        assert client.call(_ctx(), "echo", value=value) == value


def _connection(conf, cls=None):
    """A sending connection of the process's transport (of class ``cls``
    instead of hoststate's, when given)."""
    pool = rpc.get_transport(conf)._driver._connection_pool
    if cls is None:
        return pool.create(rpc_common.PURPOSE_SEND)
    return cls(pool.conf, pool.url, rpc_common.PURPOSE_SEND)


def test_a_reply_to_a_missing_queue_is_dropped_not_raised(conf):
    """oslo's confirmed, mandatory reply raises MessageUndeliverable (and
    its server retries for up to a minute); this one is dropped."""
    missing = f"reply_{uuid.uuid4().hex}"
    connection = _connection(conf)
    try:
        connection.direct_send(missing, {"result": 1})
    finally:
        connection.close()
    stock = _connection(conf, impl_rabbit.Connection)
    try:
        with pytest.raises(messaging.MessageUndeliverable):
            stock.direct_send(missing, {"result": 1})
    finally:
        stock.close()


def test_a_reply_reaches_its_queue(conf, rabbitmq_url):
    name = f"reply_{uuid.uuid4().hex}"
    with kombu.Connection(rabbitmq_url.replace("rabbit://", "amqp://")) \
            as reader:
        replies = reader.SimpleQueue(kombu.Queue(name, auto_delete=True))
        connection = _connection(conf)
        try:
            connection.direct_send(name, {"result": 7})
            connection.direct_send(name, {"result": 8})
        finally:
            connection.close()
        got = [replies.get(timeout=10) for _ in range(2)]
        for message in got:
            message.ack()
        replies.close()
    assert [m.payload for m in got] == [{"result": 7}, {"result": 8}]
    # not mandatory, but as persistent as oslo's own
    assert {m.properties["delivery_mode"] for m in got} == {2}


def test_an_idle_reader_waits_at_least_the_minimum(served, monkeypatch):
    timeouts = []
    consume = impl_rabbit.Connection.consume

    def recording(self, timeout=None):
        timeouts.append(timeout)
        return consume(self, timeout=timeout)

    monkeypatch.setattr(impl_rabbit.Connection, "consume", recording)
    client, _ = served
    for value in range(5):
        assert client.call(_ctx(), "echo", value=value) == value
    assert timeouts
    assert min(t for t in timeouts if t is not None) \
        >= rabbit_driver.IDLE_POLL_MIN_S


def test_no_read_of_the_socket_outlasts_the_stop_bound(conf, monkeypatch):
    """A reader looks at its stop flag between reads: a wait of 1.5 s for
    a message is read in slices of at most STOP_SEEN_S (oslo read it in
    one, and its reply waiter waits up to 5 s: closing a transport took
    that long)."""
    rpc.get_transport(conf)       # oslo's rabbit options registered
    waits = []
    drain = kombu.Connection.drain_events

    def recording(self, **kwargs):
        waits.append(kwargs.get("timeout"))
        return drain(self, **kwargs)

    monkeypatch.setattr(kombu.Connection, "drain_events", recording)
    url = messaging.TransportURL.parse(conf, conf.transport_url)
    connection = rabbit_driver.Connection(conf, url,
                                          rpc_common.PURPOSE_LISTEN)
    try:
        with pytest.raises(rpc_common.Timeout):
            connection.consume(timeout=1.5)
    finally:
        connection.close()
    assert len(waits) >= 3 and None not in waits
    assert max(waits) <= rabbit_driver.STOP_SEEN_S


def test_a_servers_idle_threads_look_for_a_stop_often(served):
    from futurist import _thread as futurist_thread
    assert futurist_thread.ThreadWorker.MAX_IDLE_FOR == rpc.WORKER_STOP_SEEN_S
