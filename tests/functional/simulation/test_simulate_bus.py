"""``hoststate simulate --transport-url``: the agents work through a
conductor and the scheduler is a service on the bus; a seed places exactly
as with direct calls, and every agent write went through the conductor."""
import pytest

from hoststate import conf as hs_conf
from hoststate.conductor import manager as conductor_manager
from hoststate.simulation import runner

from .test_simulate import _fresh_context

#: nodes, requests, seed, prefill
RUN = (12, 120, 5, 0.5)


def _run(context, transport_url=None):
    conf = hs_conf.CONF
    conf.set_default("enabled_filters", runner.FILTERS, "filter_scheduler")
    conf.set_override("report_interval", 1)
    conf.set_override("service_down_time", 3)
    conf.set_override("transport_url", transport_url)
    nodes, requests, seed, prefill = RUN
    try:
        return runner.Simulation(context, conf, runner.Options(
            nodes=nodes, requests=requests, seed=seed, prefill=prefill,
            transport_url=transport_url)).run()
    finally:
        conf.clear_default("enabled_filters", "filter_scheduler")
        for name in ("report_interval", "service_down_time",
                     "transport_url"):
            conf.clear_override(name)


class _CountedCalls:
    """Counts the conductor's object calls by (object, method)."""

    def __init__(self, monkeypatch):
        self.calls = {}
        endpoint = conductor_manager.ObjectEndpoint
        for name in ("object_class_action_versions", "object_action"):
            monkeypatch.setattr(endpoint, name,
                                self._counting(getattr(endpoint, name)))

    def _counting(self, method):
        def counted(endpoint, context, *args, **kwargs):
            objname = kwargs.get("objname") or kwargs["objinst"].obj_name()
            key = (objname, kwargs["objmethod"])
            self.calls[key] = self.calls.get(key, 0) + 1
            return method(endpoint, context, *args, **kwargs)
        counted.exposed = True
        return counted


@pytest.mark.parametrize("bus", ["local", "rabbit"])
def test_a_seed_places_on_a_bus_as_with_direct_calls(tmp_path, bus,
                                                     request, monkeypatch):
    direct = _run(_fresh_context(tmp_path, "direct"))
    url = "local://" if bus == "local" else \
        request.getfixturevalue("rabbitmq_url")
    counted = _CountedCalls(monkeypatch)
    over_bus = _run(_fresh_context(tmp_path, "bus"), url)

    assert (direct.transport, over_bus.transport) == (
        "direct calls", url.replace("guest:guest", "guest:***"))
    assert (over_bus.placements, over_bus.no_valid_host, over_bus.deletes,
            over_bus.placements_digest.hexdigest()) == (
        direct.placements, direct.no_valid_host, direct.deletes,
        direct.placements_digest.hexdigest())
    # the agents registered, adopted and gave back through the conductor
    assert counted.calls[("ComputeHostRows", "placed_instance")] == \
        over_bus.placements
    assert counted.calls[("Instance", "destroy")] == over_bus.deletes
    # each agent started on its first instance (not every host got one)
    assert 1 <= counted.calls[("Service", "get_by_compute_host")] <= RUN[0]
