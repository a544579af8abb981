"""[cells] capabilities: parsed, refused when malformed, merged upward."""
import pytest
from oslo_config import cfg

from hoststate import conf as hconf
from hoststate import exception
from hoststate.cells import capabilities


def test_parse_reads_keys_and_their_values():
    assert capabilities.parse(
        ["hypervisor=xenserver;kvm", " os = linux ; windows "]) == {
            "hypervisor": frozenset({"xenserver", "kvm"}),
            "os": frozenset({"linux", "windows"})}


def test_parse_of_nothing_is_empty():
    assert capabilities.parse([]) == {}


def test_a_value_may_hold_an_equals_sign():
    assert capabilities.parse(["flags=a=b;c"]) == {
        "flags": frozenset({"a=b", "c"})}


def test_the_default_option_parses():
    conf = hconf.load(conf=cfg.ConfigOpts(), use_env=False)
    assert capabilities.parse(conf.cells.capabilities) == {
        "hypervisor": frozenset({"xenserver", "kvm"}),
        "os": frozenset({"linux", "windows"})}


@pytest.mark.parametrize("entries,message", [
    (["kvm"], "invalid cell capability 'kvm': no '=' between a key and "
              "its values"),
    (["=kvm"], "invalid cell capability '=kvm': the key before '=' is "
               "empty"),
    ([" =kvm"], "invalid cell capability ' =kvm': the key before '=' is "
                "empty"),
    (["hypervisor="], "invalid cell capability 'hypervisor=': no value "
                      "after '='"),
    (["hypervisor= "], "invalid cell capability 'hypervisor= ': no value "
                       "after '='"),
    (["hypervisor=kvm;;xen"], "invalid cell capability "
                              "'hypervisor=kvm;;xen': an empty value "
                              "between ';'"),
    (["hypervisor=kvm;"], "invalid cell capability 'hypervisor=kvm;': an "
                          "empty value between ';'"),
    (["os=linux", "hypervisor=kvm", "os=windows"],
     "invalid cell capability 'os=windows': key 'os' is given twice"),
    (["os=linux", " os =linux"],
     "invalid cell capability ' os =linux': key 'os' is given twice"),
])
def test_malformed_entry_is_refused_naming_it(entries, message):
    with pytest.raises(exception.InvalidCellCapability) as info:
        capabilities.parse(entries)
    assert str(info.value) == message
    assert "\n" not in message
    assert isinstance(info.value, exception.CellInputInvalid)


def test_malformed_option_is_refused_when_the_configuration_is_read(
        tmp_path):
    path = tmp_path / "hoststate.conf"
    path.write_text("[cells]\ncapabilities = os=linux, kvm\n")
    with pytest.raises(exception.ConfigInvalid) as info:
        hconf.load(config_files=[str(path)], conf=cfg.ConfigOpts(),
                   use_env=False)
    err = info.value
    assert (err.group, err.option, err.value) == (
        "cells", "capabilities", "os=linux, kvm")
    assert err.reason == (
        "invalid cell capability 'kvm': no '=' between a key and its "
        f"values (set in {path})")


def test_a_key_twice_is_refused_when_the_configuration_is_read(tmp_path):
    path = tmp_path / "hoststate.conf"
    path.write_text("[cells]\ncapabilities = os=linux, os=windows\n")
    with pytest.raises(exception.ConfigInvalid) as info:
        hconf.load(config_files=[str(path)], conf=cfg.ConfigOpts(),
                   use_env=False)
    assert info.value.reason == (
        "invalid cell capability 'os=windows': key 'os' is given twice "
        f"(set in {path})")


def test_merge_is_the_union_of_values_per_key():
    own = {"hypervisor": frozenset({"kvm"}), "os": frozenset({"linux"})}
    child1 = {"hypervisor": frozenset({"xen", "kvm"})}
    child2 = {"os": frozenset({"windows"}), "gpu": frozenset({"a100"})}
    assert capabilities.merge(own, child1, child2) == {
        "hypervisor": frozenset({"kvm", "xen"}),
        "os": frozenset({"linux", "windows"}),
        "gpu": frozenset({"a100"})}
    # the inputs are left as they were
    assert own == {"hypervisor": frozenset({"kvm"}),
                   "os": frozenset({"linux"})}


def test_merge_of_nothing_is_empty():
    assert capabilities.merge() == {}


def test_primitive_is_sorted_and_round_trips():
    parsed = capabilities.parse(["os=windows;linux", "hypervisor=kvm"])
    primitive = capabilities.to_primitive(parsed)
    assert primitive == {"hypervisor": ["kvm"], "os": ["linux", "windows"]}
    assert list(primitive) == ["hypervisor", "os"]
    assert capabilities.from_primitive(primitive) == parsed
