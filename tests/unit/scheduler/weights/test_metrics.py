"""MetricsWeigher and its weight_setting parser: Nova conformance item 15
and the vectorized weights against Nova's host-by-host weighing."""
import json

import hypothesis
import hypothesis.strategies as st
import pytest

from hoststate import exception
from hoststate.scheduler import nodes
from hoststate.scheduler.weights import metrics
from support.host_tables import all_rows

from .weigher_support import (make_conf, make_request, nova_multiplier,
                              nova_weigh, table_of, weights_by_host)


# --- weight_setting ----------------------------------------------------------

@pytest.mark.parametrize("entries,expected", [
    ([], []),
    (None, []),
    (["cpu.frequency=1.0", "cpu.percent=-0.5"],
     [("cpu.frequency", 1.0), ("cpu.percent", -0.5)]),
    # spaces around either side are dropped
    ([" foo = 2 "], [("foo", 2.0)]),
    # no '=', no name, a ratio that is not a number: left out
    (["foo", "=1", "bar=x", "baz=", "ok=3"], [("ok", 3.0)]),
    # order and repeats are kept, as each one adds to the weight
    (["b=1", "a=2", "b=3"], [("b", 1.0), ("a", 2.0), ("b", 3.0)]),
])
def test_parse_weight_setting(entries, expected):
    assert metrics.parse_weight_setting(entries) == expected


def test_a_bad_entry_is_logged(caplog):
    metrics.parse_weight_setting(["good=1", "broken"])
    assert "broken" in caplog.text


# --- weighing ----------------------------------------------------------------

HOSTS = [
    dict(host="host1", metrics={"foo": 512, "bar": 1}),
    dict(host="host2", metrics={"foo": 1024, "bar": 2}),
    dict(host="host3", metrics={"foo": 3072, "bar": 1}),
    dict(host="host4", metrics={"foo": 8192, "bar": 0}),
]


def metrics_weights(hosts, setting, aggregates=(), **options):
    conf = make_conf(metrics=dict(weight_setting=setting, **options))
    return weights_by_host([metrics.MetricsWeigher(conf)],
                           table_of(hosts, aggregates), make_request())


def test_single_metric_spreads_like_ram():
    # no minval: 512..8192 -> (v - 512) / 7680
    got = metrics_weights(HOSTS, ["foo=1"])
    assert got == pytest.approx({"host1": 0.0, "host2": 512 / 7680,
                                 "host3": 2560 / 7680, "host4": 1.0})


def test_ratios_combine_metrics():
    # foo - 1000*bar: -488, -976, 2072, 8192 -> over -976..8192 (9168)
    got = metrics_weights(HOSTS, ["foo=1", "bar=-1000"])
    assert got == pytest.approx({"host1": 488 / 9168, "host2": 0.0,
                                 "host3": 3048 / 9168, "host4": 1.0})


def test_multiplier_comes_from_metrics_group_and_aggregate_key():
    got = metrics_weights(
        HOSTS, ["foo=1"], [("agg", {"host4"},
                            {"metrics_weight_multiplier": "0.5"})],
        weight_multiplier=-2.0)
    assert got["host4"] == 0.5
    assert got["host3"] == pytest.approx(-2.0 * 2560 / 7680)


def test_no_setting_weighs_zero():
    assert set(metrics_weights(HOSTS, []).values()) == {0.0}


MISSING = HOSTS + [dict(host="host5", metrics={"bar": 1})]


def test_missing_metric_raises_when_required():
    with pytest.raises(exception.MetricNotFound) as err:
        metrics_weights(MISSING, ["foo=1"])
    assert (err.value.host, err.value.name) == ("host5", "foo")


def test_missing_metric_raises_naming_the_first_host_and_metric():
    hosts = [dict(host="host1", metrics={"a": 1}),
             dict(host="host2", metrics={"b": 1}),
             dict(host="host3", metrics={})]
    conf = make_conf(metrics=dict(weight_setting=["a=1", "b=1"]))
    table = table_of(hosts)
    with pytest.raises(exception.MetricNotFound) as err:
        metrics.MetricsWeigher(conf).raw_weights(table, all_rows(table),
                                                 make_request())
    # host1 lacks b; host2 lacks a, but comes later
    assert (err.value.host, err.value.name) == ("host1", "b")


def test_missing_metric_raises_even_with_ratio_zero_when_required():
    with pytest.raises(exception.MetricNotFound):
        metrics_weights(MISSING, ["foo=0"])


def test_missing_metric_gets_weight_of_unavailable_when_not_required():
    conf = make_conf(metrics=dict(weight_setting=["foo=1"], required=False,
                                  weight_of_unavailable=-1.0))
    table = table_of(MISSING)
    raw = metrics.MetricsWeigher(conf).raw_weights(table, all_rows(table),
                                                   make_request())
    assert raw.tolist() == [512.0, 1024.0, 3072.0, 8192.0, -1.0]


