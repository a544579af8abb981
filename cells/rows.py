"""A row of the cell tree as commands show it: light to import (a
command's parser names its columns before anything heavy loads)."""
import dataclasses
import datetime

PARENT, CHILD = "parent", "child"
ROLES = (PARENT, CHILD)


@dataclasses.dataclass(frozen=True)
class Cell:
    """A live row of the tree. ``transport_url`` holds the credentials;
    show ``shown_url`` instead."""

    id: int
    name: str
    role: str
    transport_url: str
    weight_offset: float
    weight_scale: float
    created_at: datetime.datetime | None

    @property
    def shown_url(self):
        from hoststate import rpc      # oslo.messaging: only when shown
        return rpc.shown_url(self.transport_url)

    def as_shown(self):
        """The row with its transport URL's password hidden."""
        return dataclasses.replace(self, transport_url=self.shown_url)

    @classmethod
    def of_row(cls, row):
        return cls(id=row["id"], name=row["name"],
                   role=PARENT if row["is_parent"] else CHILD,
                   transport_url=row["transport_url"],
                   weight_offset=row["weight_offset"],
                   weight_scale=row["weight_scale"],
                   created_at=row["created_at"])
