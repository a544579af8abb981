"""Object fingerprints: a field or remotable method change needs a new version.

Each fingerprint hashes an object's fields and its remotable methods'
signatures. When this test fails, bump the object's VERSION, add the change
to its version comment (and a backport in obj_make_compatible or
FIELDS_ADDED), then record the new fingerprint here.
"""
import pytest
from oslo_versionedobjects import fields as ovo_fields
from oslo_versionedobjects import fixture

import hoststate.objects  # noqa: F401  (registers every object)
# the agents' remotable row reads, registered where they live
import hoststate.resource_tracker.host_rows  # noqa: F401
from hoststate.objects import base

EXPECTED = {
    "Aggregate": "1.0-2459fc6342406c1be4c2de2b62c213da",
    "Allocation": "1.0-bfd4e49357dc45ce668f707472c6a64a",
    "AllocationList": "1.0-8d4cf7e0b8143ef6d9d9e039881f2181",
    "AggregateList": "1.0-fb6e19f3c3a3186b04eceb98b5dadbfa",
    "CellMapping": "1.0-4301173bad9ba09e6f0f24ecb17ecf97",
    "CellMappingList": "1.0-4ee0d9efdfd681fed822da88376e04d2",
    "ComputeNode": "1.7-07c32093702e6fdd6aff1d6a7dc406eb",
    "ComputeHostRows": "1.1-a2be8dcd37e3df5e328940cdecfe2503",
    "ComputeNodeList": "1.4-ffc4f36f333c7fa5c8bd0a9a5ac10dc2",
    "Destination": "1.1-d3feef87d3a92cd4cd7389b5a899fffa",
    "Flavor": "1.1-e6eba5af80444371b75f77fbc4c307d5",
    "HVSpec": "1.1-7c8d93cb705132da53aa0f65d36f6292",
    "HostMapping": "1.0-1a3390a696792a552ab7bd31a77ba9ac",
    "HostMappingList": "1.0-267d952a5d48361d6d7604f50775bc34",
    "ImageMeta": "1.1-d37aa581d6337edbf87cabdbb4676c91",
    "ImageMetaProps": "1.1-05e00d708fe8ca547301a8bd53c88625",
    "Instance": "1.2-abe5dbf74ba387d2630a2f03c99ac6d7",
    "InstanceGroup": "1.1-562049273ae52a241f7774376002c3a5",
    "InstanceGroupList": "1.0-be18078220513316abd0ae1b2d916873",
    "InstanceList": "1.0-22c1e833a418bc7605b5c6479f1a28e7",
    "InstanceNUMACell": "1.0-953cf978c9353179a8ff9963dbb27ca2",
    "InstanceNUMATopology": "1.0-4fa1d4c4b593a27816d50e3a4c541c98",
    "InstancePCIRequest": "1.0-4992f03e11db5d690244f53599e28ab2",
    "InstancePCIRequests": "1.0-1385e858bd55a49076360f51aae36060",
    "Migration": "1.0-2c4d06c8c57695d06685f1c0d29a2e1d",
    "MigrationContext": "1.0-3826b3cfb7e8a1adae85380d47c417c9",
    "MigrationList": "1.1-525611c707282df3526dbb47779db52b",
    "NUMACell": "1.3-832e723d0bfde113eef98ed1b40f4f37",
    "NUMAPagesTopology": "1.1-731e7ef337068955d6a28d70aa71b3cf",
    "NUMATopology": "1.3-429fe2a66d163131723d4a35cb1b6d1c",
    "NUMATopologyLimits": "1.0-21b9e121c03234a48b6e62d520410d44",
    "PciDevicePool": "1.1-758437585c8e4f5a2024d829420a1620",
    "PciDevicePoolList": "1.1-15ecf022a68ddbb8c2a6739cfc9f8f5e",
    "RequestSpec": "1.0-59271d925c645dbad9f0c2e51baf026f",
    "SchedulerLimits": "1.0-c0588ffa0caecedd2edb04e5d930f13f",
    "SchedulerRetries": "1.0-42b6d1f650df5058c2b105e630022b56",
    "Selection": "1.1-033d6349f4a053cdf244941c42114f27",
    "Service": "1.3-14e0283714803a0c7fd8d71b7a8fcc41",
    "ServiceList": "1.0-b9e5cd8efe38d623103ad385e5673f3a",
}


@pytest.fixture(scope="module")
def checker():
    return fixture.ObjectVersionChecker(
        obj_classes=base.HoststateObjectRegistry.hoststate_classes)


def test_every_object_matches_its_recorded_fingerprint(checker):
    expected, actual = checker.test_hashes(EXPECTED)
    assert expected == actual, (
        "objects changed without a version bump (or a new object is not "
        "recorded here)")


def test_the_registry_holds_exactly_the_recorded_objects():
    assert set(base.HoststateObjectRegistry.hoststate_classes) == set(EXPECTED)


@pytest.mark.parametrize("use_manifest", [False, True])
def test_every_object_backports_to_each_older_version(checker, use_manifest):
    # Runs obj_make_compatible of every object for every version below its
    # own, with and without a manifest; raises if any routine fails. What
    # each backport produces is asserted in the objects' own tests.
    checker.test_compatibility_routines(use_manifest=use_manifest)


def test_a_changed_field_changes_the_fingerprint(checker):
    class Probe(base.HoststateObject):
        VERSION = "1.0"
        fields = {"a": ovo_fields.IntegerField()}

    class ProbeChanged(base.HoststateObject):
        VERSION = "1.0"
        fields = {"a": ovo_fields.IntegerField(nullable=True)}

    probes = fixture.ObjectVersionChecker(
        obj_classes={"Probe": [Probe], "ProbeChanged": [ProbeChanged]})
    hashes = probes.get_hashes()
    assert hashes["Probe"] != hashes["ProbeChanged"]
