"""The benchmark gate: the vectorized scheduler must stay a recorded number
of times faster than Nova's per-host loop on the same hosts and requests.

Each scenario is a seeded cloud (``support.cloud_mix``), a filter list,
every weigher and a few fixed requests. One round runs the requests
through the Scheduler's own entry points (``candidates``, then ``rank``)
and then through the per-host reference (``gate_reference``); the gate
compares the ratio of the two medians with the scenario's floor in
``gate_floors.json`` and fails naming the scenario, the ratio, both
medians and the floor (see ``gate_support`` for why a ratio of
interleaved runs survives a loaded machine). The answers of both sides
must agree, in the same run, on every request: the same hosts pass, and
the best hosts come in the same order with the same weights. So the gate
cannot time two different computations.

CI (``--benchmark-disable``, the default) runs the small clouds, in a few
seconds; ``--benchmark-enable`` the 10,000-host ones. Each size has a
floor of its own: fixed per-request costs weigh more on a small cloud.
``HOSTSTATE_GATE_UPDATE=1`` measures both sizes and records new floors.
"""
import json
import uuid as uuid_mod

import pytest
from oslo_config import cfg

from hoststate import conf as hs_conf
from hoststate.objects import flavor as flavor_obj
from hoststate.objects import instance_group as group_obj
from hoststate.objects import request_spec
from hoststate.scheduler import host_manager
from hoststate.scheduler import manager as manager_mod
from hoststate.scheduler import plugins
from hoststate.scheduler import request as request_mod
from support import cloud_mix
from support import host_tables

import gate_reference
import gate_support
import run_mode

#: hosts of a cloud, and rounds timed on it, per mode
SIZES = {"short": (2_000, 5), "full": (10_000, 7)}
#: the cloud's random seed (cloud_mix)
SEED = 14


def uuid_of(number):
    return str(uuid_mod.UUID(int=number))


def _host_name(index):
    """Host names as cloud_mix.table_nodes gives them."""
    return f"compute{index:06d}"


def _placed(first, count, every, hosts):
    """{instance uuid: host}: ``count`` instances numbered from ``first``,
    on every ``every``-th host of a cloud of ``hosts``."""
    return {uuid_of(first + i): _host_name(i * every % hosts)
            for i in range(count)}


def _image(**properties):
    return {"id": "22222222-2222-2222-2222-222222222222",
            "properties": properties}


MEDIUM = dict(name="m1.medium", vcpus=2, memory_mb=4096, root_gb=40)


def default_requests(hosts):
    """A boot with capabilities and image requirements, a member of an
    anti-affinity group, a member of a soft-anti-affinity group."""
    anti = _placed(100, 40, 37, hosts)
    soft = _placed(200, 60, 11, hosts)
    return [
        dict(name="boot", instance_uuid=uuid_of(1),
             flavor=dict(MEDIUM, extra_specs={
                 "capabilities:cpu_info:arch": "x86_64",
                 "capabilities:hypervisor_type": "QEMU"}),
             image=_image(hw_architecture="x86_64",
                          img_hv_requested_version=">=8.0")),
        dict(name="anti-affinity", instance_uuid=uuid_of(2), flavor=MEDIUM,
             group=dict(policy="anti-affinity", members=sorted(anti)),
             instance_hosts=anti),
        dict(name="soft-anti-affinity", instance_uuid=uuid_of(3),
             flavor=MEDIUM,
             group=dict(policy="soft-anti-affinity", members=sorted(soft)),
             instance_hosts=soft),
    ]


def full_list_requests(hosts):
    """A sized boot into a zone, a project and the ssd aggregate; a boot
    with a JSON query, a different_host hint and a group allowing two
    members a host."""
    away = _placed(300, 30, 53, hosts)
    anti = _placed(400, 50, 7, hosts)
    return [
        dict(name="zone and ssd", instance_uuid=uuid_of(4),
             flavor=dict(name="m1.large", vcpus=4, memory_mb=8192,
                         root_gb=80, swap=1024, extra_specs={
                             "aggregate_instance_extra_specs:ssd": "true"}),
             image=_image(hw_architecture="x86_64"),
             availability_zone="az2", project_id="p1"),
        dict(name="query and hints", instance_uuid=uuid_of(5), flavor=MEDIUM,
             hints={"query": json.dumps([">=", "$free_ram_mb", 16384]),
                    "different_host": sorted(away)},
             group=dict(policy="anti-affinity", members=sorted(anti),
                        rules={"max_server_per_host": "2"}),
             instance_hosts={**away, **anti}),
    ]


#: scenario -> (enabled filters (None: the default), requests(hosts))
SCENARIOS = {
    "default filters + all weighers": (None, default_requests),
    "full filter list + all weighers": (plugins.filters.names,
                                        full_list_requests),
}


# --- building both sides -----------------------------------------------------

def _conf(filter_names):
    conf = hs_conf.load(conf=cfg.ConfigOpts(), use_env=False)
    if filter_names is not None:
        conf.set_override("enabled_filters", filter_names(),
                          group="filter_scheduler")
    return conf


def _spec(described):
    flavor = described["flavor"]
    group = described.get("group")
    return request_spec.RequestSpec.from_components(
        described["instance_uuid"],
        flavor_obj.Flavor(flavorid=flavor["name"], **flavor),
        image=described.get("image"),
        scheduler_hints=described.get("hints"),
        instance_group=group_obj.InstanceGroup(**group) if group else None,
        availability_zone=described.get("availability_zone"),
        project_id=described.get("project_id"))


