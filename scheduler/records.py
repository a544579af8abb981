"""The plain records the host-state table holds besides its columns: the
compute service of each host and the aggregates (small, few, read whole)."""


class AggregateRecord:
    """An aggregate as the table holds it: id, uuid, name, hosts, metadata."""

    __slots__ = ("id", "uuid", "name", "hosts", "metadata")

    def __init__(self, id, uuid, name, hosts=(), metadata=None):
        self.id = id
        self.uuid = uuid
        self.name = name
        self.hosts = frozenset(hosts)
        self.metadata = dict(metadata or {})

    @property
    def availability_zone(self):
        return self.metadata.get("availability_zone")

    def __repr__(self):
        return f"AggregateRecord({self.id}, {self.name!r})"


class ServiceRecord:
    """The parts of a compute service row the scheduler reads."""

    __slots__ = ("id", "uuid", "host", "disabled", "disabled_reason",
                 "forced_down", "created_at", "last_seen_up", "updated_at",
                 "version")

    def __init__(self, id, host, disabled=False, forced_down=False,
                 disabled_reason=None, uuid=None, created_at=None,
                 last_seen_up=None, updated_at=None, version=0):
        self.id = id
        self.uuid = uuid
        self.host = host
        self.disabled = bool(disabled)
        self.disabled_reason = disabled_reason
        self.forced_down = bool(forced_down)
        self.created_at = created_at
        self.last_seen_up = last_seen_up
        self.updated_at = updated_at
        self.version = version

    def get(self, name, default=None):
        """Dict-style reads, as the servicegroup drivers take a service."""
        return getattr(self, name, default)

    def __getitem__(self, name):
        return getattr(self, name)

    def as_dict(self):
        return {name: getattr(self, name) for name in self.__slots__}
