"""ImagePropertiesFilter and AggregateImagePropertiesIsolation: cases worked
out by hand (conformance item 27: ``>=6.2`` on a 6.0.0 hypervisor fails),
then property tests against a per-host reference written after Nova's
``host_passes``."""
import functools
import json

import hypothesis
import numpy as np
import pytest
from hypothesis import strategies as st
from oslo_config import cfg
from oslo_utils import versionutils

from hoststate import conf as hs_conf
from hoststate.objects import fields
from hoststate.objects import hv_spec
from hoststate.objects import image_meta
from hoststate.scheduler.filters import image_props
from support.host_tables import all_rows, hosts_at, make_table

from .test_capabilities import make_request, nova_hosts, nova_metadata


@functools.lru_cache(maxsize=None)
def conf_with(**options):
    """A ConfigOpts with defaults and these [filter_scheduler] options."""
    conf = hs_conf.load(conf=cfg.ConfigOpts(), use_env=False)
    for name, value in options.items():
        conf.set_override(name, value, group="filter_scheduler")
    return conf


def image(**properties):
    return {"id": "22222222-2222-2222-2222-222222222222",
            "properties": properties}


def passing(filter_class, table, properties=None, **options):
    """Host names kept by a filter built on a config with ``options``,
    for an image with ``properties`` (None: no image)."""
    conf = conf_with(**options)
    request = make_request(image=None if properties is None
                           else image(**properties), conf=conf)
    rows = all_rows(table)
    mask = filter_class(conf).filter_mask(table, rows, request)
    assert mask.dtype == bool and mask.shape == rows.shape
    return hosts_at(table, rows[mask])


# --- the per-host reference --------------------------------------------------

def nova_image_pass(host, props, default_architecture):
    """Nova's ImagePropertiesFilter on one host (``props``: the request's
    ImageMetaProps, or None without an image)."""
    get = props.obj_get if props is not None else (lambda name: None)
    wanted = (
        fields.Architecture.canonicalize(
            get("hw_architecture") or default_architecture),
        fields.HVType.canonicalize(get("img_hv_type")),
        fields.VMMode.canonicalize(get("hw_vm_mode")))
    if not any(wanted):
        return True
    supported = [hv_spec.HVSpec.from_list(triple).to_list()
                 for triple in host.supported_instances]
    if not supported:
        return False

    def version_ok():
        required = get("img_hv_requested_version")
        if not (host.hypervisor_version and required):
            return True
        have = versionutils.convert_version_to_str(host.hypervisor_version)
        return versionutils.VersionPredicate(required).satisfied_by(have)

    def address_bits_ok():
        required = get("hw_maxphysaddr_bits")
        if not required:
            return True
        info = json.loads(host.cpu_info) if host.cpu_info else {}
        bits = info.get("maxphysaddr", {}).get("bits")
        return bits is not None and required <= bits

    return any(all(name is None or name in triple for name in wanted)
               and version_ok() and address_bits_ok()
               for triple in supported)


def nova_isolation_pass(host, props, namespace, separator):
    """Nova's AggregateImagePropertiesIsolation on one host."""
    for key, options in nova_metadata(host).items():
        if namespace and not key.startswith(namespace + separator):
            continue
        if key not in image_meta.ImageMetaProps.fields:
            continue            # Nova: AttributeError, logged, skipped
        value = props.obj_get(key) if props is not None else None
        if value and str(value) not in options:
            return False
    return True


# --- ImagePropertiesFilter, by hand ------------------------------------------

HOSTS = [
    dict(host="host1", supported_instances=[["x86_64", "kvm", "hvm"]],
         hypervisor_version=6000000),
    # spellings canonicalized: amd64 is x86_64, xapi is xen, pv is xen
    dict(host="host2", supported_instances=[["amd64", "xapi", "pv"]],
         hypervisor_version=4001000),
    dict(host="host3", supported_instances=[["aarch64", "qemu", "hvm"],
                                            ["x86_64", "qemu", "hvm"]],
         hypervisor_version=7000000,
         cpu_info={"maxphysaddr": {"mode": "passthrough", "bits": 46}}),
    dict(host="host4", supported_instances=None, hypervisor_version=6000000),
    # version unknown (0); "xen" as hypervisor matches a "xen" vm mode
    dict(host="host5", supported_instances=[["x86_64", "xen", "hvm"]],
         hypervisor_version=0,
         cpu_info={"maxphysaddr": {"mode": "emulate", "bits": 40}}),
]
ALL = ["host1", "host2", "host3", "host4", "host5"]

