"""How the operator views print: aligned tables for people, JSON for scripts.

Every view command takes ``--format table|json`` (default ``table``).

A *listing* (host-list, host-describe, service-list, hypervisor-list) is a
list of dataclass records, all of one type:

* table: a header line of the field names, then one line per record, the
  columns separated by two spaces and padded to the widest cell;
* json: an array with one object per record, its keys the field names in
  the dataclass's order (the same order as the table's columns); an empty
  listing is ``[]``.

A *record* (hypervisor-show, hypervisor-stats, host-update, host-action) is
one dataclass or dict:

* table: two columns, ``field`` and ``value``, one line per field;
* json: one object, keys in field order.

Values: in JSON, numbers and booleans stay typed, a missing value is
``null``, a time is ISO 8601 (naive UTC, as stored: ``2024-05-01T12:00:00``
with microseconds when it has some), a document (``cpu_info``) stays an
object. In a table, a missing value is ``-``, a time is ISO 8601 to the
second, a document is compact JSON with sorted keys. JSON is indented by
two spaces and ends with a newline.
"""
import dataclasses
import datetime
import json
import sys

from hoststate.cli import common

FORMATS = ("table", "json")
#: How a table shows a missing value.
MISSING = "-"


def add_format_option(parser):
    parser.add_argument(
        "--format", choices=FORMATS, default="table",
        help="table (aligned columns, the default) or json (for scripts; "
             "see hoststate.cli.output for the shape)")


def _fields(record_type):
    return [f.name for f in dataclasses.fields(record_type)]


def _as_dict(record):
    if dataclasses.is_dataclass(record):
        return {name: getattr(record, name) for name in _fields(record)}
    return dict(record)


def _table_cell(value):
    if value is None:
        return MISSING
    if isinstance(value, datetime.datetime):
        return value.isoformat(timespec="seconds")
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True, separators=(",", ":"))
    return str(value)


def _json_default(value):
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _print_json(data):
    print(json.dumps(data, indent=2, default=_json_default))


def emit_list(args, record_type, records):
    """Print a listing of ``record_type`` records in ``args.format``."""
    columns = _fields(record_type)
    if args.format == "json":
        _print_json([_as_dict(r) for r in records])
        return
    common.print_table(columns, [
        [_table_cell(getattr(r, c)) for c in columns] for r in records])


def emit_record(args, record):
    """Print one record (a dataclass or an ordered dict) in ``args.format``."""
    values = _as_dict(record)
    if args.format == "json":
        _print_json(values)
        return
    common.print_table(("field", "value"), [
        (name, _table_cell(value)) for name, value in values.items()])


def warn(warnings):
    """Warnings go to stderr, so a script reading stdout is not misled."""
    for text in warnings:
        print(f"hoststate: warning: {text}", file=sys.stderr)
