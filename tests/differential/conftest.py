"""The Nova side of the differential test: a venv holding a released Nova
(built once, cached between runs), and Nova's answers to every case of
the session, computed by one subprocess for the whole batch.

When Nova cannot be installed (no network, no such release) the tests
skip with pip's error as the reason; under ``CI=true`` that is a failure
(CI must never pass by skipping).
"""
import contextlib
import json
import os
import pathlib
import subprocess
import time

import pytest

from support import nova_venv as venvs

NOVA_SIDE = pathlib.Path(__file__).with_name("nova_side.py")
#: Seconds Nova may take to answer a batch (about 5 s for 240 cases).
ANSWER_TIMEOUT_S = 600


@pytest.fixture(scope="session")
def nova_venv(pytestconfig):
    """The venv of ``$HOSTSTATE_NOVA_VERSION`` (default 34.0.0)."""
    version = venvs.version()
    try:
        venv = venvs.ensure(version)
    except venvs.NovaVenvUnavailable as exc:
        reason = f"Nova {version} could not be installed: {exc}"
        if os.environ.get("CI") == "true":
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    if venv.build_seconds:
        _report(pytestconfig, f"nova_differential: built the Nova {version} "
                f"venv at {venv.path} in {venv.build_seconds:.0f} s")
    return venv


def nova_answers(venv, cases, pytestconfig=None):
    """{(seed, index): Nova's result} for ``cases``, from one run of
    ``nova_side.py`` in ``venv``."""
    payload = json.dumps({"cases": cases,
                          "legacy_dir": str(venv.legacy_dir)})
    started = time.monotonic()
    done = subprocess.run(
        [str(venv.python), str(NOVA_SIDE)], input=payload,
        capture_output=True, text=True, timeout=ANSWER_TIMEOUT_S,
        env=dict(os.environ, PYTHONWARNINGS="ignore"))
    if done.returncode != 0:
        pytest.fail(f"nova_side.py exited {done.returncode}:\n"
                    f"{done.stderr[-3000:]}", pytrace=False)
    answer = json.loads(done.stdout)
    if pytestconfig is not None:
        _report(pytestconfig, f"nova_differential: Nova "
                f"{answer['nova_version']} answered {len(cases)} cases in "
                f"{time.monotonic() - started:.1f} s")
    return {(c["seed"], c["index"]): result
            for c, result in zip(cases, answer["results"])}


def _report(config, line):
    """``line`` on the terminal, past pytest's output capturing."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")
    if reporter is None:
        return
    with capture.global_and_fixture_disabled() if capture else \
            contextlib.nullcontext():
        reporter.write_line(line)
