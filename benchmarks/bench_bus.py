"""The bus's round trip: one ``client.call`` and its answer.

On the in-process bus (``local://``), on RabbitMQ with the server in the
same process, and on RabbitMQ with the server in a process of its own
(a scheduler or conductor and their callers). The issue's budget is the
RPC overhead beyond the in-process call (median under 2 ms).

CI runs each once with a few calls (``--benchmark-disable``);
``pytest benchmarks/bench_bus.py --benchmark-enable`` times them. Each
test also times calls itself and writes the median into
``benchmark.extra_info`` (and prints it), so the figure is there in
either mode.
"""
import statistics
import subprocess
import sys
import time

import oslo_messaging as messaging
import pytest
from oslo_config import cfg

from hoststate import conf as hs_conf
from hoststate import context as hs_context
from hoststate import rpc
from run_mode import full_mode
from support.rabbitmq import rabbitmq_url, rabbitmq_vhost  # noqa: F401

TOPIC = "hs-bench-bus"
FULL_CALLS, SHORT_CALLS = 2000, 50
CALL_TIMEOUT_S = 10

#: a server of TOPIC in a process of its own: prints "ready", serves
#: until its stdin closes
_SERVER = """
import sys
import oslo_messaging as messaging
from oslo_config import cfg
from hoststate import conf as hs_conf, rpc
conf = hs_conf.load([], conf=cfg.ConfigOpts())
conf.set_override("transport_url", sys.argv[1])
class Echo:
    target = messaging.Target(version="1.0")
    @messaging.expose
    def echo(self, context, value):
        return value
server = rpc.get_server(conf, sys.argv[2], "bench", [Echo()])
server.start()
print("ready", flush=True)
sys.stdin.read()
server.stop(); server.wait(); rpc.cleanup()
"""


class Echo:
    target = messaging.Target(version="1.0")

    @messaging.expose
    def echo(self, context, value):
        return value


def _conf(url):
    conf = hs_conf.load([], conf=cfg.ConfigOpts())
    conf.set_override("transport_url", url)
    return conf


def _calls(request):
    return FULL_CALLS if full_mode(request.config) else SHORT_CALLS


def _time_calls(benchmark, client, count, label):
    """Median of ``count`` timed calls, then pytest-benchmark's rounds."""
    context = hs_context.RequestContext(user_id="bench")
    assert client.call(context, "echo", value=-1) == -1   # warm up
    timings = []
    for value in range(count):
        start = time.perf_counter()
        assert client.call(context, "echo", value=value) == value
        timings.append(time.perf_counter() - start)
    benchmark(client.call, context, "echo", value=0)
    median_ms = statistics.median(timings) * 1e3
    p90_ms = sorted(timings)[int(len(timings) * 0.9)] * 1e3
    benchmark.extra_info.update(bus=label, calls=count,
                                median_ms=round(median_ms, 3),
                                p90_ms=round(p90_ms, 3))
    print(f"\n{label}: one call, median {median_ms:.2f} ms, "
          f"p90 {p90_ms:.2f} ms over {count} calls")


@pytest.fixture
def same_process(request):
    """A client and a server of the same process on the bus named by
    the test's parameter."""
    url = (request.getfixturevalue("rabbitmq_url")
           if request.param == "rabbit" else None)
    conf = _conf(url)
    server = rpc.get_server(conf, TOPIC, "bench", [Echo()])
    server.start()
    try:
        yield request.param, rpc.get_client(conf, TOPIC, "1.0",
                                            timeout=CALL_TIMEOUT_S)
    finally:
        server.stop()
        server.wait()
        rpc.cleanup()


@pytest.mark.parametrize("same_process", ["local", "rabbit"],
                         indirect=True)
def test_a_call_to_a_server_of_the_same_process(benchmark, same_process,
                                                request):
    label, client = same_process
    _time_calls(benchmark, client, _calls(request), f"{label}, same process")


@pytest.fixture
def other_process(rabbitmq_url):  # noqa: F811 - the imported fixture
    topic = f"{TOPIC}-remote"
    child = subprocess.Popen([sys.executable, "-c", _SERVER, rabbitmq_url,
                              topic], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "ready"
        yield rpc.get_client(_conf(rabbitmq_url), topic, "1.0",
                             timeout=CALL_TIMEOUT_S)
    finally:
        rpc.cleanup()
        child.stdin.close()
        child.wait(timeout=30)


def test_a_call_to_a_server_in_another_process(benchmark, other_process,
                                               request):
    _time_calls(benchmark, other_process, _calls(request),
                "rabbit, server in another process")