def test_unavailable_host_ranks_last_by_default():
    # -10000 is the low end: host5 0, host1 (512+10000)/(8192+10000)
    got = metrics_weights(MISSING, ["foo=1"], required=False)
    assert min(got, key=got.get) == "host5"
    assert got["host5"] == 0.0
    assert got["host1"] == pytest.approx(10512 / 18192)


def test_missing_metric_with_ratio_zero_is_skipped_when_not_required():
    # host5 lacks foo, whose ratio is 0: it weighs bar alone, like others
    got = metrics_weights(MISSING, ["foo=0", "bar=1"], required=False)
    assert got == pytest.approx({"host1": 0.5, "host2": 1.0, "host3": 0.5,
                                 "host4": 0.0, "host5": 0.5})


def test_missing_metric_on_a_host_with_multiplier_zero_is_skipped():
    conf = make_conf(metrics=dict(weight_setting=["foo=1", "bar=1"],
                                  required=False))
    table = table_of(MISSING, [("agg", {"host5"},
                                {"metrics_weight_multiplier": "0"})])
    raw = metrics.MetricsWeigher(conf).raw_weights(table, all_rows(table),
                                                   make_request())
    assert raw.tolist()[-1] == 1.0


# --- vectorized == Nova host by host -----------------------------------------

NAMES = ["cpu.percent", "cpu.frequency", "mem.used"]
METRIC_VALUES = st.integers(-400, 400).map(lambda v: v / 4)


@st.composite
def metric_scenarios(draw):
    count = draw(st.integers(2, 6))
    hosts = [dict(host=f"host{i}", metrics=draw(st.dictionaries(
        st.sampled_from(NAMES), METRIC_VALUES)))
        for i in range(count)]
    setting = [(draw(st.sampled_from(NAMES)),
                draw(st.sampled_from([0.0, 1.0, -0.5, 2.0])))
               for _ in range(draw(st.integers(0, 3)))]
    aggregates = [(f"agg{i}", draw(st.sets(st.sampled_from(
        [h["host"] for h in hosts]))),
        {"metrics_weight_multiplier": draw(st.sampled_from(
            ["0", "2", "-1", "x"]))})
        for i in range(draw(st.integers(0, 2)))]
    return hosts, setting, aggregates


def nova_metric(name, stored):
    """A metric as Nova's scheduler holds it (MonitorMetricList.from_json):
    cpu.percent times 100, then an integer (truncated)."""
    return int(stored * 100 if name == "cpu.percent" else stored)


def nova_metrics_raw(host, setting, required, multiplier, unavailable):
    """Nova's MetricsWeigher._weigh_object for one host."""
    value = 0.0
    for name, ratio in setting:
        try:
            value += nova_metric(name, host["metrics"][name]) * ratio
        except KeyError:
            if required:
                raise exception.MetricNotFound(host=host["host"], name=name)
            if ratio * multiplier != 0:
                return unavailable
    return value


@hypothesis.settings(max_examples=100, deadline=None)
@hypothesis.given(scenario=metric_scenarios(), required=st.booleans(),
                  multiplier=st.sampled_from([1.0, 0.0, -2.0]))
def test_metrics_matches_nova(scenario, required, multiplier):
    hosts, setting, aggregates = scenario
    conf = make_conf(metrics=dict(
        weight_setting=[f"{n}={r}" for n, r in setting], required=required,
        weight_multiplier=multiplier, weight_of_unavailable=-500.0))
    multipliers = [nova_multiplier(aggregates, h["host"],
                                   "metrics_weight_multiplier", multiplier)
                   for h in hosts]
    try:
        raws = [nova_metrics_raw(h, setting, required, m, -500.0)
                for h, m in zip(hosts, multipliers)]
    except exception.MetricNotFound as nova_error:
        with pytest.raises(exception.MetricNotFound) as err:
            metrics_weights_from(conf, hosts, aggregates)
        assert err.value.kwargs == nova_error.kwargs
        return
    expected = nova_weigh(raws, multipliers)
    got = metrics_weights_from(conf, hosts, aggregates)
    assert list(got.values()) == pytest.approx(expected, rel=1e-9, abs=1e-9)


def metrics_weights_from(conf, hosts, aggregates):
    return weights_by_host([metrics.MetricsWeigher(conf)],
                           table_of(hosts, aggregates), make_request())


def test_metrics_are_read_as_novas_scheduler_reads_them():
    """Found by the differential test (issue 13): a *.percent metric is
    stored as a fraction and read as a percentage, every value as an
    integer truncated toward zero (Nova's MonitorMetric.value)."""
    text = json.dumps([
        {"name": "cpu.percent", "value": 0.456},
        {"name": "cpu.idle.percent", "value": 0.999},
        {"name": "cpu.frequency", "value": 2400.7},
        {"name": "mem.used", "value": -1.5},
        {"name": "broken", "value": "x"}])
    assert nodes.parse_metrics(text) == {
        "cpu.percent": 45.0, "cpu.idle.percent": 99.0,
        "cpu.frequency": 2400.0, "mem.used": -1.0}
