"""Claims under concurrency: threads, processes, and a process killed."""
import multiprocessing
import os
import random
import signal
import threading
import time


from hoststate.objects import compute_node as cn_obj
from hoststate.objects import instance as instance_obj

from support import tracker_worker

from .conftest import HOST, NODE, flavor, make_agent, make_driver, make_instance

INVENTORY = dict(vcpus=8, memory_mb=4096, local_gb=100)


def _stored(ctx):
    return cn_obj.ComputeNode.get_by_host_and_nodename(ctx, HOST, NODE)


def test_16_threads_claim_and_abort_while_the_periodic_update_runs(
        ctx, no_reserve, overrides):
    # 8 vcpus at ratio 1.0, 2 reserved for the host: never more than 6 live
    # claims of 1 vcpu each (capacity x ratio - reserved)
    overrides(cpu_allocation_ratio=1.0, reserved_host_cpus=2)
    agent = make_agent(ctx, make_driver(**INVENTORY))
    tracker = agent.tracker(NODE)
    small = flavor(vcpus=1, memory_mb=64, root_gb=0)
    live, live_lock, peak = set(), threading.Lock(), [0]
    stop = threading.Event()
    errors = []

    def worker(seed):
        rng = random.Random(seed)
        try:
            for _ in range(6):
                instance = make_instance(ctx, small)
                try:
                    with tracker.instance_claim(instance):
                        pass
                except Exception as exc:
                    assert "vcpus" in str(exc), exc
                    continue
                with live_lock:
                    live.add(instance.uuid)
                    peak[0] = max(peak[0], len(live))
                    assert _stored(ctx).vcpus_used <= 8   # 2 reserved + 6
                if rng.random() < 0.6:
                    with live_lock:
                        live.discard(instance.uuid)
                    tracker.abort_instance_claim(instance)
        except Exception as exc:  # reported below, in the main thread
            errors.append(exc)

    def periodic():
        while not stop.is_set():
            tracker.update_available_resource()

    updater = threading.Thread(target=periodic)
    updater.start()
    workers = [threading.Thread(target=worker, args=(n,)) for n in range(16)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    stop.set()
    updater.join()
    tracker.update_available_resource()

    assert errors == []
    assert peak[0] <= 6
    node = _stored(ctx)
    placed = [i for i in instance_obj.InstanceList.get_by_host_and_node(
        ctx, HOST, NODE)]
    assert sorted(i.uuid for i in placed) == sorted(live)
    assert (node.vcpus_used, node.memory_mb_used) == (2 + len(live),
                                                      64 * len(live))


def _spawn_context():
    return multiprocessing.get_context("spawn")


def _claim_in_two_processes(database, claims_each, tmp_path):
    """Both children claim at the same moment; how many each placed."""
    start = tmp_path / "go"
    with _spawn_context().Pool(2) as pool:
        results = [pool.apply_async(
            tracker_worker.claim_many,
            (database.url, INVENTORY, claims_each, str(start)))
            for _ in range(2)]
        time.sleep(0.5)
        start.touch()
        return [r.get(timeout=120) for r in results]


def test_two_processes_claiming_one_node_lose_no_update(
        ctx, database, no_reserve, tmp_path):
    make_agent(ctx, make_driver(**INVENTORY))
    # cpu ratio 4.0 (initial): 32 vcpus; 2 x 12 claims of 1 vcpu all fit
    assert _claim_in_two_processes(database, 12, tmp_path) == [12, 12]
    node = _stored(ctx)
    assert (node.vcpus_used, node.memory_mb_used) == (24, 24 * 64)


def test_two_processes_never_over_commit_a_node(
        ctx, database, no_reserve, overrides, tmp_path):
    overrides(cpu_allocation_ratio=1.0)
    make_agent(ctx, make_driver(**INVENTORY))
    placed = _claim_in_two_processes(database, 6, tmp_path)
    # 12 asked, 8 vcpus: exactly 8 placed, whichever process got them
    assert sum(placed) == 8
    assert _stored(ctx).vcpus_used == 8


def test_a_process_killed_mid_claim_is_corrected_by_the_next_update(
        ctx, database, no_reserve, tmp_path):
    make_agent(ctx, make_driver(**INVENTORY))
    ready = tmp_path / "ready"
    process = _spawn_context().Process(
        target=tracker_worker.claim_and_hang,
        args=(database.url, INVENTORY, str(ready)))
    process.start()
    deadline = time.monotonic() + 60
    while not ready.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert ready.exists(), "the child never reached the middle of its claim"
    os.kill(process.pid, signal.SIGKILL)
    process.join(timeout=30)
    assert process.exitcode == -signal.SIGKILL

    # the node row counts the claim, the instance was never placed
    assert _stored(ctx).vcpus_used == 1
    instance = instance_obj.Instance.get_by_uuid(ctx, ready.read_text())
    assert instance.host is None

    restarted = make_agent(ctx, make_driver(**INVENTORY))   # agent restart
    assert restarted.trackers[NODE].node.vcpus_used == 0
    assert _stored(ctx).vcpus_used == 0
