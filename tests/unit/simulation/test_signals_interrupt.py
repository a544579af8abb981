"""A signal during a simulation ends it even when it lands inside an
``except Exception`` (a periodic task that must outlive one failure):
the handler raises a BaseException, turned into Interrupted at the
command's edge."""
import os
import signal

import pytest

from hoststate import exception
from hoststate.cli import simulate_command


def _signal_inside_a_task_that_survives_failures(signum):
    """What an agent's periodic update does: carry on after any error."""
    caught = []
    try:
        os.kill(os.getpid(), signum)
        # the handler runs in this frame, at one of the next bytecodes
        for _ in range(1000):
            pass
    except Exception as exc:            # noqa: BLE001 - what is tested
        caught.append(exc)
    return caught


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_is_not_swallowed_by_except_exception(signum):
    before = signal.getsignal(signum)
    with pytest.raises(exception.Interrupted) as stopped:
        with simulate_command._signals_interrupt():
            caught = _signal_inside_a_task_that_survives_failures(signum)
            pytest.fail(f"the run went on; the task caught {caught}")
    assert stopped.value.signum == signum
    assert str(stopped.value) == \
        f"interrupted by {signal.Signals(signum).name}"
    # the handler is given back
    assert signal.getsignal(signum) is before
