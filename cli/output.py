"""How the views print, with the OpenStack client's options.

Every view command (host-list, host-describe, service-list,
hypervisor-list/show/stats, host-update, host-action, config show) takes:

* ``-f/--format table|json|yaml|csv|value`` (default ``table``);
* ``-c/--column NAME``, repeated: only these columns (fields), in this
  order; a name the view does not have is a one-line usage error (exit 2)
  listing the ones it has, raised before anything is read or changed;
* ``--quote all|minimal|none|nonnumeric`` for csv (default nonnumeric, as
  the OpenStack client: text quoted, numbers not);

and a *listing* also ``--sort-column NAME`` (repeated: by the first, then
the next ...) with ``--sort-ascending`` (the default) or
``--sort-descending``. Missing values sort last when ascending.

A *listing* (host-list, host-describe, service-list, hypervisor-list,
config show) is a list of dataclass records, all of one type:

* table: a header line of the field names, then one line per record, the
  columns separated by two spaces and padded to the widest cell;
* json: an array with one object per record, its keys the field names in
  the dataclass's order (the same order as the table's columns); an empty
  listing is ``[]``;
* yaml: the same data as json, as a YAML sequence of mappings;
* csv: a header of the field names, then one line per record;
* value: one line per record, its cells separated by single spaces, no
  header.

A *record* (hypervisor-show, hypervisor-stats, host-update, host-action)
is one dataclass or dict:

* table: two columns, ``field`` and ``value``, one line per field;
* json: one object, keys in field order; yaml: one mapping;
* csv: a header of the field names and one line of values;
* value: one value per line.

Values: in json and yaml, numbers and booleans stay typed, a missing value
is ``null``, a time is ISO 8601 (naive UTC, as stored:
``2024-05-01T12:00:00`` with microseconds when it has some), a document
(``cpu_info``) stays an object. In table and value, a missing value is
``-``, a time is ISO 8601 to the second, a document is compact JSON with
sorted keys. csv writes a missing value as an empty field, a time in full
ISO 8601 and a document as compact JSON. JSON is indented by two spaces
and ends with a newline.
"""
import csv
import dataclasses
import datetime
import json
import sys

from hoststate.cli import columns as columns_mod
from hoststate.cli import failures

FORMATS = ("table", "json", "yaml", "csv", "value")
QUOTING = {"all": csv.QUOTE_ALL, "minimal": csv.QUOTE_MINIMAL,
           "none": csv.QUOTE_NONE, "nonnumeric": csv.QUOTE_NONNUMERIC}
#: How a table shows a missing value.
MISSING = "-"
#: Types whose table cell is ``str(value)`` and csv cell the value itself.
_NUMBERS = {int, float, bool}
#: A string as JSON (ASCII, as json.dumps writes it by default).
_JSON_STRING = json.encoder.encode_basestring_ascii


class UnknownColumn(failures.UsageError):
    msg_fmt = "%(option)s %(column)s: no such column; this view has %(known)s"


def add_format_option(parser, fields, listing=True):
    """The output options on a view's ``parser``; ``fields`` are the
    view's column names (or its record dataclass), ``listing`` whether it
    prints a list of records (which can be sorted)."""
    if dataclasses.is_dataclass(fields):
        fields = _fields(fields)
    parser.set_defaults(view_fields=tuple(fields))
    group = parser.add_argument_group("output")
    group.add_argument(
        "-f", "--format", choices=FORMATS, default="table",
        help="table (aligned columns, the default), json, yaml, csv or "
             "value (space-separated, no header)")
    group.add_argument(
        "-c", "--column", action="append", default=[], metavar="NAME",
        dest="columns",
        help="only this column; repeat for more, in the order wanted "
             f"({', '.join(fields)})")
    group.add_argument(
        "--quote", choices=sorted(QUOTING), default="nonnumeric",
        help="csv: which fields are quoted (default: nonnumeric)")
    if listing:
        group.add_argument(
            "--sort-column", action="append", default=[], metavar="NAME",
            dest="sort_columns",
            help="sort by this column; repeat to break ties with more")
        order = group.add_mutually_exclusive_group()
        order.add_argument("--sort-ascending", action="store_false",
                           dest="sort_descending", default=False,
                           help="sort in ascending order (the default)")
        order.add_argument("--sort-descending", action="store_true",
                           dest="sort_descending",
                           help="sort in descending order")


