"""The cell tree's pure rules: names, paths, weights, transport URLs and
the conflicts a new cell may not bring (no database here)."""
import math

import pytest

from hoststate import exception
from hoststate.cells import tree


# --- names and paths ----------------------------------------------------------

@pytest.mark.parametrize("name", ["api", "child-1", "c_2.x", "x" * 255,
                                  "z\u00fcrich"])
def test_a_good_name_is_returned_as_it_is(name):
    assert tree.check_name(name) == name


@pytest.mark.parametrize("name, reason", [
    ("", "it is empty"),
    (None, "it is not text"),
    ("x" * 256, "it has 256 characters, more than 255"),
    ("a!b", "it contains '!', the cell path separator"),
    ("a@b", "it contains '@', which separates a cell path from a host "
            "name"),
    ("a b", "it contains whitespace or a control character"),
    ("ab\n", "it contains whitespace or a control character"),
    ("a\u00a0b", "it contains whitespace or a control character"),
    ("a\x07b", "it contains whitespace or a control character"),
])
def test_a_bad_name_says_why(name, reason):
    with pytest.raises(exception.InvalidCellName) as refused:
        tree.check_name(name)
    assert refused.value.reason == reason
    assert "\n" not in str(refused.value)


def test_path_joins_names_with_the_separator():
    assert tree.path("api") == "api"
    assert tree.path("api", "child1", "grand1") == "api!child1!grand1"


def test_split_is_the_inverse_of_path():
    names = ["api", "child1", "grand1"]
    assert tree.split(tree.path(*names)) == names
    assert tree.split("api") == ["api"]


@pytest.mark.parametrize("text, message", [
    ("", "invalid cell path '': it names no cell"),
    ("api!!grand1", "invalid cell path 'api!!grand1': invalid cell name "
                    "'': it is empty"),
    ("api!", "invalid cell path 'api!': invalid cell name '': it is empty"),
    ("api!a b", "invalid cell path 'api!a b': invalid cell name 'a b': it "
                "contains whitespace or a control character"),
])
def test_split_refuses_a_path_with_a_bad_segment(text, message):
    with pytest.raises(exception.InvalidCellPath) as refused:
        tree.split(text)
    assert str(refused.value) == message


def test_path_refuses_a_name_holding_the_separator():
    with pytest.raises(exception.InvalidCellPath) as refused:
        tree.path("api", "a!b")
    assert str(refused.value) == (
        "invalid cell path 'api!a!b': invalid cell name 'a!b': it contains "
        "'!', the cell path separator")
    with pytest.raises(exception.InvalidCellPath):
        tree.path()


# --- weights and URLs --------------------------------------------------------

@pytest.mark.parametrize("value", [0, -1.5, 1e300, 2])
def test_a_finite_weight_is_a_float(value):
    weight = tree.check_weight("c", "weight scale", value)
    assert (weight, type(weight)) == (float(value), float)


@pytest.mark.parametrize("value, shown", [
    (math.nan, "nan"), (math.inf, "inf"), (-math.inf, "-inf"),
    (True, "True"), ("1", "'1'"), (None, "None")])
def test_a_weight_that_is_no_finite_number_is_refused(value, shown):
    with pytest.raises(exception.InvalidCellWeight) as refused:
        tree.check_weight("c", "weight offset", value)
    assert str(refused.value) == (f"invalid weight offset {shown} for cell "
                                  f"c: it must be a finite number")


@pytest.mark.parametrize("url", [
    "rabbit://guest:guest@127.0.0.1:5672/", "local://",
    "rabbit://a:b@h1:5672,a:b@h2:5672/vhost"])
def test_a_parseable_url_with_an_installed_driver_is_kept(url):
    assert tree.check_transport_url("c", url) == url


@pytest.mark.parametrize("url, reason", [
    ("", "it is empty"),
    ("rabbit://u:topsecret@h:x/",
     "oslo.messaging cannot parse it: invalid literal for int() with base "
     "10: 'x'"),
    ("no-scheme", "oslo.messaging cannot parse it: No scheme specified"),
    ("rabbit://u:topsecret@[::1/", "oslo.messaging cannot parse it: "
                                    "Invalid IPv6 URL"),
])
def test_an_unparseable_url_is_refused_without_its_password(url, reason):
    with pytest.raises(exception.InvalidCellTransportURL) as refused:
        tree.check_transport_url("c", url)
    assert refused.value.reason == reason
    assert "topsecret" not in str(refused.value)


def test_a_url_of_a_driver_that_is_not_installed_is_refused():
    with pytest.raises(exception.InvalidCellTransportURL) as refused:
        tree.check_transport_url("c", "nosuchbus://u:topsecret@h/")
    assert refused.value.url == "nosuchbus://u:***@h/"
    assert refused.value.reason.startswith(
        "no oslo.messaging driver 'nosuchbus' is installed (installed: ")
    assert "rabbit" in refused.value.reason


def test_a_url_longer_than_a_text_column_is_refused_and_cut():
    url = "rabbit://h/" + "v" * 70000
    with pytest.raises(exception.InvalidCellTransportURL) as refused:
        tree.check_transport_url("c", url)
    assert refused.value.reason == "it has 70011 characters, more than 65535"
    assert refused.value.url == url[:60] + "..."


def test_checked_gives_the_row_values():
    assert tree.checked("c1", "parent", "local://", 1, 2) == {
        "name": "c1", "is_parent": True, "weight_offset": 1.0,
        "weight_scale": 2.0, "transport_url": "local://"}
    with pytest.raises(exception.InvalidArgument):
        tree.checked("c1", "sibling", "local://")


# --- conflicts with the live rows ------------------------------------------

def _row(name, is_parent):
    return {"id": 1, "name": name, "is_parent": is_parent,
            "transport_url": "local://", "weight_offset": 0.0,
            "weight_scale": 1.0, "created_at": None}


LIVE = [_row("api", True), _row("child1", False)]


def test_no_conflict_for_a_new_child():
    assert tree._refuse_conflicts(LIVE, "child2", "child") is None
    assert tree._refuse_conflicts([_row("child1", False)], "api",
                                  "parent") is None


@pytest.mark.parametrize("name, role, error, message", [
    ("Child1", "child", exception.CellExists,
     "a cell named child1 already exists (a child of this cell)"),
    ("api", "parent", exception.CellExists,
     "a cell named api already exists (a parent of this cell)"),
    ("top", "parent", exception.CellParentExists,
     "this cell already has a parent, api; a cell has at most one (remove "
     "it first)"),
])
def test_a_conflict_names_the_cell_in_the_way(name, role, error, message):
    with pytest.raises(error) as refused:
        tree._refuse_conflicts(LIVE, name, role)
    assert str(refused.value) == message
