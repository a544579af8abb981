"""The benchmark gate's own parts: the floor file, the ratio check, the
interleaving, and the check that both sides computed the same answers."""
import json
import types

import numpy as np
import pytest

import bench_gate
import gate_support
import run_mode

SCENARIO = "default filters + all weighers, 2000 hosts"
COMMAND = "HOSTSTATE_GATE_UPDATE=1 pytest benchmarks/bench_gate.py " \
    "--benchmark-enable"


def write(path, floors):
    path.write_text(json.dumps(floors))
    return path


# --- the floor file ------------------------------------------------------------

def test_record_writes_half_the_measured_ratio_and_keeps_the_others(
        tmp_path):
    path = write(tmp_path / "floors.json", {
        SCENARIO: {"floor": 40.0, "measured": 80.0},
        "other": {"floor": 5.0, "measured": 10.0}})

    old, new = gate_support.record(SCENARIO, 123.456, path)

    assert old == {"floor": 40.0, "measured": 80.0}
    # 123.456 / 2 = 61.728, both to three significant digits
    assert new == {"floor": 61.7, "measured": 123.0}
    assert json.loads(path.read_text()) == {
        SCENARIO: {"floor": 61.7, "measured": 123.0},
        "other": {"floor": 5.0, "measured": 10.0}}
    assert gate_support.floor_of(SCENARIO, path) == 61.7


def test_record_creates_the_file(tmp_path):
    path = tmp_path / "floors.json"
    assert gate_support.record("s", 9.0, path) == (
        None, {"floor": 4.5, "measured": 9.0})
    assert json.loads(path.read_text()) == {
        "s": {"floor": 4.5, "measured": 9.0}}


def test_record_refuses_a_ratio_that_is_not_positive(tmp_path):
    path = tmp_path / "floors.json"
    with pytest.raises(gate_support.GateFloorInvalid) as caught:
        gate_support.record("s", 0.0, path)
    assert caught.value.value == 0.0
    assert caught.value.field == "'s' measured"
    assert not path.exists()


def test_a_missing_scenario_names_itself_the_file_and_the_update(tmp_path):
    path = write(tmp_path / "floors.json",
                 {"b": {"floor": 1.0}, "a": {"floor": 2.0}})
    with pytest.raises(gate_support.GateFloorMissing) as caught:
        gate_support.floor_of(SCENARIO, path)
    assert str(caught.value) == (
        f"no floor recorded for scenario {SCENARIO!r} in {path} (it has: "
        f"'a', 'b'); record one on purpose with {COMMAND}")
    assert caught.value.scenario == SCENARIO


def test_a_missing_file_has_no_floors(tmp_path):
    with pytest.raises(gate_support.GateFloorMissing,
                       match=r"\(it has: nothing\)"):
        gate_support.floor_of(SCENARIO, tmp_path / "none.json")


@pytest.mark.parametrize("text, field, value", [
    ('{"s": {"floor": 0}}', "'s' floor", 0),
    ('{"s": {"floor": "80"}}', "'s' floor", "80"),
    ('{"s": {"floor": true}}', "'s' floor", True),
    ('{"s": {"measured": 3}}', "'s' floor", None),
    ('{"s": 3}', "'s' floor", None),
    ('[1, 2]', "the file", [1, 2]),
])
def test_a_malformed_floor_is_refused_naming_it(tmp_path, text, field,
                                                value):
    path = tmp_path / "floors.json"
    path.write_text(text)
    with pytest.raises(gate_support.GateFloorInvalid) as caught:
        gate_support.load_floors(path)
    assert (caught.value.field, caught.value.value) == (field, value)
    assert str(caught.value).startswith(f"{path}: {field} cannot be ")


def test_a_file_that_is_not_json_is_refused(tmp_path):
    path = tmp_path / "floors.json"
    path.write_text("floor = 3")
    with pytest.raises(gate_support.GateFloorInvalid,
                       match="the file cannot be 'floor = 3': not JSON"):
        gate_support.load_floors(path)


def test_the_committed_floors_cover_every_scenario_at_both_sizes():
    for scenario in bench_gate.SCENARIOS:
        for hosts, _ in bench_gate.SIZES.values():
            assert gate_support.floor_of(f"{scenario}, {hosts} hosts") > 1


