"""The interface every liveness driver implements.

A driver answers for services identified by ``(service.host, service.topic)``
(``member`` and ``group`` in join/leave). The API in front of it
(``hoststate.servicegroup.api``) handles ``forced_down`` and the
service_down_time adjustment, so drivers only judge liveness.
"""
import abc
import datetime


class Driver(abc.ABC):
    #: the name ``servicegroup_driver`` uses for this driver
    name = None

    def __init__(self, conf, context=None):
        """``conf``: a loaded ConfigOpts; ``context``: a RequestContext for
        drivers that read or write the database."""
        self.conf = conf
        self.context = context

    @abc.abstractmethod
    def join(self, member, group, service=None):
        """Start reporting ``member`` (a host) of ``group`` (a topic) alive.

        ``service`` is the Service object, which the db driver heartbeats
        on. Returns at once; reporting runs in the background every
        ``report_interval`` seconds.
        """

    def join_many(self, members):
        """``join`` every ``(member, group, service)`` of ``members``.

        One process reporting for many services (``hoststate simulate``)
        calls this; drivers override it to report for the whole batch with
        one thread and bulk writes. This default joins them one by one.
        """
        for member, group, service in members:
            self.join(member, group, service)

    @abc.abstractmethod
    def leave(self, member, group):
        """Stop reporting ``member``; remove its membership where the
        backend allows (zk, mc), so it is seen down at once."""

    @abc.abstractmethod
    def is_up(self, service):
        """Whether ``service`` is alive. May raise ServiceGroupUnavailable."""

    def are_up(self, services):
        """``[is_up(s) for s in services]``, in one round trip where the
        backend allows; drivers override this."""
        return [self.is_up(service) for service in services]

    @abc.abstractmethod
    def get_all(self, group):
        """The members (hosts) of ``group`` currently alive, sorted."""

    def updated_time(self, service):
        """When ``service`` last reported, as the backend knows it (naive
        UTC datetime), or None."""
        updated = service.obj_get("updated_at")
        if updated is not None and updated.tzinfo is not None:
            updated = updated.astimezone(datetime.timezone.utc).replace(
                tzinfo=None)
        return updated

    def stop(self):
        """Stop every background reporter and close connections; leaves
        every member this driver joined."""

    def abandon(self):
        """Stop reporting every member this driver joined as a process that
        died would: no goodbye, nothing deleted, so the members are seen
        down only when the backend notices (db: ``service_down_time`` after
        the last heartbeat; mc: the keys expire; zk: the session expires).
        For tests and simulations that crash a service; ``stop`` may still
        be called afterwards and has nothing left to do."""
        raise NotImplementedError(
            f"the {self.name} servicegroup driver cannot abandon its members")
