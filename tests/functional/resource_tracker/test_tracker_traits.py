"""The tracker stores what the driver reports as the node's traits, and
only that: the operators' traits are another writer's, on SQLite,
PostgreSQL and MariaDB."""
from hoststate.objects import compute_node as cn_obj

from .conftest import HOST, NODE, make_agent, make_driver

AVX, SSE = "HW_CPU_X86_AVX", "HW_CPU_X86_SSE"


def _stored(ctx):
    return cn_obj.ComputeNode.get_by_host_and_nodename(ctx, HOST, NODE)


def test_a_new_node_has_its_drivers_traits(ctx, no_reserve):
    make_agent(ctx, make_driver(traits=[SSE, AVX]))
    node = _stored(ctx)
    assert (node.driver_traits, node.operator_traits) == ([AVX, SSE], [])


def test_changed_driver_traits_are_written_and_operator_ones_kept(
        ctx, no_reserve):
    driver = make_driver(traits=[AVX])
    agent = make_agent(ctx, driver)
    cn_obj.ComputeNodeList.update_operator_traits(ctx, HOST,
                                                  added=["CUSTOM_SSD"])
    driver.set_inventory(NODE, traits=[SSE])

    assert agent.update_available_resource() == {}

    node = _stored(ctx)
    assert (node.driver_traits, node.operator_traits, node.traits()) == \
        ([SSE], ["CUSTOM_SSD"], ["CUSTOM_SSD", SSE])


def test_unchanged_traits_write_nothing(ctx, no_reserve):
    agent = make_agent(ctx, make_driver(traits=[AVX]))
    agent.update_available_resource()
    before = _stored(ctx).generation
    assert agent.update_available_resource() == {}
    assert _stored(ctx).generation == before


def test_a_driver_reporting_a_bad_trait_writes_nothing(ctx, no_reserve):
    driver = make_driver(traits=[AVX])
    agent = make_agent(ctx, driver)
    before = _stored(ctx)
    driver.set_inventory(NODE, traits=["avx"], vcpus=8)

    errors = agent.update_available_resource()

    assert str(errors[NODE]) == (
        "traits of node fake-node cannot be 'avx': not a standard trait "
        "(os-traits) nor a custom one (CUSTOM_...)")
    after = _stored(ctx)
    assert (after.generation, after.vcpus, after.driver_traits) == \
        (before.generation, 4, [AVX])
