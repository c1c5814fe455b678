"""2 replicas == 1 replica: the step, sync BN and precise BN; BatchNorm moving statistics stay
identical on every replica. On the zoo's smallest network (tests/replica_check.py says why)."""

import json
import os
import subprocess
import sys

import pytest

from common.files import REPO_DIR

pytestmark = pytest.mark.slow  # runs a script, or a whole job


def _replica_check(*args):
    result = subprocess.run(
        [sys.executable, os.path.join('tests', 'replica_check.py'), *args],
        cwd=REPO_DIR,
        capture_output=True,
        text=True,
        env={**os.environ, 'PYTHONPATH': REPO_DIR},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_two_replicas_equal_one_and_keep_identical_moving_statistics():
    found = _replica_check()
    assert found['losses2'] == pytest.approx(found['losses1'], rel=1e-4)
    assert found['losses2'][-1] < found['losses2'][0]  # it trains
    assert found['weights'] < 1e-6
    assert found['moved'] > 1e-4  # the EMAs were updated...
    assert found['replica_gap'] == 0.0  # ...identically on both replicas


def test_sync_and_precise_batch_norm_use_the_batch_of_both_replicas():
    found = _replica_check('batch_norm')
    # --sync_batch_norm: 2 replicas of 2 clips normalize as 1 replica of the 4 clips.
    # Float32 rounding of a batch of 2+2 vs 4: rel 1e-7 (Eigen) to 1.5e-5 (oneDNN); without
    # sync BN the losses differ by 0.4% (1.1460 vs 1.1508, tests/tiny_net.py).
    assert found['sync_loss'][0] == pytest.approx(found['sync_loss'][1], rel=1e-4)
    assert found['sync_moved'] > 1e-4
    assert found['sync_stats'] < 3e-7  # measured 4e-9; without sync BN: 3e-6
    # Precise BN on 2 replicas: the average of both replicas' batch moments.
    assert found['precise_moved'] > 1e-2
    assert found['precise_stats'] < 1e-6
