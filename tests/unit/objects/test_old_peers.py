"""Old peers read what we backport for them.

Each class here is the object as an older release defined it, unregistered,
so it stands for the peer on the other end: it must load the primitive we
produce for its version and see the values it expects.
"""
import datetime

from oslo_serialization import jsonutils
from oslo_versionedobjects import base as ovo_base
from oslo_versionedobjects import fields

from hoststate.objects import compute_node as cn_obj
from hoststate.objects import numa
from hoststate.objects import service as service_obj

UTC = datetime.timezone.utc


class _OldPeerObject(ovo_base.VersionedObject):
    OBJ_SERIAL_NAMESPACE = "hoststate_object"
    OBJ_PROJECT_NAMESPACE = "hoststate"


class ServiceV1_0(_OldPeerObject):
    """Service 1.0: no last_seen_up, no forced_down, no version."""

    VERSION = "1.0"
    fields = {
        "id": fields.IntegerField(), "uuid": fields.UUIDField(),
        "host": fields.StringField(), "binary": fields.StringField(),
        "topic": fields.StringField(nullable=True),
        "report_count": fields.IntegerField(),
        "disabled": fields.BooleanField(),
        "disabled_reason": fields.StringField(nullable=True),
        "generation": fields.IntegerField(),
        "created_at": fields.DateTimeField(nullable=True),
        "updated_at": fields.DateTimeField(nullable=True),
        "deleted_at": fields.DateTimeField(nullable=True),
        "deleted": fields.BooleanField(),
    }

    def is_up(self, now, service_down_time):
        """How a 1.0 peer judged liveness: by updated_at."""
        return abs((now - self.updated_at).total_seconds()) <= service_down_time


class ComputeNodeV1_2(_OldPeerObject):
    """ComputeNode 1.2: numa_topology is JSON text, no mapped."""

    VERSION = "1.2"
    fields = {
        "id": fields.IntegerField(), "host": fields.StringField(),
        "vcpus": fields.IntegerField(),
        "cpu_allocation_ratio": fields.FloatField(nullable=True),
        "disk_allocation_ratio": fields.FloatField(nullable=True),
        "numa_topology": fields.StringField(nullable=True),
    }


def _load(old_cls, primitive):
    assert primitive["hoststate_object.version"] == old_cls.VERSION
    obj = old_cls()
    data = primitive["hoststate_object.data"]
    for name, field in old_cls.fields.items():
        if name in data:
            setattr(obj, name, field.from_primitive(obj, name, data[name]))
    return obj, set(data) - set(old_cls.fields)


def test_service_1_0_peer_sees_a_live_service_as_up_after_an_admin_edit():
    beat = datetime.datetime(2026, 11, 1, 12, 0, 0, tzinfo=UTC)
    edited = datetime.datetime(2026, 11, 1, 12, 5, 0, tzinfo=UTC)
    service = service_obj.Service(
        id=7, uuid="6f0b8c1e-8f43-4f0e-9c87-3b8a7c1f1f10", host="h1",
        binary="nova-compute", topic="compute", report_count=30,
        disabled=False, disabled_reason=None, generation=31,
        last_seen_up=beat, forced_down=False, version=1,
        created_at=beat, updated_at=edited, deleted_at=None, deleted=False)

    old, unknown = _load(ServiceV1_0,
                         service.obj_to_primitive(target_version="1.0"))

    assert unknown == set()
    assert (old.id, old.host, old.report_count, old.generation) == \
        (7, "h1", 30, 31)
    # the heartbeat, not the later admin edit, is what the old peer judges
    assert old.updated_at == beat
    assert old.is_up(beat + datetime.timedelta(seconds=59), 60) is True
    assert old.is_up(beat + datetime.timedelta(seconds=61), 60) is False


def test_compute_node_1_2_peer_reads_the_topology_from_json_text():
    node = cn_obj.ComputeNode(
        id=3, host="h1", vcpus=8, cpu_allocation_ratio=4.0,
        disk_allocation_ratio=1.0, mapped=1,
        numa_topology=numa.NUMATopology(cells=[
            numa.NUMACell(id=0, cpuset={0, 1}, pcpuset={2, 3}, memory=2048)]))
    manifest = {"ComputeNode": "1.2", "NUMATopology": "1.0", "NUMACell": "1.0",
                "NUMAPagesTopology": "1.0"}

    old, unknown = _load(ComputeNodeV1_2, node.obj_to_primitive(
        target_version="1.2", version_manifest=manifest))

    assert unknown == set()            # mapped (1.4) was dropped
    assert (old.id, old.vcpus, old.cpu_allocation_ratio) == (3, 8, 4.0)
    topology = jsonutils.loads(old.numa_topology)
    (cell,) = topology["hoststate_object.data"]["cells"]
    assert cell["hoststate_object.version"] == "1.0"
    assert sorted(cell["hoststate_object.data"]["cpuset"]) == [0, 1, 2, 3]
    assert cell["hoststate_object.data"]["memory"] == 2048
