"""The request context: who is asking, and which database answers.

Every remotable object method takes a context first. Locally the context
carries the engine of the (cell) database the call reads and writes; over
RPC (the conductor) only the serialisable identity travels and the serving
side supplies its own engine.
"""
import copy

from oslo_context import context as oslo_context

READ_DELETED_CHOICES = ("no", "yes", "only")


def _check_read_deleted(value):
    if value not in READ_DELETED_CHOICES:
        raise ValueError(
            f"read_deleted must be one of {READ_DELETED_CHOICES}, not {value!r}")


class RequestContext(oslo_context.RequestContext):
    """An oslo request context that also names a database engine.

    ``read_deleted`` follows Nova: "no" hides soft-deleted rows, "yes" shows
    them too, "only" shows nothing else.
    """

    def __init__(self, engine=None, read_deleted="no", cell_uuid=None,
                 service_host=None, **kwargs):
        super().__init__(**kwargs)
        _check_read_deleted(read_deleted)
        self.engine = engine
        self.read_deleted = read_deleted
        self.cell_uuid = cell_uuid
        #: the host of the service acting (a compute agent's): what the
        #: conductor lets it write (hoststate.conductor.policy)
        self.service_host = service_host

    def elevated(self, read_deleted=None):
        """An admin copy of this context (for service-internal reads)."""
        ctx = self.with_read_deleted(read_deleted or self.read_deleted)
        ctx.is_admin = True
        ctx.roles = sorted(set(self.roles) | {"admin"})
        return ctx

    def with_read_deleted(self, read_deleted):
        """A copy of this context that reads soft-deleted rows as asked."""
        _check_read_deleted(read_deleted)
        ctx = copy.copy(self)
        ctx.read_deleted = read_deleted
        return ctx

    def to_dict(self):
        values = super().to_dict()
        values["read_deleted"] = self.read_deleted
        values["cell_uuid"] = self.cell_uuid
        values["service_host"] = self.service_host
        return values

    @classmethod
    def from_dict(cls, values, engine=None, **kwargs):
        kwargs.setdefault("read_deleted", values.get("read_deleted", "no"))
        kwargs.setdefault("cell_uuid", values.get("cell_uuid"))
        kwargs.setdefault("service_host", values.get("service_host"))
        ctx = super().from_dict(values, **kwargs)
        ctx.engine = engine
        return ctx


def get_admin_context(engine=None, read_deleted="no"):
    """An admin context for service-internal work (periodic tasks, tools)."""
    return RequestContext(engine=engine, read_deleted=read_deleted,
                          is_admin=True, roles=["admin"], overwrite=False)
