"""Stopping a training run cleanly on SIGINT (Ctrl-C) and SIGTERM (schedulers, preemption).

A signal only sets a flag; the loop reads it between steps, saves a checkpoint and exits,
so nothing is written half-way. A second Ctrl-C interrupts at once (KeyboardInterrupt).
"""

import signal
import threading

from common.signals import SIGNALS, name  # noqa: F401  (training.loop reads both here)


class StopRequests:
    """Context manager: while active, SIGINT/SIGTERM set `signum` instead of killing."""

    def __init__(self):
        self.signum = None
        self._previous = {}

    @property
    def requested(self):
        return self.signum is not None

    def _handle(self, signum, frame):
        del frame
        if self.signum is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.signum = signum

    def __enter__(self):
        # Handlers can only be set in the main thread (in-process tests may run elsewhere).
        if threading.current_thread() is threading.main_thread():
            for signum in SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc):
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()
        return False
