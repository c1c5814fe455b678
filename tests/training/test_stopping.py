"""training.stopping: while a run is active, SIGINT/SIGTERM only ask it to stop between
steps; a second Ctrl-C interrupts at once; the previous handlers come back after it."""

import signal
import sys
import threading

import pytest

from training import stopping

pytestmark = [
    pytest.mark.skipif(not sys.platform.startswith('linux'), reason='POSIX signals'),
    pytest.mark.skipif(
        threading.current_thread() is not threading.main_thread(),
        reason='signal handlers are set in the main thread only',
    ),
]


def test_a_signal_is_only_recorded_and_the_handlers_are_restored():
    previous = [signal.getsignal(s) for s in stopping.SIGNALS]
    with stopping.StopRequests() as stops:
        assert not stops.requested and stops.signum is None
        assert all(signal.getsignal(s) == stops._handle for s in stopping.SIGNALS)
        signal.raise_signal(signal.SIGTERM)
        assert stops.requested and stops.signum == signal.SIGTERM
        assert stopping.name(stops.signum) == 'SIGTERM'
        signal.raise_signal(signal.SIGTERM)  # a second SIGTERM still only asks
        assert stops.signum == signal.SIGTERM
    assert [signal.getsignal(s) for s in stopping.SIGNALS] == previous


def test_a_second_ctrl_c_interrupts_at_once():
    with pytest.raises(KeyboardInterrupt), stopping.StopRequests() as stops:
        signal.raise_signal(signal.SIGINT)
        assert stops.signum == signal.SIGINT
        signal.raise_signal(signal.SIGINT)
        pytest.fail('not interrupted')
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_loop_stops_between_steps_after_finishing_the_one_running():
    steps = []
    with stopping.StopRequests() as stops:
        for step in range(1, 100):
            steps.append(f'step {step} started')
            if step == 3:
                signal.raise_signal(signal.SIGTERM)  # arrives mid-step
            steps.append(f'step {step} done')
            if stops.requested:
                break
    assert steps[-2:] == ['step 3 started', 'step 3 done'] and len(steps) == 6
