"""An ordered process-pool map that survives workers dying (e.g. a decoder crash).

`multiprocessing.Pool` waits forever for the result of a task whose worker was killed by
a signal; `concurrent.futures` reports it as a broken pool instead. Here the tasks that
were in flight when the pool broke are re-run one by one in fresh single-worker pools,
so the one that kills its worker is reported through `on_crash` and the others complete.

Signals are the parent's: workers ignore SIGINT (a Ctrl-C reaches the whole process
group) and, when the map is left early (an exception, e.g. a signal's, or closed), are
killed at once rather than waited for. Workers die with their parent: on Linux each
asks the kernel for SIGKILL when the process that started it dies (`PR_SET_PDEATHSIG`),
so a `kill -9` of the parent leaves no orphaned worker holding memory; elsewhere they
exit when they next look for work.

A spawned worker first re-imports the parent's main module (as `__mp_main__`), before
any initializer runs, when what it is sent needs it (`_main_left_alone`: build_shards,
whose per-video function lives in its script); that imports TensorFlow (~10 s on a loaded
machine), a window in which the worker would outlive a killed parent. So the request is
also made when this module is imported in a worker, and the entry scripts import it
before anything else (this module needs only the standard library).
"""

import collections
import contextlib
import ctypes
import io
import multiprocessing
import os
import pickle
import signal
import sys
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
# The parent's pid, for workers asking before an initializer could be given it.
PARENT_ENV = 'I3D_POOL_PARENT_PID'


def die_with_parent(parent_pid):
    """Makes the calling process get SIGKILL when `parent_pid` (its parent) exits."""
    if sys.platform.startswith('linux'):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent_pid:  # the parent died before the request took effect
        os.kill(os.getpid(), signal.SIGKILL)


def _guard_spawned_worker():
    """In a worker re-importing the parent's main module: die with the parent, now."""
    parent = os.environ.pop(PARENT_ENV, None)  # not passed on to the worker's children
    if parent and '__mp_main__' in sys.modules:
        die_with_parent(int(parent))


_guard_spawned_worker()


@contextlib.contextmanager
def _parent_announced():
    """Tells the workers started inside the block this process's pid (environment)."""
    before = os.environ.get(PARENT_ENV)
    os.environ[PARENT_ENV] = str(os.getpid())
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(PARENT_ENV, None)
        else:
            os.environ[PARENT_ENV] = before


def _start_worker(parent_pid, initializer, initargs):
    die_with_parent(parent_pid)
    # Started with SIGINT and SIGTERM blocked (`_submit`): a Ctrl-C reaches the whole
    # process group, and the parent alone decides how to stop (it kills its workers).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _BLOCKED)
    if initializer is not None:
        initializer(*initargs)


class _MainFinder(pickle.Pickler):
    """Pickles what a worker is sent, but multiprocessing's own objects (semaphores,
    barriers), which pickle only while a process starts and never come from main."""

    def persistent_id(self, obj):
        return 'skipped' if type(obj).__module__.startswith('multiprocessing.') else None


def _needs_main(objects):
    """Whether a worker needs the parent's main module to unpickle `objects`: whether any
    of them (functions, classes) was defined in it."""
    buffer = io.BytesIO()
    _MainFinder(buffer).dump(objects)
    return b'__main__' in buffer.getvalue()


@contextlib.contextmanager
def _main_left_alone(leave):
    """Workers started inside the block (if `leave`) do not re-run the parent's main module.

    `spawn` re-runs the parent's `__main__` in every new worker (as `__mp_main__`) so that
    what was defined there unpickles, and skips that only for a main module with neither a
    spec nor a file (an interactive session). For extract_features or fvd.py that is the
    whole script, TensorFlow's import included (~3.5 s of CPU per worker, before the first
    frame is decoded), for nothing: their workers run functions of light modules. So while
    workers start (`submit`), the main module's spec and file are hidden.
    """
    main = sys.modules.get('__main__')
    if not leave or main is None:
        yield
        return
    saved = {k: main.__dict__[k] for k in ('__spec__', '__file__') if k in main.__dict__}
    main.__spec__ = None
    main.__dict__.pop('__file__', None)
    try:
        yield
    finally:
        main.__dict__.update(saved)
        if '__spec__' not in saved:
            del main.__spec__


