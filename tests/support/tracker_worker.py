"""Code run in child processes by the tracker's multi-process tests."""
import pathlib
import time
import uuid

from hoststate import context as hs_context
from hoststate.db import engine as db_engine
from hoststate.objects import compute_node as cn_obj
from hoststate.objects import flavor as flavor_obj
from hoststate.objects import instance as instance_obj
from hoststate.objects import states
from hoststate.resource_tracker import fake_driver
from hoststate.resource_tracker import tracker as tracker_mod

HOST = "fake-host"
NODE = "fake-node"


def _context(url):
    return hs_context.get_admin_context(engine=db_engine.create_engine(url))


def small_flavor():
    return flavor_obj.Flavor(id=1, flavorid="f1", name="small", vcpus=1,
                             memory_mb=64, root_gb=0, ephemeral_gb=0,
                             swap=0, extra_specs={})


def new_instance(ctx):
    the_flavor = small_flavor()
    instance = instance_obj.Instance(
        ctx, uuid=str(uuid.uuid4()), project_id="p", user_id="u",
        vm_state=states.BUILDING, task_state=states.SPAWNING,
        image_ref="img", flavor=the_flavor, instance_type_id=1)
    instance.create()
    return instance


def tracker_for(ctx, inventory):
    driver = fake_driver.FakeDriver({NODE: fake_driver.NodeInventory(
        **inventory)})
    tracker = tracker_mod.ResourceTracker(ctx, HOST, NODE, driver)
    tracker.set_node(cn_obj.ComputeNode.get_by_host_and_nodename(
        ctx, HOST, NODE))
    return tracker


def claim_many(url, inventory, count, start_file):
    """Wait for ``start_file``, then claim ``count`` instances; return how
    many claims succeeded."""
    ctx = _context(url)
    tracker = tracker_for(ctx, inventory)
    instances = [new_instance(ctx) for _ in range(count)]
    while not pathlib.Path(start_file).exists():
        time.sleep(0.01)
    placed = 0
    for instance in instances:
        try:
            with tracker.instance_claim(instance):
                placed += 1
        except Exception:  # does not fit any more
            pass
    return placed


def claim_and_hang(url, inventory, ready_file):
    """Claim one instance and stop between the node write and the instance
    write (the parent kills this process there)."""
    ctx = _context(url)
    tracker = tracker_for(ctx, inventory)
    instance = new_instance(ctx)

    def hang(*_args):
        pathlib.Path(ready_file).write_text(instance.uuid)
        time.sleep(600)
    tracker._place_instance = hang
    with tracker.instance_claim(instance):
        pass