def check_options(args):
    """Refuse an unknown ``-c`` or ``--sort-column`` before the view reads
    or changes anything (main calls this for every view)."""
    known = getattr(args, "view_fields", None)
    if known is None:
        return
    for option, names in (("--column", args.columns),
                          ("--sort-column", getattr(args, "sort_columns",
                                                    []))):
        for name in names:
            if name not in known:
                raise UnknownColumn(option=option, column=name,
                                    known=", ".join(known))


def _fields(record_type):
    return [f.name for f in dataclasses.fields(record_type)]


def _as_dict(record):
    if dataclasses.is_dataclass(record):
        return {name: getattr(record, name) for name in _fields(record)}
    return dict(record)


def _chosen(args, names):
    """The columns to print: ``-c`` ones in their order, else all."""
    return list(args.columns) if getattr(args, "columns", None) else \
        list(names)


# --- cells -----------------------------------------------------------------

def _table_cell(value):
    if value is None:
        return MISSING
    if isinstance(value, datetime.datetime):
        return value.isoformat(timespec="seconds")
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True, separators=(",", ":"))
    return str(value)


def _csv_cell(value):
    if value is None:
        return ""
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True, separators=(",", ":"))
    return value


def _table_cells(column):
    """``_table_cell`` of each value; text and numbers, the bulk of a
    large listing, without a call per value."""
    kinds = set(map(type, column))
    if kinds <= {str}:
        return column
    if kinds <= _NUMBERS:
        return list(map(str, column))
    return list(map(_table_cell, column))


def _csv_cells(column):
    """``_csv_cell`` of each value (text and numbers are kept as they are)."""
    if set(map(type, column)) <= {str} | _NUMBERS:
        return column
    return list(map(_csv_cell, column))


def _json_texts(column):
    """Each value as ``_print_json`` writes it as a field of an object in
    a list (two levels deep)."""
    kinds = set(map(type, column))
    if kinds <= {str}:
        return list(map(_JSON_STRING, column))
    if kinds <= {int}:
        return list(map(int.__repr__, column))
    return list(map(_json_text, column))


def _json_text(value):
    kind = type(value)
    if kind is str:
        return _JSON_STRING(value)
    if value is None:
        return "null"
    if kind is bool:
        return "true" if value else "false"
    if kind is datetime.datetime:
        return _JSON_STRING(value.isoformat())
    if isinstance(value, (dict, list, tuple)):
        # the same document, indented as it is two levels deep
        return json.dumps(_plain(value), indent=2).replace("\n", "\n    ")
    return json.dumps(_plain(value))


def _plain(value):
    """A JSON-compatible value (times as ISO 8601 text)."""
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


def _sort_key(value):
    """Numbers in order, before text (times and documents compare as
    their text: a column may mix types, ``config show``'s values do);
    missing values after everything else."""
    if value is None:
        return (2, 0)
    if isinstance(value, (int, float)):
        return (0, value)
    if isinstance(value, (dict, list)):
        return (1, json.dumps(value, sort_keys=True))
    if isinstance(value, datetime.datetime):
        return (1, value.isoformat())
    return (1, str(value))


# --- printing ----------------------------------------------------------------

def print_table(headers, rows):
    """Rows as an aligned plain-text table, one line per row."""
    rows = [[str(cell) for cell in row] for row in rows]
    _print_aligned(headers, list(zip(*rows)) or [()] * len(headers))


