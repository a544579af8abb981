"""How the views print a listing (hoststate.cli.output), every format,
from records or from columns: awkward values (missing, times with and
without microseconds, non-ASCII text, quotes and commas, trailing spaces,
booleans, floats, documents) come out exactly as the module docstring
says, a column at a time."""
import argparse
import dataclasses
import datetime
import json

import pytest

from hoststate.cli import columns
from hoststate.cli import output


@dataclasses.dataclass(frozen=True)
class Row:
    id: int
    name: str
    seen: datetime.datetime | None
    note: str | None
    ok: bool
    ratio: float
    doc: object


ROWS = [
    Row(2, "b-host", datetime.datetime(2024, 5, 1, 12, 0, 0, 250000),
        'café, "quoted"', True, 1.5, {"b": [1, 2], "a": {}}),
    Row(10, "a", None, None, False, float("nan"), []),
    Row(1, "ünï", datetime.datetime(2024, 5, 1, 12, 0, 0), "trailing  ",
        False, 0.25, {"k": None}),
]


def emit(capsys, fmt, records=ROWS, cols=(), sort=(), descending=False,
         quote="nonnumeric"):
    args = argparse.Namespace(format=fmt, columns=list(cols),
                              sort_columns=list(sort),
                              sort_descending=descending, quote=quote)
    output.emit_list(args, Row, records)
    out, err = capsys.readouterr()
    assert err == ""
    return out


def as_columns(records):
    return columns.Columns.of_records(Row, records)


# --- every format, from records and from columns ---------------------------

TABLE = (
    'id  name    seen                 note            ok     ratio  doc\n'
    '2   b-host  2024-05-01T12:00:00  café, "quoted"  True   1.5    '
    '{"a":{},"b":[1,2]}\n'
    '10  a       -                    -               False  nan    []\n'
    '1   ünï     2024-05-01T12:00:00  trailing        False  0.25   '
    '{"k":null}\n')

CSV = (
    '"id","name","seen","note","ok","ratio","doc"\n'
    '2,"b-host","2024-05-01T12:00:00.250000","café, ""quoted""",True,1.5,'
    '"{""a"":{},""b"":[1,2]}"\n'
    '10,"a","","",False,nan,"[]"\n'
    '1,"ünï","2024-05-01T12:00:00","trailing  ",False,0.25,'
    '"{""k"":null}"\n')

VALUE = (
    '2 b-host 2024-05-01T12:00:00 café, "quoted" True 1.5 '
    '{"a":{},"b":[1,2]}\n'
    '10 a - - False nan []\n'
    '1 ünï 2024-05-01T12:00:00 trailing   False 0.25 {"k":null}\n')

YAML = """\
- id: 2
  name: b-host
  seen: '2024-05-01T12:00:00.250000'
  note: café, "quoted"
  ok: true
  ratio: 1.5
  doc:
    b:
    - 1
    - 2
    a: {}
- id: 10
  name: a
  seen: null
  note: null
  ok: false
  ratio: .nan
  doc: []
- id: 1
  name: ünï
  seen: '2024-05-01T12:00:00'
  note: 'trailing  '
  ok: false
  ratio: 0.25
  doc:
    k: null
"""

#: The rows as JSON data: times in full ISO 8601, documents as they are.
PLAIN = [
    dict(id=2, name="b-host", seen="2024-05-01T12:00:00.250000",
         note='café, "quoted"', ok=True, ratio=1.5,
         doc={"b": [1, 2], "a": {}}),
    dict(id=10, name="a", seen=None, note=None, ok=False,
         ratio=float("nan"), doc=[]),
    dict(id=1, name="ünï", seen="2024-05-01T12:00:00", note="trailing  ",
         ok=False, ratio=0.25, doc={"k": None}),
]


@pytest.mark.parametrize("shape", [list, as_columns])
@pytest.mark.parametrize("fmt, expected", [
    ("table", TABLE), ("csv", CSV), ("value", VALUE), ("yaml", YAML),
    # json.dumps's own indentation, escapes (ASCII) and NaN
    ("json", json.dumps(PLAIN, indent=2) + "\n"),
])
def test_every_format(capsys, shape, fmt, expected):
    assert emit(capsys, fmt, shape(ROWS)) == expected