IMAGE_CASES = [
    (None, {}, ALL),
    ({}, {}, ALL),
    ({"hw_architecture": "x86_64"}, {},
     ["host1", "host2", "host3", "host5"]),
    ({"hw_architecture": "amd64"}, {},
     ["host1", "host2", "host3", "host5"]),
    ({"hw_architecture": "ppc64"}, {}, []),
    ({"img_hv_type": "kvm"}, {}, ["host1"]),
    ({"img_hv_type": "xapi"}, {}, ["host2", "host5"]),
    ({"hw_vm_mode": "pv"}, {}, ["host2", "host5"]),
    ({"hw_architecture": "aarch64", "img_hv_type": "qemu"}, {}, ["host3"]),
    ({"hw_architecture": "aarch64", "img_hv_type": "kvm"}, {}, []),
    # the hypervisor version, once something else is asked for
    ({"hw_architecture": "x86_64", "img_hv_requested_version": ">=6.2"},
     {}, ["host3", "host5"]),
    ({"hw_architecture": "x86_64",
      "img_hv_requested_version": ">=6.0, <7"}, {}, ["host1", "host5"]),
    ({"img_hv_requested_version": ">=6.2"}, {}, ALL),
    # physical address bits, once something else is asked for
    ({"hw_architecture": "x86_64", "hw_maxphysaddr_bits": "42"}, {},
     ["host3"]),
    ({"hw_architecture": "x86_64", "hw_maxphysaddr_bits": "40"}, {},
     ["host3", "host5"]),
    ({"hw_maxphysaddr_bits": "42"}, {}, ALL),
    # the default architecture stands in for an image that names none
    (None, {"image_properties_default_architecture": "x86_64"},
     ["host1", "host2", "host3", "host5"]),
    ({"hw_vm_mode": "hvm"},
     {"image_properties_default_architecture": "aarch64"}, ["host3"]),
    ({"hw_architecture": "aarch64"},
     {"image_properties_default_architecture": "x86_64"}, ["host3"]),
]


@pytest.fixture(scope="module")
def table():
    return make_table(HOSTS)


@pytest.mark.parametrize("properties, options, expected", IMAGE_CASES,
                         ids=[f"{c[0]}-{c[1]}" for c in IMAGE_CASES])
def test_image_properties(table, properties, options, expected):
    assert passing(image_props.ImagePropertiesFilter, table, properties,
                   **options) == expected


def test_image_cases_agree_with_the_per_host_reference():
    hosts = nova_hosts(HOSTS)
    for properties, options, expected in IMAGE_CASES:
        props = None if properties is None else \
            image_meta.ImageMeta.from_dict(image(**properties)).properties
        default = options.get("image_properties_default_architecture")
        assert [name for name, host in hosts.items()
                if nova_image_pass(host, props, default)] == expected


def test_conformance_different_hypervisor_version_fails():
    """Item 27: x86_64/kvm/hvm asking for >=6.2 on a 6.0.0 hypervisor."""
    table = make_table([dict(host="host1",
                             supported_instances=[["x86_64", "kvm", "hvm"]],
                             hypervisor_version=6000000)])
    wanted = dict(hw_architecture="x86_64", img_hv_type="kvm",
                  hw_vm_mode="hvm")
    assert passing(image_props.ImagePropertiesFilter, table,
                   dict(wanted, img_hv_requested_version=">=6.2")) == []
    assert passing(image_props.ImagePropertiesFilter, table,
                   dict(wanted, img_hv_requested_version=">=6.0")) == \
        ["host1"]


@pytest.mark.parametrize("version, predicate, expected", [
    (6000000, ">=6.2", False),
    (6002000, ">=6.2", True),
    (6002001, ">6.2", True),
    (6002000, "==6.2", True),
    (6002000, ">=6.0, <6.2", False),
    (5009999, "<6", True),
    (0, "==9.9", True),             # an unknown version passes
])
def test_version_satisfied(version, predicate, expected):
    assert image_props.version_satisfied(version, predicate) is expected


def test_flags_and_rebuild():
    rebuild = make_request(hints={"_nova_check_type": "rebuild"})
    for cls in (image_props.ImagePropertiesFilter,
                image_props.AggregateImagePropertiesIsolation):
        assert cls.RUN_ON_REBUILD
        assert cls(conf_with()).run_for(rebuild)
    assert not image_props.ImagePropertiesFilter.run_filter_once_per_request
    assert image_props.AggregateImagePropertiesIsolation \
        .run_filter_once_per_request


