"""The build sweep's cost (conductor.build_sweep): every conductor runs it
every ``rpc_response_timeout``, so on a cloud of 100,000 instances, of
which a handful are building, a sweep that finds nothing must cost a
few milliseconds (one indexed query), not a scan of every instance.

CI runs it small and once (``--benchmark-disable``); run
``pytest benchmarks/bench_build_sweep.py --benchmark-enable`` for the
figures.
"""
import datetime
import uuid

import sqlalchemy as sa
from oslo_config import cfg

from hoststate import conf as hconf
from hoststate.conductor import build_sweep
from hoststate.db import api as db_api
from hoststate.db import schema
from run_mode import full_mode

INSTANCES, SHORT_INSTANCES = 100_000, 2_000
BUILDING = 20


def _fill(ctx, count):
    """``count`` ACTIVE instances and BUILDING ones (spawning, on a host
    with no service: not yet lost), all an hour old."""
    with ctx.engine.begin() as conn:
        then = conn.execute(sa.select(db_api.server_utcnow())).scalar() \
            - datetime.timedelta(seconds=30)
        rows = [dict(uuid=str(uuid.uuid4()), host=f"host{n % 1000:04d}",
                     node=f"node{n % 1000:04d}", vm_state="active",
                     task_state=None,
                     created_at=then, updated_at=then, deleted=0)
                for n in range(count)]
        for row in rows[:BUILDING]:
            row.update(vm_state="building", task_state="spawning")
        for start in range(0, len(rows), 10_000):
            conn.execute(sa.insert(schema.instances), rows[start:start
                                                           + 10_000])


def test_a_sweep_that_finds_nothing_of_100000_instances(benchmark, ctx,
                                                         request):
    conf = hconf.load([], conf=cfg.ConfigOpts())
    _fill(ctx, INSTANCES if full_mode(request.config) else SHORT_INSTANCES)
    sweep = build_sweep.BuildSweep(conf, ctx.engine)
    assert benchmark(sweep.sweep) == []
