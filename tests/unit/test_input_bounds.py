"""Hostile values through the entry points that need no database:
``Flavor(...)``, ``RequestSpec.from_components(...)`` and
``hoststate.conf.load`` (each option of every group written into a file).

Each case ends in a typed error on one line (ObjectFieldInvalid,
ConfigInvalid, ConfigFileInvalid), or in an object or a configuration
whose every value is within the documented bounds, checked here against
the numbers themselves (hoststate.conf.limits), not by running the same
checks again. The examples are derandomized (the same on every run); the
``slow`` variants run more of them.
"""
import math
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st
from oslo_config import cfg

from hoststate import conf as hs_conf
from hoststate.conf import logging as hs_conf_logging
from hoststate.conf import rpc as hs_conf_rpc
from hoststate import exception
from hoststate.conf import limits
from hoststate.objects import flavor as flavor_obj
from hoststate.objects import request_spec
from support import hostile

QUICK, THOROUGH = 150, 1000
INSTANCE = str(uuid.UUID(int=3))
INT32 = range(0, limits.INT32_MAX + 1)


def one_line(exc):
    text = str(exc)
    assert text and "\n" not in text and len(text) < 2000, text
    return text


def assert_name(value, low=0, high=limits.NAME_LENGTH):
    assert type(value) is str and low <= len(value) <= high, value
    assert "\x00" not in value
    value.encode("utf-8")        # no lone surrogate


# --- Flavor ------------------------------------------------------------------

def check_flavor(kwargs):
    try:
        flavor = flavor_obj.Flavor(**kwargs)
    except exception.ObjectFieldInvalid as exc:
        assert exc.objname == "Flavor" and exc.field in kwargs
        one_line(exc)
        return None
    for name in ("vcpus", "memory_mb"):
        assert type(getattr(flavor, name)) is int
        assert 1 <= getattr(flavor, name) <= limits.INT32_MAX
    for name in ("root_gb", "ephemeral_gb", "swap"):
        assert type(getattr(flavor, name)) is int
        assert getattr(flavor, name) in INT32
    for name in ("id", "vcpu_weight"):
        assert getattr(flavor, name) is None or getattr(flavor, name) in INT32
    assert math.isfinite(flavor.rxtx_factor)
    assert 0 <= flavor.rxtx_factor <= limits.FLOAT32_MAX
    assert_name(flavor.name, low=1)
    assert_name(flavor.flavorid, low=1)
    assert type(flavor.disabled) is bool
    if flavor.description is not None:
        assert_name(flavor.description, high=limits.TEXT_LENGTH)
    for key, value in flavor.extra_specs.items():
        assert_name(key, low=1)
        assert flavor_obj.EXTRA_SPEC_KEY.fullmatch(key)
        assert_name(value)
    return flavor


@hostile.hostile_settings(QUICK)
@given(kwargs=hostile.flavor_kwargs())
def test_flavor_takes_hostile_values(kwargs):
    check_flavor(kwargs)


@pytest.mark.slow
@hostile.hostile_settings(THOROUGH)
@given(kwargs=hostile.flavor_kwargs())
def test_flavor_takes_hostile_values_thoroughly(kwargs):
    check_flavor(kwargs)


# --- RequestSpec.from_components ---------------------------------------------

def check_spec(flavor_kwargs, request_kwargs, instance_uuid):
    try:
        flavor = flavor_obj.Flavor(**flavor_kwargs)
        spec = request_spec.RequestSpec.from_components(
            instance_uuid, flavor, **request_kwargs)
    except exception.ObjectFieldInvalid as exc:
        one_line(exc)
        return
    assert spec.instance_uuid == str(uuid.UUID(spec.instance_uuid))
    assert type(spec.num_instances) is int
    assert 1 <= spec.num_instances <= limits.MAX_REQUEST_ITEMS
    hints = spec.scheduler_hints
    assert len(hints) <= limits.MAX_REQUEST_ITEMS
    assert sum(map(len, hints.values())) <= limits.MAX_REQUEST_ITEMS
    for name, values in hints.items():
        assert_name(name, low=1)
        assert type(values) is not str
        for value in values:
            assert_name(value, high=limits.TEXT_LENGTH if name == "query"
                        else limits.NAME_LENGTH)
    for field in ("force_hosts", "force_nodes", "ignore_hosts"):
        names = getattr(spec, field)
        assert len(names) <= limits.MAX_REQUEST_ITEMS
        for name in names:
            assert_name(name, low=1)
    for field in ("project_id", "user_id", "availability_zone"):
        if getattr(spec, field) is not None:
            assert_name(getattr(spec, field))


uuids = hostile.valid_or(st.just(INSTANCE), hostile.texts())


@hostile.hostile_settings(QUICK)
@given(flavor_kwargs=hostile.flavor_kwargs(),
       request_kwargs=hostile.request_kwargs(), instance_uuid=uuids)