def test_explain_names_what_the_image_asks_for(table):
    conf = conf_with()
    request = make_request(image=image(hw_architecture="ppc64",
                                       img_hv_requested_version=">=6.2"),
                           conf=conf)
    text = image_props.ImagePropertiesFilter(conf).explain(
        table, all_rows(table), request)
    assert text == ("no host supports image arch/hypervisor/mode ppc64/*/* "
                    "(img_hv_requested_version >=6.2)")


# --- AggregateImagePropertiesIsolation, by hand ------------------------------

AGGREGATES = [
    ("a", ["host1"], {"hw_architecture": "x86_64, aarch64",
                      "os_distro": "ubuntu"}),
    ("b", ["host2"], {"hw_vm_mode": "hvm"}),
    ("c", ["host3"], {"hw_architecture": "ppc64"}),
    ("d", ["host3"], {"hw_architecture": "x86_64"}),
]
FOUR = ["host1", "host2", "host3", "host4"]

ISOLATION_CASES = [
    (None, {}, FOUR),
    ({"hw_architecture": "x86_64"}, {}, FOUR),
    ({"hw_architecture": "aarch64"}, {}, ["host1", "host2", "host4"]),
    ({"hw_architecture": "ppc64", "hw_vm_mode": "hvm"}, {},
     ["host2", "host3", "host4"]),
    ({"hw_vm_mode": "xen"}, {}, ["host1", "host3", "host4"]),
    # a property hoststate does not type is never compared
    ({"os_distro": "windows"}, {}, FOUR),
    # namespace "hw" + "_": hw_* keys are compared (keys kept whole)
    ({"hw_vm_mode": "xen"},
     {"aggregate_image_properties_isolation_namespace": "hw",
      "aggregate_image_properties_isolation_separator": "_"},
     ["host1", "host3", "host4"]),
    # namespace "img": no key is in it, nothing is compared
    ({"hw_vm_mode": "xen"},
     {"aggregate_image_properties_isolation_namespace": "img",
      "aggregate_image_properties_isolation_separator": "_"}, FOUR),
    # namespace "hw" with the default separator ".": no "hw." key
    ({"hw_vm_mode": "xen"},
     {"aggregate_image_properties_isolation_namespace": "hw"}, FOUR),
]


@pytest.fixture(scope="module")
def isolation_table():
    return make_table([dict(host=h) for h in FOUR], AGGREGATES)


@pytest.mark.parametrize("properties, options, expected", ISOLATION_CASES,
                         ids=[f"{c[0]}-{c[1]}" for c in ISOLATION_CASES])
def test_aggregate_image_properties_isolation(isolation_table, properties,
                                              options, expected):
    assert passing(image_props.AggregateImagePropertiesIsolation,
                   isolation_table, properties, **options) == expected


def test_isolation_cases_agree_with_the_per_host_reference():
    hosts = nova_hosts([dict(host=h) for h in FOUR], AGGREGATES)
    for properties, options, expected in ISOLATION_CASES:
        props = None if properties is None else \
            image_meta.ImageMeta.from_dict(image(**properties)).properties
        namespace = options.get(
            "aggregate_image_properties_isolation_namespace")
        separator = options.get(
            "aggregate_image_properties_isolation_separator", ".")
        assert [name for name, host in hosts.items()
                if nova_isolation_pass(host, props, namespace, separator)] \
            == expected


# --- property tests ----------------------------------------------------------

TRIPLES = st.sampled_from([
    ["x86_64", "kvm", "hvm"], ["amd64", "qemu", "hvm"],
    ["aarch64", "qemu", "hvm"], ["i686", "xapi", "pv"],
    ["x86_64", "xen", "xen"], ["x86_64", "xen", "hvm"]])
