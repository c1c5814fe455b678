"""common.signals and common.stop_on_signals: SIGINT/SIGTERM stop a script at once with
exit code 130/143 and one line saying where it was and what was kept, except inside
`deferred` blocks; nothing is installed in a process that is not a repository script."""

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from common import signals
from common.files import REPO_DIR


@pytest.fixture
def state(monkeypatch):
    """A fresh `signals._Exit` for one test: its state is process-wide, and scripts run
    in this process by earlier tests (tests/cli.py) leave theirs (e.g. `doing`)."""
    fresh = {
        'installed': False,
        'signum': None,
        'pending': None,
        'depth': 0,
        'doing': 'during start-up',
        'kept': 'nothing was written',
    }
    assert set(fresh) == {n for n in vars(signals._Exit) if not n.startswith('__')}
    for name, value in fresh.items():
        monkeypatch.setattr(signals._Exit, name, value)
    return signals._Exit


def test_interrupted_is_a_system_exit_with_128_plus_the_signal():
    for signum, code in ((signal.SIGINT, 130), (signal.SIGTERM, 143)):
        stop = signals.Interrupted(signum)
        assert isinstance(stop, SystemExit) and stop.code == code and stop.signum == signum
    assert [signals.name(s) for s in signals.SIGNALS] == ['SIGINT', 'SIGTERM']


def test_nothing_is_installed_in_a_process_that_is_not_a_script(state):
    handlers = [signal.getsignal(s) for s in signals.SIGNALS]
    signals.exit_on_signals()  # under pytest: __main__ is pytest's, not a repository script
    assert not state.installed
    assert [signal.getsignal(s) for s in signals.SIGNALS] == handlers


def test_the_line_at_exit_says_where_the_work_was_and_what_is_kept(state, capsys):
    signals._report()
    assert capsys.readouterr().err == ''  # no signal: no line
    state.signum = signal.SIGTERM
    signals._report()
    assert capsys.readouterr().err == 'SIGTERM: stopped during start-up; nothing was written\n'
    signals.describe(doing='at video 3 of 7')
    signals.describe(kept='2 videos written')
    signals.describe()  # None changes nothing
    signals._report()
    assert capsys.readouterr().err == 'SIGTERM: stopped at video 3 of 7; 2 videos written\n'


def test_a_signal_interrupts_at_once_outside_deferred_blocks(state):
    with pytest.raises(signals.Interrupted) as stop:
        signals._interrupt(signal.SIGTERM, None)
    assert stop.value.code == 143 and state.signum == signal.SIGTERM


def test_a_signal_inside_deferred_is_raised_at_its_end(state):
    written = []
    with pytest.raises(signals.Interrupted) as stop:
        with signals.deferred():
            with signals.deferred():  # nested: raised at the outer block's end
                signals._interrupt(signal.SIGINT, None)
                written.append('output')
            written.append('manifest line')
    assert written == ['output', 'manifest line'] and stop.value.code == 130
    assert state.pending is None and state.depth == 0


def test_a_second_ctrl_c_inside_deferred_interrupts_at_once(state):
    with pytest.raises(signals.Interrupted), signals.deferred():
        signals._interrupt(signal.SIGINT, None)
        assert state.pending == signal.SIGINT
        signals._interrupt(signal.SIGINT, None)
        pytest.fail('not interrupted')
    assert state.depth == 0


def test_interruptible_inside_deferred_raises_a_pending_signal_and_new_ones_at_once(state):
    with pytest.raises(signals.Interrupted) as stop, signals.deferred():
        signals._interrupt(signal.SIGTERM, None)
        with signals.interruptible():
            pytest.fail('the pending signal was not raised')
    assert stop.value.code == 143 and state.depth == 0 and state.pending is None
    with pytest.raises(signals.Interrupted), signals.deferred():
        with signals.interruptible():
            assert state.depth == 0
            signals._interrupt(signal.SIGINT, None)
    assert state.depth == 0


# A "script" of the repository (its __main__ file in the repository folder), killed by the
# signal it sends itself once working.
_SCRIPT = textwrap.dedent("""
    import os, signal, sys, time
    sys.modules['__main__'].__file__ = os.path.join(os.getcwd(), 'fvd.py')
    import common.stop_on_signals  # noqa: F401
    from common import signals
    signals.describe('at video 2 of 5', '1 video written')
    os.kill(os.getpid(), getattr(signal, sys.argv[1]))
    time.sleep(10)
    print('not stopped')
""")


@pytest.mark.skipif(not sys.platform.startswith('linux'), reason='POSIX signals')
@pytest.mark.parametrize('name, code', [('SIGINT', 130), ('SIGTERM', 143)])
def test_a_script_exits_with_one_line_and_128_plus_the_signal(name, code):
    result = subprocess.run(
        [sys.executable, '-c', _SCRIPT, name],
        cwd=REPO_DIR,
        env=dict(os.environ, PYTHONPATH=REPO_DIR),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == code, result.stderr
    assert result.stdout == ''
    assert result.stderr == f'{name}: stopped at video 2 of 5; 1 video written\n'
