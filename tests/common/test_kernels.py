"""common/kernels.py: every entry point asks for oneDNN before TensorFlow loads, and a
user's own TF_ENABLE_ONEDNN_OPTS wins."""

import ast
import glob
import os
import subprocess
import sys

import pytest

from common.files import REPO_DIR

PROBE = (
    'import common.kernels, tensorflow\n'
    'from tensorflow.python.util import _pywrap_util_port\n'
    'print(bool(_pywrap_util_port.IsMklEnabled()))\n'
)


def entry_points():
    """The repository's scripts: top-level and preprocess/ files run as __main__."""
    found = []
    for pattern in ('*.py', 'preprocess/*.py'):
        for path in sorted(glob.glob(os.path.join(REPO_DIR, pattern))):
            with open(path) as f:
                if "if __name__ == '__main__':" in f.read():
                    found.append(os.path.relpath(path, REPO_DIR))
    return found


def first_import(path):
    """The first module `path` imports, after jobs.pool (standard library only, and
    first where a pool's spawned workers re-import the script: tests/jobs/test_pool.py)."""
    tree = ast.parse(open(os.path.join(REPO_DIR, path)).read())
    for node in tree.body:
        if isinstance(node, ast.Import):
            return node.names[0].name
        if isinstance(node, ast.ImportFrom):
            name = f'{node.module}.{node.names[0].name}'
            if name != 'jobs.pool':
                return name
    return None


def test_every_script_imports_the_kernel_choice_first():
    scripts = entry_points()
    assert {'train_rgb.py', 'train_flow.py', 'evaluate_sample.py', 'evaluate.py'} <= set(scripts)
    late = [s for s in scripts if first_import(s) != 'common.kernels']
    assert late == [], f'import common.kernels first in: {late}'
    assert first_import('benchmarks/__init__.py') == 'common.kernels'


@pytest.mark.slow
@pytest.mark.parametrize('setting, enabled', [(None, 'True'), ('0', 'False'), ('1', 'True')])
def test_onednn_is_on_unless_the_user_turned_it_off(setting, enabled):
    env = {k: v for k, v in os.environ.items() if k != 'TF_ENABLE_ONEDNN_OPTS'}
    if setting is not None:
        env['TF_ENABLE_ONEDNN_OPTS'] = setting
    out = subprocess.run(
        [sys.executable, '-c', PROBE], cwd=REPO_DIR, env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split()[-1] == enabled