def _print_aligned(headers, cells):
    """``cells`` (one list of text per column) under ``headers``, every
    column padded to its widest cell, the lines written at once."""
    widths = [max(len(header), max(map(len, column), default=0))
              for header, column in zip(headers, cells)]
    line = "  ".join("{:<%d}" % w for w in widths)
    _write_lines([line.format(*headers).rstrip()]
                 + [line.format(*row).rstrip() for row in zip(*cells)])


def _write_lines(lines):
    """What ``print`` of each line writes, in one write."""
    if lines:
        sys.stdout.write("\n".join(lines) + "\n")


def _print_json(data):
    print(json.dumps(_plain(data), indent=2))


def _print_yaml(data):
    import yaml                 # only for -f yaml
    sys.stdout.write(yaml.safe_dump(_plain(data), default_flow_style=False,
                                    sort_keys=False, allow_unicode=True))


def _print_csv(args, headers, columns):
    """A header line, then a line per row of ``columns`` (one list of
    values per column)."""
    quoting = QUOTING[getattr(args, "quote", "nonnumeric")]
    writer = csv.writer(sys.stdout, quoting=quoting, lineterminator="\n",
                        escapechar="\\")
    writer.writerow(headers)
    writer.writerows(zip(*map(_csv_cells, columns)))


def _print_json_listing(names, columns):
    """What ``_print_json`` prints for a list of {name: value} objects
    (the row-th value of each column), built a column at a time."""
    if not columns or not columns[0]:
        print("[]")
        return
    keys = ["    %s: " % _JSON_STRING(name) for name in names]
    texts = [list(map(str.__add__, keys, row))
             for row in zip(*map(_json_texts, columns))]
    print("[\n" + ",\n".join("  {\n" + ",\n".join(row) + "\n  }"
                              for row in texts) + "\n]")


def _row_order(args, listing):
    """Row positions in ``--sort-column`` order (the first name first),
    None when no sorting was asked for."""
    names = getattr(args, "sort_columns", None) or []
    if not names:
        return None
    order = range(len(listing))
    for name in reversed(names):
        keys = list(map(_sort_key, listing.values[name]))
        order = sorted(order, key=keys.__getitem__,
                       reverse=args.sort_descending)
    return order


def emit_list(args, record_type, records):
    """Print a listing of ``record_type`` records (a list of them, or a
    :class:`~hoststate.cli.columns.Columns`) in ``args.format``.

    The work goes a column at a time (one type check and one conversion
    per column, one write), as a 50,000-row view needs."""
    listing = records if isinstance(records, columns_mod.Columns) else \
        columns_mod.Columns.of_records(record_type, records)
    fmt = args.format
    names = _chosen(args, _fields(record_type))
    if fmt in ("json", "yaml"):
        # {name: value} objects: a name asked for twice is one key
        names = list(dict.fromkeys(names))
    order = _row_order(args, listing)
    chosen = [listing.values[name] if order is None else
              [listing.values[name][i] for i in order] for name in names]
    if fmt == "json":
        _print_json_listing(names, chosen)
    elif fmt == "yaml":
        _print_yaml([dict(zip(names, row)) for row in zip(*chosen)])
    elif fmt == "csv":
        _print_csv(args, names, chosen)
    elif fmt == "value":
        _write_lines(list(map(" ".join, zip(*map(_table_cells, chosen)))))
    else:
        _print_aligned(names, list(map(_table_cells, chosen)))


def emit_record(args, record):
    """Print one record (a dataclass or an ordered dict) in ``args.format``."""
    values = _as_dict(record)
    values = {name: values[name] for name in _chosen(args, values)}
    fmt = args.format
    if fmt == "json":
        _print_json(values)
    elif fmt == "yaml":
        _print_yaml(values)
    elif fmt == "csv":
        _print_csv(args, list(values), [[value] for value in values.values()])
    elif fmt == "value":
        for value in values.values():
            print(_table_cell(value))
    else:
        print_table(("field", "value"), [
            (name, _table_cell(value)) for name, value in values.items()])


def warn(warnings):
    """Warnings go to stderr, so a script reading stdout is not misled."""
    for text in warnings:
        print(f"hoststate: warning: {text}", file=sys.stderr)