@pytest.mark.parametrize("value, expected", [
    (None, False), ("", False), ("0", False), ("1", True), ("yes", True)])
def test_updating_follows_the_environment(value, expected):
    environ = {} if value is None else {gate_support.UPDATE_ENV: value}
    assert gate_support.updating(environ) is expected


@pytest.mark.parametrize("enable, disable, expected", [
    (False, True, False),       # CI: the pytest.ini default
    (True, True, True),         # --benchmark-enable
    (False, False, True),       # pytest-benchmark's own default
])
def test_full_mode_follows_the_benchmark_options(enable, disable, expected):
    config = types.SimpleNamespace(option=types.SimpleNamespace(
        benchmark_enable=enable, benchmark_disable=disable))
    assert run_mode.full_mode(config) is expected


# --- timing and the ratio ---------------------------------------------------------

def test_rounds_alternate_and_keep_every_result():
    calls = []

    def setup():
        calls.append("setup")
        return (len(calls),)

    timing = gate_support.Interleaved(
        3, lambda n: calls.append("a") or ("a", n),
        lambda: calls.append("b") or "b", setup_a=setup)

    assert calls == ["setup", "a", "b"] * 3
    assert timing.results_a == [("a", 1), ("a", 4), ("a", 7)]
    assert timing.results_b == ["b", "b", "b"]
    assert len(timing.times_a) == len(timing.times_b) == 3


def fake_timing(times_a, times_b):
    timing = gate_support.Interleaved(0, None, None)
    timing.times_a, timing.times_b = times_a, times_b
    return timing


def test_the_ratio_is_of_the_medians():
    # medians 0.002 and 0.5: the slow outlier rounds do not count
    timing = fake_timing([0.002, 0.009, 0.001], [0.5, 0.4, 2.0])
    assert timing.ratio == pytest.approx(250.0)


def test_below_the_floor_the_failure_names_every_figure():
    timing = fake_timing([0.002, 0.009, 0.001], [0.5, 0.4, 2.0])
    assert gate_support.ratio_failure("s", timing, 250.0) is None
    assert gate_support.ratio_failure("s", timing, 251.0) == (
        "s: vectorized is 250.0x faster than the per-host reference, "
        "below the floor of 251.0x (medians of 3 rounds: vectorized "
        "2.00 ms, reference 500.00 ms). If the slowdown is meant, record "
        f"new floors with {COMMAND}")


# --- both sides must compute the same thing --------------------------------------

@pytest.fixture(scope="module")
def small_cloud():
    cloud = bench_gate.Cloud("default filters + all weighers", 60)
    timing = gate_support.Interleaved(1, cloud.vectorized, cloud.per_host,
                                      setup_a=cloud.vectors)
    return cloud, timing


def test_the_two_sides_agree_on_a_small_cloud(small_cloud):
    cloud, timing = small_cloud
    bench_gate.assert_same_answers(cloud, timing)


def test_a_different_best_host_is_caught(small_cloud):
    cloud, timing = small_cloud
    rows, ranking = timing.results_a[0][0]
    swapped = types.SimpleNamespace(rows=ranking.rows,
                                    weights=ranking.weights,
                                    head=ranking.head[1::-1] +
                                    ranking.head[2:])
    changed = fake_timing([], [])
    changed.results_a = [[(rows, swapped)] + timing.results_a[0][1:]]
    changed.results_b = timing.results_b
    with pytest.raises(AssertionError, match="boot: best hosts differ"):
        bench_gate.assert_same_answers(cloud, changed)


def test_a_different_set_of_passing_hosts_is_caught(small_cloud):
    cloud, timing = small_cloud
    rows, ranking = timing.results_a[0][1]
    changed = fake_timing([], [])
    changed.results_a = [[timing.results_a[0][0],
                          (np.delete(rows, 0), ranking)] +
                         timing.results_a[0][2:]]
    changed.results_b = timing.results_b
    with pytest.raises(AssertionError,
                       match="anti-affinity: passing hosts differ"):
        bench_gate.assert_same_answers(cloud, changed)
