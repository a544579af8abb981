"""What a cell answers when a listing gathers every cell
(:func:`hoststate.cells.routing.view`): this cell's own rows of the
listing, from its database, as JSON-ready dicts, with hosts as they
are here (the top qualifies nothing: each entry carries its cell's
path)."""
import dataclasses
import datetime

from hoststate.cli import hypervisor_inventory as hypervisors
from hoststate.cli import inventory


def rows_for(conf):
    """The ``views`` callable of a cells service with ``conf``."""
    def rows(context, kind, options):
        return own_rows(context, conf, kind, options or {})
    return rows


def own_rows(context, conf, kind, options):
    """{"rows": [...], "warnings": [...]}: the rows, and what the listing
    warned of here (a liveness backend that did not answer: its states
    are ``unknown``), which the top shows with this cell's path."""
    warnings = ()
    if kind == "hosts":
        found = inventory.list_hosts(context, conf, zone=options.get("zone"))
    elif kind == "services":
        result = inventory.list_services(
            context, conf, host=options.get("host"),
            binary=options.get("binary"))
        found, warnings = result.value, result.warnings
    elif kind == "hypervisors":
        result = hypervisors.list_hypervisors(context, conf)
        found, warnings = result.value, result.warnings
    else:       # hypervisor-stats
        found = [hypervisors.hypervisor_stats(context)]
    return {"rows": [_plain(dataclasses.asdict(row)
                            if dataclasses.is_dataclass(row) else dict(row))
                     for row in _records(found)],
            "warnings": list(warnings)}


def _records(found):
    return found.records() if hasattr(found, "records") else list(found)


def _plain(row):
    return {name: value.isoformat() if isinstance(value, datetime.datetime)
            else value for name, value in row.items()}
