"""Worker functions for tests/test_pool.py (importable by spawned workers)."""

import os
import signal


def square_or_die(task):
    if task == 'die':
        os.kill(os.getpid(), signal.SIGKILL)  # as a segfaulting decoder would
    return task * task


def crashed(task):
    return f'crashed:{task}'
