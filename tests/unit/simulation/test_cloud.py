"""The simulated cloud's repeatable uuids."""
import uuid

from hoststate.simulation import cloud


def test_name_uuid_is_the_uuid5_of_the_name():
    """``name_uuid`` writes uuid5 out by hand for speed: the same text as
    the standard library's, for every kind of name the seed makes."""
    names = [f"compute-{i:06d}" for i in range(2000)] + [
        "service:compute-000001", "aggregate:rack7", "", "hôte-ü", "a" * 300]
    for name in names:
        assert cloud.name_uuid(name) == \
            str(uuid.uuid5(cloud.NODE_NAMESPACE, name)), name
