"""The zk driver's answers from its member cache: a service is up when
its host is among the live members of its topic's group.

``members_of(group)`` is the driver's cache lookup (a frozenset, or
ServiceGroupUnavailable); it is called once per distinct topic.
"""
import operator

# oslo.versionedobjects keeps a field's value in the attribute ``_obj_<name>``;
# reading it through a C attrgetter, not the Python property, is what keeps
# a bulk answer for 10,000 Service objects under a millisecond. Anything else
# (dicts, other objects, unset fields) takes the slow, generic path.
_HOSTS = operator.attrgetter("_obj_host")
_TOPICS = operator.attrgetter("_obj_topic")


def field(service, name):
    """``name`` of a Service object, a dict or any object (None if unset)."""
    if hasattr(service, "obj_get"):
        return service.obj_get(name)
    if hasattr(service, "get"):
        return service.get(name)
    return getattr(service, name, None)


def is_up(service, members_of):
    return field(service, "host") in members_of(field(service, "topic"))


def are_up(services, members_of):
    """``[is_up(s) for s in services]``, each group looked up once."""
    if not isinstance(services, list):
        services = list(services)
    if not services:
        return []
    try:
        topics = set(map(_TOPICS, services))
        if len(topics) == 1:
            members = members_of(topics.pop())
            return list(map(members.__contains__, map(_HOSTS, services)))
        caches = {topic: members_of(topic) for topic in topics}
        return [host in caches[topic] for topic, host in
                zip(map(_TOPICS, services), map(_HOSTS, services))]
    except AttributeError:
        pass  # not versioned objects, or host/topic unset
    keys = [(field(s, "topic"), field(s, "host")) for s in services]
    caches = {t: members_of(t) for t in {t for t, _ in keys}}
    return [host in caches[topic] for topic, host in keys]
