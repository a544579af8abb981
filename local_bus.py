"""``local://``: the in-process bus, without the polling delay.

oslo.messaging's own in-process driver (``fake://``) has each server look
for a message every 50 ms, so one call costs up to 50 ms: fine for its
unit tests, not for ``hoststate simulate`` sending thousands of calls.
This driver is that driver with one change: a server waits on a
condition that every delivery signals, so a call costs what its work
costs. Queues, replies, requeues and fan-out are the fake driver's.

Registered as the ``local`` driver (setup.cfg ``oslo.messaging.drivers``);
``hoststate.rpc`` uses it when ``transport_url`` is unset.
"""
import threading
import time
import warnings

with warnings.catch_warnings():   # see hoststate.objects.base
    warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")
    import oslo_messaging
    from oslo_messaging._drivers import base as driver_base
    from oslo_messaging._drivers import impl_fake

#: longest a waiting server sleeps before it looks again anyway
IDLE_WAIT_S = 1.0

_arrived = threading.Condition()
#: deliveries so far: a server that saw no message waits only while this
#: is unchanged, so a message delivered while it looked is never missed
_deliveries = [0]


def _signal():
    with _arrived:
        _deliveries[0] += 1
        _arrived.notify_all()


class _Exchange(impl_fake.FakeExchange):
    def deliver_message(self, *args, **kwargs):
        super().deliver_message(*args, **kwargs)
        _signal()


class _ExchangeManager(impl_fake.FakeExchangeManager):
    """Exchanges of their own, apart from fake://'s, one set per virtual
    host of the URL (``local:///cell1``): several cells in one process,
    each on a bus of its own, as on a broker's vhosts."""
    _exchanges_lock = threading.Lock()
    _exchanges = {}

    def __init__(self, default_exchange, virtual_host=None):
        super().__init__(default_exchange)
        self._virtual_host = virtual_host or ""

    def get_exchange(self, name):
        if name is None:
            name = self._default_exchange
        key = (self._virtual_host, name)
        with self._exchanges_lock:
            exchange = self._exchanges.get(key)
            if exchange is None:
                exchange = self._exchanges[key] = _Exchange(name)
            return exchange


class _Listener(impl_fake.FakeListener):
    @driver_base.batch_poll_helper
    def poll(self, timeout=None):
        deadline = None if timeout is None else _now() + timeout
        while not self._stopped.is_set():
            with _arrived:
                seen = _deliveries[0]
            message = self._next()
            if message is not None:
                return message
            wait = IDLE_WAIT_S if deadline is None else deadline - _now()
            if wait <= 0:
                return None
            with _arrived:
                if _deliveries[0] == seen and not self._stopped.is_set():
                    _arrived.wait(min(wait, IDLE_WAIT_S))
        return None

    def _next(self):
        for target in self._targets:
            exchange = self._exchange_manager.get_exchange(target.exchange)
            ctxt, message, reply_q, requeue = exchange.poll(target,
                                                            self._pool)
            if message is not None:
                return impl_fake.FakeIncomingMessage(ctxt, message, reply_q,
                                                     requeue)
        return None

    def stop(self):
        super().stop()
        _signal()


class LocalDriver(impl_fake.FakeDriver):
    def __init__(self, conf, url, default_exchange=None,
                 allowed_remote_exmods=None):
        super().__init__(conf, url, default_exchange, allowed_remote_exmods)
        self._exchange_manager = _ExchangeManager(default_exchange,
                                                  url.virtual_host)

    def listen(self, target, batch_size, batch_timeout):
        exchange = target.exchange or self._default_exchange
        targets = [oslo_messaging.Target(topic=target.topic,
                                         server=target.server,
                                         exchange=exchange),
                   oslo_messaging.Target(topic=target.topic,
                                         exchange=exchange)]
        return driver_base.PollStyleListenerAdapter(
            _Listener(self._exchange_manager, targets), batch_size,
            batch_timeout)

    def listen_for_notifications(self, targets_and_priorities, pool,
                                 batch_size, batch_timeout):
        targets = [oslo_messaging.Target(topic=f"{t.topic}.{priority}",
                                         exchange=t.exchange)
                   for t, priority in targets_and_priorities]
        return driver_base.PollStyleListenerAdapter(
            _Listener(self._exchange_manager, targets, pool), batch_size,
            batch_timeout)


def _now():
    return time.monotonic()
