"""The fault "restart RabbitMQ": servers and clients reconnect by themselves.

One broker restart for the whole module (it stops the broker for every
session on the machine, so it is done once, kept short, and every check
below shares it): a server and a client made before the restart keep
working after it without being remade, and a call in flight while the
broker is down ends, with its answer or with MessagingTimeout, within
its own timeout: it never hangs.

Bounds: a connection that lost the broker retries after
``kombu_reconnect_delay`` plus a wait that starts at
``rabbit_retry_interval`` and grows by ``rabbit_retry_backoff`` up to
``rabbit_interval_max`` (:func:`hoststate.rpc.reconnect_bound`). Once the
broker answers again, every connection is back within one such wait, so
a call made then is answered within that bound plus one call's timeout.
A call published before the server has declared its queue again is lost
(RPC queues are not durable; Nova's are not either): the caller sees
MessagingTimeout and calls again, which is what the loop below does.
"""
import threading
import time

import oslo_messaging as messaging
import pytest
from oslo_config import cfg

from hoststate import conf as hconf
from hoststate import context as hs_context
from hoststate import rpc
from support import rabbitmq

pytestmark = pytest.mark.slow

TOPIC = "hs-restart-test"
#: one call's timeout after the restart (a lost call costs this much)
CALL_TIMEOUT_S = 5
#: the in-flight call's own timeout (rpc_response_timeout's role)
IN_FLIGHT_TIMEOUT_S = 15


class Endpoint:
    target = messaging.Target(version="1.0")

    def __init__(self):
        self.entered = threading.Event()
        self.release = threading.Event()

    @messaging.expose
    def echo(self, context, value):
        return value

    @messaging.expose
    def hold(self, context, value):
        """Answer only once the test lets it (after the restart)."""
        self.entered.set()
        self.release.wait(IN_FLIGHT_TIMEOUT_S)
        return value


def _call_until(client, deadline, value):
    """Call ``echo`` until it answers or ``deadline`` (monotonic) passes;
    the calls lost while queues were being declared again time out."""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        try:
            return client.prepare(timeout=min(CALL_TIMEOUT_S, left)).call(
                _ctx(), "echo", value=value)
        except messaging.MessagingTimeout:
            continue


def _ctx():
    return hs_context.RequestContext(user_id="u1")


@pytest.fixture(scope="module")
def restarted(rabbitmq_url):
    """Server and client made, one call in flight, broker restarted."""
    conf = hconf.load([], conf=cfg.ConfigOpts())
    conf.set_override("transport_url", rabbitmq_url)
    endpoint = Endpoint()
    server = rpc.get_server(conf, TOPIC, "server-1", [endpoint])
    server.start()
    client = rpc.get_client(conf, TOPIC, "1.0", timeout=CALL_TIMEOUT_S)
    outcome = {}

    def in_flight():
        started = time.monotonic()
        try:
            outcome["answer"] = client.prepare(
                timeout=IN_FLIGHT_TIMEOUT_S).call(_ctx(), "hold", value=42)
        except Exception as exc:   # noqa: BLE001 - the test checks which
            outcome["error"] = exc
        outcome["took_s"] = time.monotonic() - started

    try:
        assert client.call(_ctx(), "echo", value="before") == "before"
        caller = threading.Thread(target=in_flight, daemon=True)
        caller.start()
        assert endpoint.entered.wait(CALL_TIMEOUT_S)
        rabbitmq.restart_broker()
        restarted_at = time.monotonic()
        endpoint.release.set()
        yield conf, client, caller, outcome, restarted_at
    finally:
        endpoint.release.set()
        server.stop()
        server.wait()
        rpc.cleanup()


def test_a_client_and_server_made_before_the_restart_answer_after_it(
        restarted):
    conf, client, _, _, restarted_at = restarted
    deadline = restarted_at + rpc.reconnect_bound(conf) + CALL_TIMEOUT_S
    assert _call_until(client, deadline, "after") == "after"
    # and they keep working: no call is lost once reconnected
    for value in range(20):
        assert client.call(_ctx(), "echo", value=value) == value


def test_a_call_in_flight_during_the_restart_ends_within_its_timeout(
        restarted):
    _, _, caller, outcome, _ = restarted
    caller.join(IN_FLIGHT_TIMEOUT_S + rpc.reconnect_bound(
        restarted[0]) + CALL_TIMEOUT_S)
    assert not caller.is_alive(), "the call in flight hangs"
    print(f"\nthe call in flight: {outcome}")
    if "error" in outcome:
        assert isinstance(outcome["error"], messaging.MessagingTimeout), (
            outcome["error"])
        # MessagingTimeout comes at the call's own timeout, not later
        assert outcome["took_s"] < IN_FLIGHT_TIMEOUT_S + CALL_TIMEOUT_S
    else:
        assert outcome["answer"] == 42