def test_json_of_text_and_numbers_only_columns(capsys):
    """The columns without a call per value (all text, all int)."""
    out = emit(capsys, "json", cols=["name", "id"])
    assert out == json.dumps([{"name": p["name"], "id": p["id"]}
                              for p in PLAIN], indent=2) + "\n"


def test_a_document_two_levels_deep_in_json(capsys):
    nested = [Row(1, "n", None, None, True, 1.0,
                  {"list": [{"deep": [1, {"x": "y"}]}, ()], "e": {}})]
    out = emit(capsys, "json", nested, cols=["doc", "id"])
    assert out == json.dumps([{"doc": {"list": [{"deep": [1, {"x": "y"}]},
                                                []], "e": {}},
                               "id": 1}], indent=2) + "\n"


# --- columns, order, duplicates -----------------------------------------------

def test_chosen_columns_sorted_descending_by_two_keys(capsys):
    """ok descending, then id descending among equal ok; a column asked
    twice is shown twice where cells are positional."""
    argv = dict(cols=["note", "id", "note"], sort=["ok", "id"],
                descending=True)
    assert emit(capsys, "table", **argv) == (
        'note            id  note\n'
        'café, "quoted"  2   café, "quoted"\n'
        '-               10  -\n'
        'trailing        1   trailing\n')
    assert emit(capsys, "csv", **argv) == (
        '"note","id","note"\n'
        '"café, ""quoted""",2,"café, ""quoted"""\n'
        '"",10,""\n'
        '"trailing  ",1,"trailing  "\n')


@pytest.mark.parametrize("fmt", ["json", "yaml"])
def test_a_column_asked_twice_is_one_key_of_an_object(capsys, fmt):
    out = emit(capsys, fmt, cols=["note", "id", "note"], sort=["id"])
    expected = [{"note": "trailing  ", "id": 1},
                {"note": 'café, "quoted"', "id": 2},
                {"note": None, "id": 10}]
    if fmt == "json":
        assert out == json.dumps(expected, indent=2) + "\n"
    else:
        assert out == ("- note: 'trailing  '\n  id: 1\n"
                       '- note: café, "quoted"\n  id: 2\n'
                       "- note: null\n  id: 10\n")


def test_sorting_keeps_the_read_order_of_equal_keys(capsys):
    """Stable, ascending and descending alike: the two rows with ok
    False stay in their order (10 before 1)."""
    up = emit(capsys, "value", cols=["id"], sort=["ok"])
    down = emit(capsys, "value", cols=["id"], sort=["ok"], descending=True)
    assert (up, down) == ("10\n1\n2\n", "2\n10\n1\n")


@pytest.mark.parametrize("fmt, expected", [
    ("table", "id  name  seen  note  ok  ratio  doc\n"),
    ("json", "[]\n"),
    ("yaml", "[]\n"),
    ("csv", '"id","name","seen","note","ok","ratio","doc"\n'),
    ("value", ""),
])
def test_an_empty_listing(capsys, fmt, expected):
    assert emit(capsys, fmt, []) == expected
    assert emit(capsys, fmt, columns.Columns.of_records(Row, [])) == expected


def test_print_table_of_rows(capsys):
    output.print_table(("table", "rows"), [("services", 3),
                                           ("compute_nodes", 12)])
    assert capsys.readouterr().out == ("table          rows\n"
                                       "services       3\n"
                                       "compute_nodes  12\n")


# --- the Columns container -------------------------------------------------------

def test_columns_give_back_the_records():
    listing = as_columns(ROWS)
    assert len(listing) == 3
    assert listing.values["id"] == [2, 10, 1]
    assert listing.records()[::2] == [ROWS[0], ROWS[2]]


def test_columns_of_mappings():
    mappings = [dataclasses.asdict(row) for row in ROWS[2:]]
    assert columns.Columns.of_records(Row, mappings).records() == ROWS[2:]


@pytest.mark.parametrize("values, message", [
    ({"id": [1]}, "columns ['id'] are not the fields of Row"),
    ({name: [1] for name in ("name", "id", "seen", "note", "ok", "ratio",
                              "doc")}, "are not the fields of Row"),
    ({**{name: [1] for name in ("id", "name", "seen", "note", "ok",
                                "ratio")}, "doc": []},
     "columns of Row differ in length"),
])
def test_columns_refuse_what_is_not_the_record_type(values, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[")):
        columns.Columns(Row, values)