class Cloud:
    """One scenario at one size: the scheduler over a table, and the
    reference hosts and requests, from the same descriptions."""

    def __init__(self, scenario, hosts):
        filter_names, requests = SCENARIOS[scenario]
        self.conf = _conf(filter_names)
        nodes = [dict(node, uuid=uuid_of(10**6 + i)) for i, node in
                 enumerate(cloud_mix.table_nodes(hosts, seed=SEED))]
        aggregates = cloud_mix.aggregates([n["host"] for n in nodes],
                                          seed=SEED)
        manager = host_manager.HostManager(None, conf=self.conf)
        manager.table = host_tables.make_table(nodes, aggregates=aggregates)
        self.scheduler = manager_mod.Scheduler(
            manager, conf=self.conf, seed=1, claim_in_database=False,
            refresh=False)
        self.filters = [f.name for f in self.scheduler.filters]
        self.weighers = [w.name for w in self.scheduler.weighers]
        self.requests = requests(hosts)
        self.specs = [_spec(described) for described in self.requests]
        self.reference = [
            (gate_reference.build_hosts(
                nodes, aggregates, described.get("instance_hosts", {})),
             gate_reference.build_request(described, self.conf, aggregates))
            for described in self.requests]

    def vectors(self):
        """Fresh request vectors (a vector may keep per-request values;
        each round starts without them, as each request does)."""
        vectors = []
        for spec, described in zip(self.specs, self.requests):
            vector = request_mod.RequestVector(spec, self.conf)
            vector.instance_hosts.update(described.get("instance_hosts", {}))
            vectors.append(vector)
        return (vectors,)

    def vectorized(self, vectors):
        """Each request's (passing rows, Ranking), as select_destinations
        computes them before it claims."""
        results = []
        for vector in vectors:
            rows, _ = self.scheduler.candidates(vector)
            results.append((rows, self.scheduler.rank(rows, vector)))
        return results

    def per_host(self):
        return [gate_reference.schedule(hosts, q, self.filters,
                                        self.weighers)
                for hosts, q in self.reference]


def _answers(table, vectorized):
    """(passing uuids, [(uuid, weight)] of the ranked head) per request."""
    answers = []
    for rows, ranking in vectorized:
        weight_of = dict(zip(ranking.rows.tolist(),
                             ranking.weights.tolist()))
        answers.append(([table.uuid[r] for r in rows.tolist()],
                        [(table.uuid[r], weight_of[r])
                         for r in ranking.head]))
    return answers


def assert_same_answers(cloud, timing):
    """Every round of both sides gave the same answer to each request."""
    table = cloud.scheduler.table
    expected = timing.results_b[0]
    for vectorized, per_host in zip(timing.results_a, timing.results_b):
        assert per_host == expected, "the reference is not deterministic"
        answers = _answers(table, vectorized)
        for described, (passing, head), (ref_passing, ref_ranked) in zip(
                cloud.requests, answers, expected):
            name = described["name"]
            assert passing == ref_passing, f"{name}: passing hosts differ"
            assert len(passing) > 1, f"{name}: too few hosts to rank"
            ref_head = ref_ranked[:len(head)]
            assert [u for u, _ in head] == [u for u, _ in ref_head], \
                f"{name}: best hosts differ"
            assert [w for _, w in head] == pytest.approx(
                [w for _, w in ref_head], rel=1e-9, abs=1e-9), \
                f"{name}: weights of the best hosts differ"


# --- the gate ----------------------------------------------------------------

def _measure(scenario, mode):
    hosts, rounds = SIZES[mode]
    cloud = Cloud(scenario, hosts)
    missing = gate_reference.unknown(cloud.filters, cloud.weighers)
    assert not missing, (
        f"{scenario}: no per-host reference for {missing}; add one to "
        f"benchmarks/gate_reference.py (FILTERS or WEIGHERS)")
    timing = gate_support.Interleaved(rounds, cloud.vectorized,
                                      cloud.per_host, setup_a=cloud.vectors)
    assert_same_answers(cloud, timing)
    return f"{scenario}, {hosts} hosts", timing


@pytest.mark.slow
@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_vectorized_beats_per_host_reference(scenario, request, capsys):
    update = gate_support.updating()
    full = run_mode.full_mode(request.config)
    modes = ["short", "full"] if update else ["full" if full else "short"]
    for mode in modes:
        name, timing = _measure(scenario, mode)
        summary = (f"{name}: {timing.ratio:.1f}x (vectorized "
                   f"{timing.median_a * 1e3:.2f} ms, reference "
                   f"{timing.median_b * 1e3:.2f} ms)")
        if update:
            old, new = gate_support.record(name, timing.ratio)
            was = f"{old['floor']:.1f}x" if old else "none"
            with capsys.disabled():
                print(f"\n{summary}: floor {was} -> {new['floor']:.1f}x")
            continue
        floor = gate_support.floor_of(name)
        if full:
            with capsys.disabled():
                print(f"\n{summary}, floor {floor:.1f}x")
        failure = gate_support.ratio_failure(name, timing, floor)
        if failure:
            pytest.fail(failure, pytrace=False)
