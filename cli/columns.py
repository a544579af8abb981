"""A listing held column by column.

A view that reads 50,000 rows in bulk hands them to the printer as one
list per field rather than as 50,000 records: building a frozen dataclass
per row, only for the printer to take each apart again, cost more than the
query did. The record type still names the fields and their order, and
``records()`` gives the dataclasses to a caller that wants them.
"""
import dataclasses
import operator


class Columns:
    """``values[name][i]`` is the field ``name`` of row ``i``; the names
    are ``record_type``'s fields, in its order, every list as long."""

    __slots__ = ("record_type", "values")

    def __init__(self, record_type, values):
        names = field_names(record_type)
        if list(values) != names:
            raise ValueError(f"columns {list(values)} are not the fields "
                             f"of {record_type.__name__}: {names}")
        if len({len(column) for column in values.values()}) > 1:
            raise ValueError(f"columns of {record_type.__name__} differ in "
                             f"length")
        self.record_type = record_type
        self.values = {name: list(values[name]) for name in names}

    @classmethod
    def of_records(cls, record_type, records):
        """The columns of ``records``: ``record_type`` instances, or
        mappings with its field names as keys."""
        records = list(records)
        names = field_names(record_type)
        if records and not dataclasses.is_dataclass(records[0]):
            records = [dict(record) for record in records]
            get = operator.itemgetter
        else:
            get = operator.attrgetter
        return cls(record_type, {name: list(map(get(name), records))
                                 for name in names})

    def __len__(self):
        return len(next(iter(self.values.values()), ()))

    def records(self):
        """One ``record_type`` per row, in order."""
        return [self.record_type(*row) for row in zip(*self.values.values())]


def field_names(record_type):
    return [field.name for field in dataclasses.fields(record_type)]
