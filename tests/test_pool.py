"""The process pool keeps order, survives a worker being killed, and dies with its parent."""

import os
import subprocess
import sys
import time

import pytest
from crashy import crashed, square_or_die

from common.files import REPO_DIR
from preprocess import pool


def test_ordered_results():
    tasks = list(range(7))
    assert list(pool.ordered_map(square_or_die, tasks, 2, crashed)) == [(t, t * t) for t in tasks]


def test_a_dying_worker_fails_only_its_task_and_the_run_goes_on():
    tasks = [1, 2, 'die', 3, 4, 5, 6]
    results = list(pool.ordered_map(square_or_die, tasks, 2, crashed))
    assert results == [(1, 1), (2, 4), ('die', 'crashed:die'), (3, 9), (4, 16), (5, 25), (6, 36)]


_PARENT = """
import sys
from crashy import crashed, report_pid_and_sleep
from preprocess import pool
list(pool.ordered_map(report_pid_and_sleep, [sys.argv[1]] * 2, 2, crashed))
"""


def _alive(pid):
    try:
        with open(f'/proc/{pid}/status') as f:
            return 'State:\tZ' not in f.read()  # a zombie has already died
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not sys.platform.startswith('linux'), reason='PR_SET_PDEATHSIG is Linux')
def test_workers_die_when_the_parent_is_killed(tmp_path):
    parent = subprocess.Popen(
        [sys.executable, '-c', _PARENT, str(tmp_path)],
        cwd=REPO_DIR,
        env=dict(
            os.environ, PYTHONPATH=os.pathsep.join([REPO_DIR, os.path.join(REPO_DIR, 'tests')])
        ),
    )
    deadline = time.monotonic() + 60
    while len(os.listdir(tmp_path)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    workers = [int(name) for name in os.listdir(tmp_path)]
    assert len(workers) == 2 and all(_alive(pid) for pid in workers)
    parent.kill()  # SIGKILL the parent only, as `kill -9 <pid>` does
    parent.wait()
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(_alive(pid) for pid in workers)
