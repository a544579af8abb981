"""The placements of a seeded simulation, pinned (issue 14): speed work
must not change a decision.

``hoststate simulate`` is deterministic for a seed (see
``simulation.runner``); its report carries ``placements_sha256``, the
digest of every (instance, host) placement in order. This test pins that
digest for a run with the simulation's filter list, NUMA and PCI flavors,
groups, zones, deletes and a pre-filled cloud. A change that makes the
scheduler faster must leave it as it is.

When a change is *meant* to change decisions (a Nova behaviour newly
reproduced, say), run ``HOSTSTATE_PRINT_PLACEMENTS=1 pytest
tests/functional/simulation/test_seeded_placements.py -s``, check the
difference is the one intended, and update ``PINNED`` in the same commit,
saying why in its message.
"""
import os

from .test_simulate import _fresh_context, _run

#: (nodes, requests, seed, prefill) of the pinned run
RUN = (40, 600, 2026, 0.4)
#: its (placements, no valid host, pre-filled instances, digest)
PINNED = (598, 2, 876,
          "043c5c03514dc733f51b5fea4b4ad7022c1d16beb4b4d4734ec75641f50e0825")


def test_a_seeded_run_places_as_pinned(tmp_path):
    nodes, requests, seed, prefill = RUN
    result = _run(_fresh_context(tmp_path, "pinned"), nodes, requests,
                  seed=seed, prefill=prefill)
    found = (result.placements, result.requests_done - result.placements,
             result.prefilled, result.placements_digest.hexdigest())
    if os.environ.get("HOSTSTATE_PRINT_PLACEMENTS"):
        print(f"\nPINNED = {found!r}")
    assert found == PINNED
