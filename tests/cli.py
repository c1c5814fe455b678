"""Runs the command-line scripts in the test's own process, as `python script.py` would.

A subprocess pays the TensorFlow import (5-10 s on a loaded 2-core machine) and often
builds a model again; most command-line tests need neither. `run('train_rgb', ...)`
calls the script's `main` through `absl.app.run` (the same flag parsing, usage errors and
`sys.exit`) and returns what the process would have shown: exit code, stdout and stderr.
Each script keeps one subprocess smoke test; tests that kill, signal or race real
processes keep theirs.

Several scripts define flags of the same name (`--rgb_checkpoint`, `--num_frames`, ...)
on absl's global FLAGS, so two of them cannot be imported into one process. `loaded`
sets aside the flags every project module defined, imports the script afresh (its
flags are defined as at a real start), and afterwards deletes those and puts the
others back, values included.
"""

import contextlib
import dataclasses
import importlib
import io
import os
import resource
import subprocess
import sys

from absl import app, flags
from absl.testing import flagsaver

from common.files import REPO_DIR

FLAGS = flags.FLAGS


@dataclasses.dataclass
class Result:
    """What a finished `python script.py ...` leaves: like subprocess.CompletedProcess."""

    returncode: int
    stdout: str
    stderr: str


def _is_project_module(name):
    path = getattr(sys.modules.get(name), '__file__', None) or ''
    inside = os.path.abspath(path).startswith(REPO_DIR + os.sep)
    return inside and f'{os.sep}.venv{os.sep}' not in path


def _set_aside_project_flags():
    """Removes the flags defined by the project's modules; returns how to put them back."""
    by_module = [
        (module, flag)
        for module, module_flags in FLAGS.flags_by_module_dict().items()
        if _is_project_module(module)
        for flag in module_flags
    ]
    key = [
        (module, flag)
        for module, module_flags in FLAGS.key_flags_by_module_dict().items()
        if _is_project_module(module)
        for flag in module_flags
    ]
    moved = {id(flag) for _, flag in by_module}
    by_id = [
        (module_id, flag)
        for module_id, module_flags in FLAGS.flags_by_module_id_dict().items()
        for flag in module_flags
        if id(flag) in moved
    ]
    names = [(name, FLAGS[name]) for name in list(FLAGS) if id(FLAGS[name]) in moved]
    for name, _ in names:
        delattr(FLAGS, name)
    return names, by_module, by_id, key


def _put_back(names, by_module, by_id, key):
    for name, flag in names:
        FLAGS[name] = flag
    for module, flag in by_module:
        FLAGS.register_flag_by_module(module, flag)
    for module_id, flag in by_id:
        FLAGS.register_flag_by_module_id(module_id, flag)
    for module, flag in key:
        FLAGS.register_key_flag_for_module(module, flag)


@contextlib.contextmanager
def loaded(module_name):
    """The script `module_name` (e.g. 'train_rgb', 'preprocess.build_shards'), freshly
    imported with only its own project flags defined; all as before on exit."""
    saved = _set_aside_project_flags()
    previous = sys.modules.pop(module_name, None)
    try:
        yield importlib.import_module(module_name)
    finally:
        _set_aside_project_flags()  # drops the flags the fresh import defined
        sys.modules.pop(module_name, None)
        if previous is not None:
            sys.modules[module_name] = previous
        _put_back(*saved)


def _exit_code(code):
    """The exit status and stderr text of `sys.exit(code)`, as the interpreter gives them."""
    if code is None:
        return 0, ''
    if isinstance(code, int):
        return code, ''
    return 1, f'{code}\n'


def run(module_name, *args):
    """`python <script> *args` in this process; returns its Result.

    The script's argv[0] is its file name, as on a command line. Exceptions other than
    SystemExit (a traceback the user would see) propagate and fail the test.
    """
    program = module_name.replace('.', os.sep) + '.py'
    out, err = io.StringIO(), io.StringIO()
    with loaded(module_name) as script, flagsaver.flagsaver():
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                app.run(script.main, argv=[program, *map(str, args)])
                code, tail = 0, ''
            except SystemExit as e:
                code, tail = _exit_code(e.code)
            print(tail, end='', file=sys.stderr)
    return Result(code, out.getvalue(), err.getvalue())


def check(module_name, *args):
    """`run`, failing the test with the script's output unless it exits with 0."""
    result = run(module_name, *args)
    if result.returncode != 0:
        raise AssertionError(f'{module_name} failed:\n{result.stdout}\n{result.stderr[-3000:]}')
    return result


def call_main(module, *args):
    """`module.main` of a script the test imported itself (so that `mock.patch` on it
    applies), with `args` parsed into the flags; returns (exit code, stdout, the message
    given to sys.exit or '')."""
    program = module.__name__.replace('.', os.sep) + '.py'
    out = io.StringIO()
    with flagsaver.flagsaver(), contextlib.redirect_stdout(out):
        FLAGS([program, *map(str, args)])
        try:
            module.main([program])
        except SystemExit as e:
            return 1, out.getvalue(), str(e.code)
    return 0, out.getvalue(), ''


def cpu_seconds_of(args, cwd=REPO_DIR, env=None):
    """Runs the command `args` to completion; returns (its subprocess.CompletedProcess, text
    output captured, and the CPU seconds it used: user + system, its own children included).

    CPU time, not wall time: a refusal that imports TensorFlow costs seconds of CPU however
    busy the machine is, and a quick one stays quick when the machine is loaded.
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    used = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return result, used


def run_measured(script, *args, env=None, cwd=REPO_DIR):
    """`python <script> *args` (e.g. 'evaluate.py', or '-m', 'preprocess.show') as a real
    process: `cpu_seconds_of` its command line."""
    return cpu_seconds_of([sys.executable, script, *map(str, args)], cwd=cwd, env=env)
