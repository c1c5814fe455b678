"""What every script's `main` does first: refuse arguments absl did not read as flags.

absl parses `--flag false` (with a space) as `--flag` (True) plus a stray argument `false`:
the bug that made DeepMind's `no_imagenet_*` sample outputs stale. Every `main` calls
`reject_stray_arguments(argv)`, so that such a command stops with one message instead of
running with the opposite setting.
"""

import glob
import os

from absl import app


def reject_stray_arguments(argv):
    """Raises absl's UsageError (exit code 1, one message) for positional arguments.

    Args:
      argv: what `app.run` passes to `main`: the program name, then what no flag took.
    """
    if len(argv) > 1:
        raise app.UsageError(
            f'Unexpected arguments: {argv[1:]} (write boolean flags as --flag=false)'
        )


def check_exists(flag, path):
    """Raises ValueError naming `flag` when the local `path` does not exist (URLs and
    globs are left to the readers)."""
    if path and '://' not in path and not glob.has_magic(path) and not os.path.exists(path):
        raise ValueError(f'--{flag}: {path}: no such file or folder')


def check_checkpoint(flag, path):
    """Raises ValueError naming `flag` when `path` is neither a folder nor a checkpoint
    prefix (`<path>.index`); model_io then checks its content, once TensorFlow loads."""
    if not path or '://' in path or os.path.isdir(path):
        return
    if not os.path.exists(path if path.endswith('.index') else path + '.index'):
        raise ValueError(
            f'--{flag}: {path}: no checkpoint found (expected {path}.index; README "Weights" '
            'says how to make one)'
        )


def check_patterns(flag, patterns):
    """Raises ValueError naming `flag` and the first comma-separated local glob of
    `patterns` that matches no file (URLs are left to TensorFlow's file system)."""
    for pattern in filter(None, (p.strip() for p in (patterns or '').split(','))):
        if '://' not in pattern and not glob.glob(pattern):
            raise ValueError(f'--{flag}: {pattern}: matches no file')
