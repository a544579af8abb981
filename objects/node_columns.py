"""How a ComputeNode's fields are stored in ``compute_nodes``' columns.

Documents (the NUMA topology, PCI pools, hypervisor specs, stats and
traits) are JSON text in a column of their own, parsed once per distinct
text; the other fields are stored in the same-named column, in its form
(``base.column_value``). One place for both directions, for the node's
own reads and writes and for writers that change a node's columns
without building one (the tracker's give-back).
"""
import copy
import functools

from oslo_serialization import jsonutils

from hoststate.db import schema
from hoststate.objects import base
from hoststate.objects import hv_spec
from hoststate.objects import traits as traits_mod

#: Fields stored as JSON documents (or child objects) rather than scalars,
#: with the column each one lives in.
DOCUMENT_COLUMNS = {
    "numa_topology": "numa_topology",
    "pci_device_pools": "pci_stats",
    "supported_hv_specs": "supported_instances",
    "stats": "stats",
    "driver_traits": "driver_traits",
    "operator_traits": "operator_traits",
}


def stats_of(text):
    """The stats dict of a ``stats`` column's text (NULL reads as {})."""
    return jsonutils.loads(text) if text else {}


def stats_text(stats):
    """The ``stats`` column's text of a stats dict."""
    return jsonutils.dumps(stats, sort_keys=True)


def document(parse, text):
    """``parse(text)`` as an object of its own (None for no text).

    Parsed once per distinct text (nodes of one model share their
    documents, and a node's change little from one write to the next) and
    deep-copied after: parsing coerces every field of every NUMA cell
    again, which cost more than the rest of reading a node."""
    if not text:
        return None
    clone = copy.deepcopy(_parsed(parse, text))
    for item in clone if isinstance(clone, list) else [clone]:
        item.obj_reset_changes(recursive=True)
    return clone


@functools.lru_cache(maxsize=1024)
def _parsed(parse, text):
    return parse(text)


#: Columns only the database moves (or the soft delete sets).
_NOT_WRITTEN = frozenset(("id", "deleted", "generation"))


def column_values(names, value_of):
    """{column: value} stored for the ComputeNode fields ``names``, whose
    values ``value_of(name)`` gives: documents as their JSON text in
    their columns; fields with no column, and those only the database
    moves, left out."""
    values = {}
    columns = schema.compute_nodes.c
    for name in names:
        if name in DOCUMENT_COLUMNS:
            values[DOCUMENT_COLUMNS[name]] = _dump_document(
                name, value_of(name))
        elif name in columns and name not in _NOT_WRITTEN:
            values[name] = base.column_value(value_of(name))
    return values


def _dump_document(field, value):
    """The column text of a document field (None stays NULL)."""
    if value is None:
        return None
    if field == "supported_hv_specs":
        return hv_spec.to_json(value)
    if field == "stats":
        return stats_text(value)
    if field in traits_mod.COLUMNS:
        return traits_mod.to_text(value)
    return value.to_json()
