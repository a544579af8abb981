"""The cost of the bus on select_destinations: one select of one instance
at 1,000 hosts called in process, then through ``SchedulerAPI`` to a
scheduler service in another process over RabbitMQ (and, beside it, to a
server thread on the in-process ``local://`` bus).

Both sides run the same scheduler: the same 1,000-host table (built in
memory, as bench_scheduler's ``test_one_select_destinations``), the same
filters and seed, claiming in the table only, so the difference of the
medians is what the bus adds: the call's serialization (the RequestSpec
and three Selections as versioned objects), the broker's round trip and
the reply. Goal (issue 15): under 2 ms at the median.

CI runs a few calls of each (``--benchmark-disable``); run
``pytest benchmarks/bench_rpc_select.py --benchmark-enable -s`` for the
figures (printed, and in ``extra_info``).
"""
import os
import statistics
import subprocess
import sys
import time
import uuid

from hoststate import context as hs_context
from hoststate import rpc
from hoststate.scheduler import rpc_server
from hoststate.scheduler import rpcapi
from run_mode import full_mode
from support.rabbitmq import rabbitmq_url, rabbitmq_vhost  # noqa: F401
import bench_scheduler

HOSTS = 1_000
SEED = 1
#: the scheduler service: the benchmark's own scheduler behind the
#: endpoint; "ready" once it serves, stops when its stdin closes
SERVER = """
import sys
import bench_scheduler
from hoststate import rpc
from hoststate.scheduler import rpc_server
conf = bench_scheduler._conf()
conf.set_override("transport_url", sys.argv[1])
scheduler = bench_scheduler._in_memory_scheduler(int(sys.argv[2]), conf)
server = rpc.get_server(conf, "scheduler", "bench",
                        [rpc_server.SchedulerEndpoint(scheduler)])
server.start()
print("ready", flush=True)
sys.stdin.read()
server.stop()
server.wait()
rpc.cleanup()
"""


def _calls(request):
    """Calls timed per side (after as many warm-up calls)."""
    return 2_000 if full_mode(request.config) else 20


def _median_ms(call, count):
    for _ in range(min(count, 50)):         # warm-up: imports, connections
        call()
    times = []
    for _ in range(count):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def _select(scheduler_or_api, spec, context=None):
    uuids = [str(uuid.uuid4())]
    if context is None:
        return lambda: scheduler_or_api.select_destinations(spec, uuids)
    return lambda: scheduler_or_api.select_destinations(context, spec, uuids)


def _in_process_ms(count):
    conf = bench_scheduler._conf()
    scheduler = bench_scheduler._in_memory_scheduler(HOSTS, conf)
    return _median_ms(_select(scheduler, bench_scheduler._spec()), count)


def _server_process(url):
    here = os.path.dirname(os.path.abspath(__file__))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [here, os.path.join(os.path.dirname(here), "tests"),
         os.environ.get("PYTHONPATH", "")]))
    process = subprocess.Popen(
        [sys.executable, "-c", SERVER, url, str(HOSTS)], env=env,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    line = process.stdout.readline()
    if line.strip() != "ready":
        process.kill()
        raise RuntimeError(f"scheduler service did not start: {line!r}")
    return process


def test_select_over_rabbitmq_vs_in_process(benchmark, request,
                                            rabbitmq_url):  # noqa: F811
    count = _calls(request)
    in_process = _in_process_ms(count)
    server = _server_process(rabbitmq_url)
    conf = bench_scheduler._conf()
    conf.set_override("transport_url", rabbitmq_url)
    context = hs_context.RequestContext(user_id="bench")
    try:
        api = rpcapi.SchedulerAPI(conf)
        call = _select(api, bench_scheduler._spec(), context)
        over_rabbit = _median_ms(call, count)
        result = benchmark(call)
    finally:
        rpc.cleanup()
        server.stdin.close()
        server.wait(60)
    assert result[0][0].availability_zone == "az2"
    _report(benchmark, "RabbitMQ, another process", in_process, over_rabbit,
            count)


def test_select_over_the_in_process_bus_vs_direct(benchmark, request):
    count = _calls(request)
    in_process = _in_process_ms(count)
    conf = bench_scheduler._conf()
    scheduler = bench_scheduler._in_memory_scheduler(HOSTS, conf)
    server = rpc.get_server(conf, "scheduler", "bench",
                            [rpc_server.SchedulerEndpoint(scheduler)])
    server.start()
    try:
        api = rpcapi.SchedulerAPI(conf)
        call = _select(api, bench_scheduler._spec(),
                       hs_context.RequestContext(user_id="bench"))
        over_local = _median_ms(call, count)
        result = benchmark(call)
    finally:
        server.stop()
        server.wait()
        rpc.cleanup()
    assert result[0][0].availability_zone == "az2"
    _report(benchmark, "local:// bus, a server thread", in_process,
            over_local, count)


def _report(benchmark, how, in_process, over_bus, count):
    benchmark.extra_info.update(
        hosts=HOSTS, calls=count, in_process_median_ms=round(in_process, 3),
        bus_median_ms=round(over_bus, 3),
        overhead_median_ms=round(over_bus - in_process, 3))
    print(f"\nselect_destinations at {HOSTS:,} hosts, median of {count:,}: "
          f"in process {in_process:.3f} ms, {how} {over_bus:.3f} ms, "
          f"overhead {over_bus - in_process:.3f} ms; load average "
          f"{os.getloadavg()[0]:.2f}")
