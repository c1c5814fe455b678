"""extract_features.py, the script: flags, summary, exit code and one-line errors (its
subprocess smoke test; the run itself is tested in tests/inference/extract/test_run.py)."""

import subprocess
import sys

import cli
import numpy as np
import pytest

from common.files import REPO_DIR

pytestmark = pytest.mark.slow  # runs a script, or a whole job


def test_command_line(folder, random_checkpoints, tmp_path):
    common = [
        f'--input={folder / "short.avi"}',
        f'--output_dir={tmp_path / "o"}',
        f'--rgb_checkpoint={random_checkpoints["rgb"]}',
    ]
    result = subprocess.run(
        [sys.executable, 'extract_features.py', *common, '--window=4', '--stride=2'],
        cwd=REPO_DIR,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert '1 ok, 0 failed, 0 skipped' in result.stdout
    assert np.load(tmp_path / 'o' / 'short_rgb.npy').shape == (2, 1024)
    result = cli.run('extract_features', *common, '--streams=rgb,depth')
    assert result.returncode == 1
    assert (
        result.stderr.strip().splitlines()[-1]
        == 'error: --streams: rgb, flow or rgb,flow, not rgb,depth'
    )
