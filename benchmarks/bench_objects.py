"""Object serialisation and compare-and-swap writes.

CI runs these once each (``--benchmark-disable`` in pytest.ini) to keep them
correct; run ``pytest benchmarks --benchmark-enable`` for the timings.
"""
import pytest

from hoststate.db import api as db_api
from hoststate.db import schema
from hoststate.objects import service as service_obj


def _service():
    return service_obj.Service(id=1, host="compute-0001", binary="nova-compute",
                               topic="compute", report_count=12, disabled=False,
                               forced_down=False, version=1, generation=3)


def test_service_primitive_round_trip(benchmark):
    service = _service()

    def round_trip():
        return service_obj.Service.obj_from_primitive(service.obj_to_primitive())

    result = benchmark(round_trip)
    assert result.host == "compute-0001" and result.report_count == 12


def test_service_backport_to_oldest_version(benchmark):
    service = _service()
    primitive = benchmark(service.obj_to_primitive, target_version="1.0")
    assert primitive["hoststate_object.version"] == "1.0"


@pytest.fixture
def node_row(ctx):
    with db_api.transaction(ctx) as conn:
        return db_api.insert_row(conn, schema.compute_nodes, dict(
            uuid="00000000-0000-0000-0000-000000000001", host="h1",
            hypervisor_hostname="n1", vcpus=64, memory_mb=262144, local_gb=2000,
            hypervisor_type="fake", hypervisor_version=1, cpu_info="{}"))


def test_compare_and_swap_update(benchmark, ctx, node_row):
    state = {"generation": node_row["generation"]}

    def write():
        with db_api.transaction(ctx) as conn:
            row = db_api.cas_update(conn, schema.compute_nodes, node_row["id"],
                                    state["generation"],
                                    {"vcpus_used": state["generation"] % 64})
        state["generation"] = row["generation"]

    benchmark(write)
    assert state["generation"] >= 1
