"""Worker functions for the TV-L1 parallelism tests (importable by spawned workers).

`SlowTvl1` stands in for DualTVL1: its `calc` sleeps (releasing the GIL, as the real one
does) and records when it ran, so a test can count the calls running at once.
"""

import threading
import time

import numpy as np

from preprocess import flow

CALL_SECONDS = 0.2
_calls = []  # (start, end) of this process's calls, time.monotonic (system-wide clock)
_lock = threading.Lock()
_barrier = None


class SlowTvl1:
    def calc(self, previous, gray, flow_out):
        del flow_out
        start = time.monotonic()
        time.sleep(CALL_SECONDS)
        with _lock:
            _calls.append((start, time.monotonic()))
        return np.zeros((*previous.shape, 2), np.float32)


def stub_worker(threads, barrier, tokens=None):
    """Pool initializer: slow stub TV-L1, `threads` pairs at once, the run's tokens."""
    global _barrier
    _barrier = barrier
    flow._tvl1 = SlowTvl1
    flow.use_cores(threads, tokens)


def flow_calls(pairs):
    """Pool task: waits for the other worker, computes `pairs` pairs; returns the calls."""
    _barrier.wait(timeout=60)
    del _calls[:]
    frames = (np.full((8, 8, 3), k, np.uint8) for k in range(pairs + 1))
    for _ in flow.fields(frames):
        pass
    return list(_calls)


def most_at_once(intervals):
    """The largest number of (start, end) intervals that overlap at one instant."""
    events = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals])
    most = running = 0
    for _, step in events:  # at equal times the end (-1) sorts first: touching is not overlap
        running += step
        most = max(most, running)
    return most


def crashed(task):
    return f'crashed:{task}'


def heavy_modules(task):
    """Which of TensorFlow and Sonnet this worker imported, and whether it re-ran the
    parent's main module (multiprocessing runs it under the name `__mp_main__`)."""
    del task
    import sys

    found = sorted(m for m in ('tensorflow', 'sonnet') if m in sys.modules)
    return found + (['main re-run'] if sys.modules['__main__'].__name__ == '__mp_main__' else [])
