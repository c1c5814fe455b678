"""2 replicas == 1 replica, and BatchNorm moving statistics stay identical on every replica."""

import json
import os
import subprocess
import sys

import pytest

from common.files import REPO_DIR


def test_two_replicas_equal_one_and_keep_identical_moving_statistics():
    result = subprocess.run(
        [sys.executable, os.path.join('tests', 'replica_check.py')],
        cwd=REPO_DIR,
        capture_output=True,
        text=True,
        env={**os.environ, 'PYTHONPATH': REPO_DIR},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    found = json.loads(result.stdout.strip().splitlines()[-1])
    assert found['losses2'] == pytest.approx(found['losses1'], rel=1e-4)
    assert found['losses2'][-1] < found['losses2'][0]  # it trains
    assert found['weights'] < 1e-6
    assert found['moved'] > 1e-4  # the EMAs were updated...
    assert found['replica_gap'] == 0.0  # ...identically on both replicas
