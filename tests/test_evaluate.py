"""evaluate.py and evaluate_sample.py on a checkpoint that train_rgb.py wrote (conftest's
`motion_rgb_run`, on `motion_shards`): the table, the prediction and confusion files, and
the sample's top classes.

evaluate.py runs as a subprocess (the script's smoke test), evaluate_sample.py in this
process (tests/cli.py; its smoke test is in test_evaluate_sample.py).
"""

import subprocess
import sys

import cli
import numpy as np
import pytest
from motion_videos import CLASSES

from common.files import REPO_DIR

pytestmark = pytest.mark.slow  # runs a script, or a whole job


def test_evaluate_and_evaluate_sample_load_the_trained_checkpoint(
    motion_rgb_run, motion_shards, tmp_path
):
    shards, out = motion_shards, tmp_path / 'eval'
    result = subprocess.run(
        [
            sys.executable,
            'evaluate.py',
            f'--data={shards}/test-*.tfrecord',
            f'--rgb_checkpoint={motion_rgb_run}',
            f'--output_dir={out}',
            '--crop_size=32',
            '--test_crops=3',
            '--test_flip',
        ],
        cwd=REPO_DIR,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    header, rgb = result.stdout.splitlines()[:2]
    assert header.split() == ['stream', 'videos', 'top-1', 'top-5', 'mean-class']
    assert rgb.split()[:2] == ['rgb', '15']
    with open(out / 'rgb_predictions.csv') as f:
        rows = f.read().splitlines()
    assert len(rows) == 16 and rows[0].startswith('media_id,label,predicted')
    with open(out / 'rgb_confusion.csv') as f:
        matrix = [list(map(int, r.split(',')[1:])) for r in f.read().splitlines()[1:]]
    assert np.array(matrix).sum() == 15 and np.array(matrix).sum(axis=1).tolist() == [5, 5, 5]
    sample = cli.check(
        'evaluate_sample',
        f'--checkpoint={motion_rgb_run}',
        f'--label_map={shards}/label_map.txt',
        f'--video={shards}/test-00000-of-00002.tfrecord',
        '--top_k=3',
    )
    assert sample.stdout.startswith('Norm of logits: ')
    assert sorted(line.split()[-1] for line in sample.stdout.splitlines()[-3:]) == sorted(CLASSES)


def test_evaluate_sample_takes_the_class_names_the_run_recorded(motion_rgb_run, motion_shards):
    """No --label_map with a fine-tuned checkpoint: the run's classes, not Kinetics-400's."""
    sample = cli.check(
        'evaluate_sample',
        f'--checkpoint={motion_rgb_run}',
        f'--video={motion_shards}/test-00000-of-00002.tfrecord',
        '--top_k=3',
    )
    assert sorted(line.split()[-1] for line in sample.stdout.splitlines()[-3:]) == sorted(CLASSES)
