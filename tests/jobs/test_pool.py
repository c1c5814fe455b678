"""The process pool keeps order, survives a worker being killed, and dies with its parent."""

import ast
import functools
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time

import pytest
from crashy import crashed, keep_tokens, square_or_die, tokens_left_or_die_holding_one

from common.files import REPO_DIR
from jobs import pool


def test_ordered_results():
    tasks = list(range(7))
    assert list(pool.ordered_map(square_or_die, tasks, 2, crashed)) == [(t, t * t) for t in tasks]


def test_a_dying_worker_fails_only_its_task_and_the_run_goes_on():
    tasks = [1, 2, 'die', 3, 4, 5, 6]
    results = list(pool.ordered_map(square_or_die, tasks, 2, crashed))
    assert results == [(1, 1), (2, 4), ('die', 'crashed:die'), (3, 9), (4, 16), (5, 25), (6, 36)]


def test_workers_share_tokens_and_a_killed_worker_s_tokens_are_not_lost():
    """Tokens a killed worker held are never given back: the next workers get a new
    semaphore, full again."""
    tasks = [1, 'die', 2, 3]
    results = pool.ordered_map(
        tokens_left_or_die_holding_one, tasks, 1, crashed, keep_tokens, tokens=2
    )
    assert list(results) == [(1, 2), ('die', 'crashed:die'), (2, 2), (3, 2)]


_PARENT = """
import sys
from crashy import crashed, report_pid_and_sleep
from jobs import pool
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


def _wait_for_workers(parent, folder):
    deadline = time.monotonic() + 60
    while len(os.listdir(folder)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    workers = [int(name) for name in os.listdir(folder)]
    assert len(workers) == 2 and all(_alive(pid) for pid in workers)
    return workers


@pytest.mark.skipif(not sys.platform.startswith('linux'), reason='PR_SET_PDEATHSIG is Linux')
def test_workers_still_importing_the_parent_script_die_with_it(tmp_path):
    """Workers re-import the parent's script first (TensorFlow: ~10 s): already guarded."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([REPO_DIR, os.path.join(REPO_DIR, 'tests')]))
    script = os.path.join(REPO_DIR, 'tests', 'slow_entry.py')
    parent = subprocess.Popen([sys.executable, script, str(tmp_path)], cwd=REPO_DIR, env=env)
    workers = _wait_for_workers(parent, tmp_path)  # each is inside its minute-long import
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 5  # the kernel's SIGKILL is immediate; 5 s is generous
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(_alive(pid) for pid in workers)


@pytest.mark.parametrize('script', ['preprocess/build_shards.py', 'extract_features.py'])
def test_pool_entry_scripts_import_the_pool_before_anything_else(script):
    """What a spawned worker re-imports must ask to die with its parent first."""
    with open(os.path.join(REPO_DIR, script), encoding='utf-8') as f:
        tree = ast.parse(f.read())
    first = next(n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom))
    assert isinstance(first, ast.ImportFrom) and first.module == 'jobs'
    assert [a.name for a in first.names] == ['pool']


@pytest.mark.slow
def test_workers_skip_the_parent_s_main_module_unless_what_they_run_comes_from_it(
    tmp_path, monkeypatch
):
    """extract_features' workers (prepare's and flow's functions) neither re-run the script
    nor import TensorFlow (tests/light_entry.py imports it at the top, as the script does);
    build_shards' (its function is in its script) re-run it: tests/slow_entry.py above."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([REPO_DIR, os.path.join(REPO_DIR, 'tests')]))
    script = os.path.join(REPO_DIR, 'tests', 'light_entry.py')
    result = subprocess.run(
        [sys.executable, script, str(tmp_path)],
        cwd=REPO_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == [[], []]
    assert os.listdir(tmp_path) == []  # no worker ran the script
    main = sys.modules['__main__']
    probe = functools.partial(square_or_die)
    assert not pool._needs_main((probe, crashed, (1,), [1]))

    def defined_in_main(task):
        return task

    defined_in_main.__module__, defined_in_main.__qualname__ = '__main__', 'i3d_pool_probe'
    monkeypatch.setattr(main, 'i3d_pool_probe', defined_in_main, raising=False)
    assert pool._needs_main((defined_in_main, None, (), [1]))
    barrier = multiprocessing.get_context('spawn').Barrier(2)  # pickles only at a spawn
    assert not pool._needs_main((probe, crashed, (1, barrier), [1]))
    assert pool._needs_main((defined_in_main, crashed, (1, barrier), [1]))
    assert pool._needs_main((functools.partial(defined_in_main), None, (), [1]))


def test_the_parent_pid_is_announced_only_while_the_pool_runs():
    assert pool.PARENT_ENV not in os.environ
    seen = []
    for _ in pool.ordered_map(square_or_die, [1], 1, crashed):
        seen.append(os.environ.get(pool.PARENT_ENV))
    assert seen == [str(os.getpid())] and pool.PARENT_ENV not in os.environ


@pytest.mark.skipif(not sys.platform.startswith('linux'), reason='reads /proc')
def test_workers_ignore_ctrl_c_and_are_killed_when_the_map_is_left_early(tmp_path):
    """A Ctrl-C reaches the whole process group: the workers leave stopping to the parent,
    which does not wait for their (two-minute) tasks when a signal interrupts it."""
    from crashy import report_pid_and_sleep

    seen = {}

    def ctrl_c():
        seen['workers'] = _wait_for_workers(None, tmp_path)
        for pid in seen['workers']:
            os.kill(pid, signal.SIGINT)
        time.sleep(0.5)
        seen['survived'] = all(_alive(pid) for pid in seen['workers'])
        os.kill(os.getpid(), signal.SIGINT)  # the parent's, handled in its main thread
        seen['sent'] = time.monotonic()

    threading.Thread(target=ctrl_c, daemon=True).start()
    with pytest.raises(KeyboardInterrupt):
        list(pool.ordered_map(report_pid_and_sleep, [str(tmp_path)] * 2, 2, crashed))
    assert time.monotonic() - seen['sent'] < 10  # not the tasks' two minutes
    assert seen['survived']  # no KeyboardInterrupt (nor traceback) in the workers
    assert not any(_alive(pid) for pid in seen['workers'])
