"""Importing hoststate as a library prints nothing: no third-party banner
(eventlet's deprecation notice, which oslo.versionedobjects' imports
trigger) on the embedding program's stderr, and no warning filter of
hoststate's left in the process (the banner is silenced for the one import
that triggers it)."""
import os
import subprocess
import sys

import pytest


@pytest.mark.parametrize("module", [
    "hoststate.objects.compute_node", "hoststate.scheduler.manager",
    "hoststate.resource_tracker.agent", "hoststate.servicegroup.api"])
def test_importing_prints_nothing(module):
    """With Python's default warning settings, as a program embedding
    hoststate runs."""
    environment = {k: v for k, v in os.environ.items()
                   if k != "PYTHONWARNINGS"}
    done = subprocess.run(
        [sys.executable, "-c",
         f"import warnings, {module}; assert not [f for f in "
         f"warnings.filters if f[1] and 'Eventlet' in f[1].pattern]"],
        capture_output=True, text=True, timeout=120, env=environment)
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