HOST_VALUES = st.fixed_dictionaries({
    "supported_instances": st.one_of(
        st.none(), st.lists(TRIPLES, max_size=3, unique_by=str)),
    "hypervisor_version": st.sampled_from([0, 4001000, 6000000, 6002000,
                                           7000000]),
    "cpu_info": st.sampled_from([{}, {"maxphysaddr": {"bits": 42}},
                                 {"maxphysaddr": {"bits": 46}}]),
})
IMAGE_PROPERTIES = st.fixed_dictionaries({}, optional={
    "hw_architecture": st.sampled_from(["x86_64", "amd64", "aarch64",
                                        "i686", "ppc64"]),
    "img_hv_type": st.sampled_from(["kvm", "qemu", "xen", "xapi"]),
    "hw_vm_mode": st.sampled_from(["hvm", "xen", "pv", "exe"]),
    "img_hv_requested_version": st.sampled_from([">=6.2", "<6.1",
                                                 ">=5.0, <7", "==6.0"]),
    "hw_maxphysaddr_bits": st.sampled_from([40, 42, 46]),
})
IMAGES = st.one_of(IMAGE_PROPERTIES, IMAGE_PROPERTIES, IMAGE_PROPERTIES,
                   st.none())


def props_of(properties):
    if properties is None:
        return None
    return image_meta.ImageMeta.from_dict(image(**properties)).properties


def check_against_reference(filter_class, table, hosts, images, options,
                            reference):
    """Several requests on one table (a cached answer must not leak into
    the next): the filter's mask equals the reference's, host by host."""
    conf = conf_with(**options)
    host_filter = filter_class(conf)
    rows = all_rows(table)
    for properties in images:
        request = make_request(image=None if properties is None
                               else image(**properties), conf=conf)
        mask = host_filter.filter_mask(table, rows, request)
        expected = np.array([reference(hosts[name], props_of(properties))
                             for name in hosts_at(table, rows)], dtype=bool)
        assert mask.tolist() == expected.tolist()


@hypothesis.settings(max_examples=75, deadline=None)
@hypothesis.given(st.lists(HOST_VALUES, min_size=1, max_size=6),
                  st.lists(IMAGES, min_size=1, max_size=4),
                  st.sampled_from([None, "x86_64", "aarch64"]))
# rare by chance: a vm mode found at the hypervisor's place in a triple,
# and a host with no address bits against one with just enough
@hypothesis.example(
    values=[dict(supported_instances=[["x86_64", "xen", "hvm"]],
                 hypervisor_version=6000000, cpu_info={}),
            dict(supported_instances=[["x86_64", "kvm", "hvm"]],
                 hypervisor_version=6000000,
                 cpu_info={"maxphysaddr": {"bits": 42}})],
    images=[{"hw_vm_mode": "pv"},
            {"hw_architecture": "x86_64", "hw_maxphysaddr_bits": 42}],
    default=None)
def test_image_properties_filter_equals_per_host_reference(
        values, images, default):
    descriptions = [dict(host=f"host{i}", **v) for i, v in enumerate(values)]
    options = {} if default is None else \
        {"image_properties_default_architecture": default}
    check_against_reference(
        image_props.ImagePropertiesFilter, make_table(descriptions),
        nova_hosts(descriptions), images, options,
        lambda host, props: nova_image_pass(host, props, default))


METADATA = st.dictionaries(
    st.sampled_from(["hw_architecture", "hw_vm_mode", "img_hv_type",
                     "hw_maxphysaddr_bits", "os_distro", "hw.hw_vm_mode"]),
    st.sampled_from(["x86_64", "x86_64, aarch64", "hvm", "xen,hvm", "kvm",
                     "42", "40, 46", "ubuntu"]),
    max_size=3)


@hypothesis.settings(max_examples=75, deadline=None)
@hypothesis.given(
    st.integers(min_value=1, max_value=6),
    st.lists(st.tuples(st.sets(st.integers(0, 5)), METADATA), max_size=4),
    st.lists(IMAGES, min_size=1, max_size=4),
    st.sampled_from([None, "hw", "img"]), st.sampled_from(["_", "."]))
def test_isolation_filter_equals_per_host_reference(
        count, aggregates, images, namespace, separator):
    descriptions = [dict(host=f"host{i}") for i in range(count)]
    aggregates = [(f"agg{n}", [f"host{i}" for i in members], metadata)
                  for n, (members, metadata) in enumerate(aggregates)]
    options = {"aggregate_image_properties_isolation_separator": separator}
    if namespace is not None:
        options["aggregate_image_properties_isolation_namespace"] = namespace
    check_against_reference(
        image_props.AggregateImagePropertiesIsolation,
        make_table(descriptions, aggregates),
        nova_hosts(descriptions, aggregates), images, options,
        lambda host, props: nova_isolation_pass(host, props, namespace,
                                                separator))
