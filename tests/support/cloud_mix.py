"""A realistic cloud for scheduler benchmarks: several zones and
aggregates, a few percent of hosts down or disabled, varied sizes and fill.

``shapes(n, seed)`` gives compute_nodes values (for ``cloud.populate`` or
``host_tables.make_table``) plus per-host service flags; ``aggregates(hosts)``
the aggregates over them; ``populate(engine, n)`` stores both in a
database. Deterministic for a seed.
"""
import json
import random

import sqlalchemy as sa

from support import cloud

#: (vcpus, memory_mb, local_gb) of the host models in the mix
MODELS = [(48, 262144, 1800), (64, 524288, 3600), (96, 1048576, 7200),
          (32, 131072, 900)]
ZONES = ["az1", "az2", "az3"]


def shapes(n, seed=0):
    pick = random.Random(seed)
    result = []
    for _ in range(n):
        vcpus, memory_mb, local_gb = pick.choice(MODELS)
        fill = pick.random() * 0.9
        instances = int(fill * vcpus / 2)
        result.append(dict(
            vcpus=vcpus, memory_mb=memory_mb, local_gb=local_gb,
            vcpus_used=int(fill * vcpus * 3),
            memory_mb_used=int(fill * memory_mb),
            local_gb_used=int(fill * local_gb * 0.8),
            stats=json.dumps({"num_instances": str(instances),
                              "io_workload": str(pick.randrange(4)),
                              "failed_builds": "0",
                              f"num_proj_p{pick.randrange(50)}": "1"}),
            disabled=pick.random() < 0.02,
            forced_down=pick.random() < 0.01,
            up=pick.random() >= 0.03))
    return result


def aggregates(hosts, seed=0):
    """Three zones, ten racks, a GPU aggregate: (name, hosts, metadata)."""
    pick = random.Random(seed + 1)
    result = []
    for index, zone in enumerate(ZONES):
        result.append((zone, hosts[index::len(ZONES)],
                       {"availability_zone": zone}))
    for rack in range(10):
        result.append((f"rack{rack}", hosts[rack::10],
                       {"ram_weight_multiplier": str(1.0 + rack % 3)}))
    result.append(("fast-disk", pick.sample(hosts, len(hosts) // 20),
                   {"ssd": "true"}))
    return result


def table_nodes(n, seed=0):
    """Descriptions for ``host_tables.make_table``."""
    nodes = []
    for i, shape in enumerate(shapes(n, seed)):
        shape = dict(shape)
        stats = json.loads(shape.pop("stats"))
        nodes.append(dict(host=f"compute{i:06d}", nodename=f"compute{i:06d}",
                          stats=stats, hypervisor_type="QEMU",
                          hypervisor_version=8002000,
                          supported_instances=[["x86_64", "qemu", "hvm"],
                                               ["x86_64", "kvm", "hvm"]],
                          cpu_info={"arch": "x86_64", "vendor": "Intel"},
                          cpu_allocation_ratio=4.0, ram_allocation_ratio=1.0,
                          disk_allocation_ratio=1.0, **shape))
    return nodes


def populate(engine, n, seed=0):
    """Store a cloud of ``n`` mixed hosts with their aggregates in the
    database at ``engine`` (liveness left to the services' rows), with
    planner statistics as a database in service has them (a fresh bulk
    load has none until autovacuum runs, and index range scans would be
    planned as full scans). The host names, in order."""
    stored = shapes(n, seed)
    for shape in stored:
        shape.pop("up")
    names = cloud.populate(engine, stored)
    for name, members, metadata in aggregates(names, seed):
        cloud.add_aggregate(engine, name, members, metadata)
    with engine.begin() as conn:
        conn.execute(sa.text("ANALYZE"))
    return names