def _executor(workers, initializer, initargs, tokens):
    context = multiprocessing.get_context('spawn')  # never fork a process running TF
    if tokens:
        # A new semaphore for each set of workers: the tokens a killed worker held are
        # never given back, and a worker's death ends its whole set (broken pool).
        initargs = (*initargs, context.BoundedSemaphore(tokens))
    return ProcessPoolExecutor(
        max_workers=workers,
        mp_context=context,
        initializer=_start_worker,
        initargs=(os.getpid(), initializer, initargs),
    )


_BLOCKED = {signal.SIGINT, signal.SIGTERM}


@contextlib.contextmanager
def _signals_blocked():
    """Processes started inside the block start with SIGINT and SIGTERM blocked (a mask
    is inherited), until `_start_worker` ignores SIGINT: a Ctrl-C while a worker starts
    up gives no traceback of its own (this process's other threads still take them)."""
    before = signal.pthread_sigmask(signal.SIG_BLOCK, _BLOCKED)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)


def _submit(executor, fn, task, light):
    """`executor.submit`, which is where a worker starts (with the main module left alone
    if `light`)."""
    with _main_left_alone(light), _signals_blocked():
        return executor.submit(fn, task)


def _kill_workers(executor):
    """Ends the workers now (SIGKILL) rather than after their tasks: the caller gave up
    (an exception, e.g. a signal's, or it closed the map). Their half-done work is the
    caller's to clean."""
    for process in list((getattr(executor, '_processes', None) or {}).values()):
        with contextlib.suppress(OSError, ValueError):
            process.kill()


def _isolated(fn, task, on_crash, light, initializer, initargs, tokens):
    executor = _executor(1, initializer, initargs, tokens)
    try:
        return _submit(executor, fn, task, light).result()
    except BrokenProcessPool:
        return on_crash(task)
    except BaseException:
        _kill_workers(executor)
        raise
    finally:
        executor.shutdown(wait=True, cancel_futures=True)


def ordered_map(fn, tasks, workers, on_crash, initializer=None, initargs=(), tokens=0):
    """Yields (task, fn(task)) in task order, computing up to 2 x workers tasks ahead.

    Worker processes are started as tasks need them (never more than there are tasks).

    Args:
      fn: picklable module-level function.
      tasks: list of picklable tasks.
      workers: number of processes.
      on_crash: task -> result to use when the task's worker process dies.
      initializer, initargs: run once in every worker process.
      tokens: if > 0, the workers share a `multiprocessing` semaphore holding this many
        tokens, passed to `initializer` after `initargs` (e.g. a budget of cores that
        their threads take from: `preprocess.flow.use_cores`).
    """
    with _parent_announced():
        yield from _ordered_map(fn, tasks, workers, on_crash, initializer, initargs, tokens)


def _ordered_map(fn, tasks, workers, on_crash, initializer, initargs, tokens):
    light = not _needs_main((fn, initializer, initargs, tasks))
    setup = (initializer, initargs, tokens)
    position = 0
    while position < len(tasks):
        window = collections.deque()
        executor = _executor(workers, *setup)
        finished = False
        try:
            while position < len(tasks) or window:
                while position < len(tasks) and len(window) < 2 * workers:
                    task = tasks[position]
                    window.append((task, _submit(executor, fn, task, light)))
                    position += 1
                task, future = window[0]
                result = future.result()
                window.popleft()
                yield task, result
            finished = True
        except BrokenProcessPool:
            executor.shutdown(wait=True, cancel_futures=True)
            for task, future in window:
                if future.done() and not future.cancelled() and future.exception() is None:
                    yield task, future.result()  # finished before the pool broke
                else:
                    yield task, _isolated(fn, task, on_crash, light, *setup)
            finished = True
        finally:
            if not finished:
                _kill_workers(executor)
            executor.shutdown(wait=True, cancel_futures=True)
