"""What the training tests share: tiny-run flags and the per-step loss log of a run."""

import json
import os

# Clips of 8 frames, 32 px crops: a step of the full network takes about a second here.
TINY = ['--num_frames=8', '--crop_size=32', '--batch_size=4', '--seed=7']


def losses(model_dir):
    """{step: loss} of train_log.jsonl, which must hold one line per step."""
    with open(os.path.join(model_dir, 'train_log.jsonl')) as f:
        steps = [(r['step'], r['loss']) for r in map(json.loads, f)]
    assert [s for s, _ in steps] == list(range(1, len(steps) + 1)), steps
    return dict(steps)
