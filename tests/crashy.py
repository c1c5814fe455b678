"""Worker functions for tests/jobs/test_pool.py (importable by spawned workers)."""

import os
import signal


def square_or_die(task):
    if task == 'die':
        os.kill(os.getpid(), signal.SIGKILL)  # as a segfaulting decoder would
    return task * task


def crashed(task):
    return f'crashed:{task}'


def report_pid_and_sleep(folder):
    """Writes this worker's pid into `folder`, then sleeps (a long video being decoded)."""
    import time

    with open(os.path.join(folder, str(os.getpid())), 'w'):
        pass
    time.sleep(120)
    return os.getpid()


_tokens = None  # the pool's shared semaphore, in a worker


def keep_tokens(tokens):
    global _tokens
    _tokens = tokens


def tokens_left_or_die_holding_one(task):
    """The free tokens of the worker's semaphore; 'die': takes one and is killed."""
    if task == 'die':
        _tokens.acquire()
        os.kill(os.getpid(), signal.SIGKILL)
    return _tokens.get_value()
