"""Commands that stop part-way on SIGINT (Ctrl-C) and SIGTERM: extract_features, fvd.py.

A signal interrupts the work at once, wherever it is, except while an output and its
record are written (`deferred`); the `finally` blocks on the way out stop the workers and
remove the unfinished video's work files, and one line at exit says what was kept.
Training stops differently, between steps (training/stopping.py).
"""

import atexit
import contextlib
import os
import signal
import sys

from common.files import REPO_DIR

SIGNALS = (signal.SIGINT, signal.SIGTERM)


def name(signum):
    return signal.Signals(signum).name


class Interrupted(SystemExit):
    """SIGINT/SIGTERM under `exit_on_signals`: exit code 128 + signum (130, 143) and,
    being a SystemExit, no traceback."""

    def __init__(self, signum):
        super().__init__(128 + signum)
        self.signum = signum


class _Exit:
    """What `exit_on_signals` installed: the signal raised, the deferral depth, the line."""

    installed = False
    signum = None  # the first signal, reported at exit
    pending = None  # a signal received inside `deferred`, raised at its end
    depth = 0  # nested `deferred` blocks (0 or an `interruptible` block: raise at once)
    doing = 'during start-up'
    kept = 'nothing was written'


def _running_a_script():
    """Whether this process runs a script of the repository (`python fvd.py`), not a
    test importing it nor a pool worker re-importing it (as `__mp_main__`)."""
    main = sys.modules.get('__main__')
    path = getattr(main, '__file__', None)
    repository = os.path.realpath(REPO_DIR)
    return (
        getattr(main, '__name__', None) == '__main__'
        and path is not None
        and os.path.dirname(os.path.realpath(path)) == repository
    )


def exit_on_signals():
    """From now on (in a script's process: see `common.stop_on_signals`) SIGINT and
    SIGTERM raise `Interrupted` in the main thread, and the process prints at exit
    `<SIGNAL>: stopped <doing>; <kept>` (see `describe`)."""
    if _Exit.installed or not _running_a_script():
        return
    _Exit.installed = True
    for signum in SIGNALS:
        signal.signal(signum, _interrupt)
    atexit.register(_report)


def describe(doing=None, kept=None):
    """Sets what the line at exit says: where the work was, and what is kept."""
    if doing is not None:
        _Exit.doing = doing
    if kept is not None:
        _Exit.kept = kept


def _interrupt(signum, frame):
    del frame
    again = _Exit.signum is not None and signum == signal.SIGINT
    if _Exit.signum is None:
        _Exit.signum = signum
    if _Exit.depth and not again:  # a second Ctrl-C interrupts at once, as in training
        _Exit.pending = _Exit.pending or signum
        return
    raise Interrupted(signum)


@contextlib.contextmanager
def deferred():
    """A signal inside the block (writing an output and its manifest line) is raised at
    its end, so that both or neither are written."""
    _Exit.depth += 1
    try:
        yield
    finally:
        _Exit.depth -= 1
    if not _Exit.depth and _Exit.pending is not None:
        signum, _Exit.pending = _Exit.pending, None
        raise Interrupted(signum)


@contextlib.contextmanager
def interruptible():
    """Inside a `deferred` block: a signal (also one already received) interrupts at once
    (computing, before anything is written)."""
    depth, _Exit.depth = _Exit.depth, 0
    try:
        if _Exit.pending is not None:
            signum, _Exit.pending = _Exit.pending, None
            raise Interrupted(signum)
        yield
    finally:
        _Exit.depth = depth


def _report():
    if _Exit.signum is not None:
        sys.stderr.write(f'{name(_Exit.signum)}: stopped {_Exit.doing}; {_Exit.kept}\n')
        sys.stderr.flush()