def test_request_spec_takes_hostile_components(flavor_kwargs, request_kwargs,
                                                instance_uuid):
    check_spec(flavor_kwargs, request_kwargs, instance_uuid)


@pytest.mark.slow
@hostile.hostile_settings(THOROUGH)
@given(flavor_kwargs=hostile.flavor_kwargs(),
       request_kwargs=hostile.request_kwargs(), instance_uuid=uuids)
def test_request_spec_takes_hostile_components_thoroughly(
        flavor_kwargs, request_kwargs, instance_uuid):
    check_spec(flavor_kwargs, request_kwargs, instance_uuid)


# --- the configuration loader ------------------------------------------------

def _checked_here(group, opt):
    """hoststate's own options, and the library ones it bounds itself
    (oslo.messaging's and oslo.log's others are their projects' to test)."""
    library = {(g, o.dest) for g, opts in
               hs_conf_rpc._messaging_opts().items() for o in opts} | {
        ("DEFAULT", o.dest) for o in hs_conf_logging.list_opts()["DEFAULT"]}
    key = (group, opt.dest)
    return key not in library or key in hs_conf_rpc.LIBRARY_BOUNDS


OPTIONS = [(group, opt) for group, opts in hs_conf.list_opts()
           for opt in opts if _checked_here(group, opt)]


def option_value_text():
    return st.one_of(
        st.sampled_from(hostile.NUMERALS),
        st.sampled_from(hostile.BOUNDARY_INTS).map(str),
        st.sampled_from(hostile.ODD_FLOATS).map(repr),
        st.sampled_from(hostile.ODD_TEXTS), st.text(max_size=30),
        st.sampled_from(["db", "zk", "mc", "x86_64", "true", "a=1, b=nan",
                         "cpu.x=inf", "h1,h2", "<None>", "fake", "linux"]))


def check_loaded(conf, group, opt):
    value = conf[opt.dest] if group == "DEFAULT" else conf[group][opt.dest]
    kind = opt.type
    if value is None:
        assert opt.default is None, (group, opt.dest)
    elif (group, opt.dest) in hs_conf_rpc.LIBRARY_BOUNDS:
        low, high = hs_conf_rpc.LIBRARY_BOUNDS[group, opt.dest]
        assert type(value) is int and low <= value <= high
    elif isinstance(opt, cfg.IntOpt):
        assert type(value) is int and kind.min <= value <= kind.max
    elif isinstance(opt, cfg.FloatOpt):
        assert math.isfinite(value) and kind.min <= value <= kind.max
    elif isinstance(opt, cfg.StrOpt) and getattr(kind, "max_length", None):
        assert len(value) <= kind.max_length
    elif isinstance(opt, cfg.ListOpt):
        assert all(type(item) is str for item in value)


def check_config(tmp_path, group, opt, text):
    path = tmp_path / "hostile.conf"
    path.write_bytes(f"[{group}]\n{opt.dest} = ".encode() +
                     text.encode("utf-8", "surrogatepass") + b"\n")
    try:
        conf = hs_conf.load(config_files=[str(path)], conf=cfg.ConfigOpts(),
                            use_env=False)
    except exception.ConfigInvalid as exc:
        one_line(exc)
        return
    except exception.ConfigFileInvalid as exc:
        assert exc.path == str(path)
        one_line(exc)
        return
    for other_group, other in OPTIONS:
        check_loaded(conf, other_group, other)


_OPTION_IDS = [f"{group}.{opt.dest}" for group, opt in OPTIONS]


@pytest.mark.parametrize("option", OPTIONS, ids=_OPTION_IDS)
@hostile.hostile_settings(10)
@given(text=option_value_text())
def test_every_option_takes_hostile_values(tmp_path_factory, option, text):
    check_config(tmp_path_factory.mktemp("conf"), *option, text)


@pytest.mark.slow
@pytest.mark.parametrize("option", OPTIONS, ids=_OPTION_IDS)
@hostile.hostile_settings(100)
@given(text=option_value_text())
def test_every_option_takes_hostile_values_thoroughly(tmp_path_factory,
                                                      option, text):
    check_config(tmp_path_factory.mktemp("conf"), *option, text)


@hostile.hostile_settings(QUICK // 3)
@given(content=st.one_of(st.binary(max_size=200), st.text(max_size=200).map(
    lambda t: t.encode("utf-8", "surrogatepass"))))
def test_configuration_files_of_any_content(tmp_path_factory, content):
    path = tmp_path_factory.mktemp("conf") / "any.conf"
    path.write_bytes(content)
    try:
        hs_conf.load(config_files=[str(path)], conf=cfg.ConfigOpts(),
                     use_env=False)
    except exception.ConfigFileInvalid as exc:
        assert exc.path == str(path)
        one_line(exc)
    except exception.ConfigInvalid as exc:
        one_line(exc)
