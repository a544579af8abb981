"""Ctrl-C and SIGTERM end a running ``hoststate simulate`` cleanly: one
line, exit 128 + signal, the temporary database removed (or kept and
named with --keep-database). A real process, signalled once it has shown
progress."""
import os
import re
import selectors
import signal
import subprocess
import sys
import time

import pytest

#: the longest the test waits for the process's progress, then its end
WAIT_S = 90


def _first_line(stream, timeout):
    """The first line of ``stream``, or None after ``timeout`` seconds."""
    with selectors.DefaultSelector() as selector:
        selector.register(stream, selectors.EVENT_READ)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if selector.select(deadline - time.monotonic()):
                return stream.readline()
    return None


@pytest.mark.slow
@pytest.mark.parametrize("signum, keep", [(signal.SIGINT, False),
                                          (signal.SIGTERM, True)])
def test_a_signal_ends_a_run_cleanly(tmp_path, signum, keep):
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    argv = [sys.executable, "-m", "hoststate.cli.main", "simulate",
            "--nodes", "10", "--requests", "1000000", "--prefill", "0"]
    process = subprocess.Popen(
        argv + (["--keep-database"] if keep else []), text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env=dict(os.environ, TMPDIR=str(scratch)), cwd=tmp_path)
    try:
        progress = _first_line(process.stderr, WAIT_S)
        assert progress and progress.startswith(
            "hoststate simulate: "), progress
        assert " requests, " in progress and "placements/s" in progress
        process.send_signal(signum)
        out, err = process.communicate(timeout=WAIT_S)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 128 + signum, err
    assert out == ""
    said = [line for line in err.splitlines()
            if not line.startswith("hoststate simulate: ")]
    leftovers = sorted(p.name for p in scratch.iterdir())
    name = signal.Signals(signum).name
    if keep:
        [kept] = leftovers
        assert re.fullmatch(
            rf"hoststate: interrupted by {name}: simulate stopped after "
            rf"[\d,]+ of 1,000,000 requests; database kept: "
            rf"sqlite:///{scratch}/{kept}/simulation\.sqlite", said[0]), said
        assert (scratch / kept / "simulation.sqlite").exists()
    else:
        assert leftovers == []
        assert re.fullmatch(
            rf"hoststate: interrupted by {name}: simulate stopped after "
            rf"[\d,]+ of 1,000,000 requests; temporary database removed",
            said[0]), said
    assert len(said) == 1
