"""fvd.py stopped by Ctrl-C (SIGINT to its process group) or SIGTERM (to the parent only):
one line saying what was lost, exit 130/143, no traceback, workers gone, nothing written
but a completed --save_stats file. Real processes (tests/signals.py)."""

import os
import re
import signal

import numpy as np
import pytest
from signals import Script, stop_line
from videos import write_video

pytestmark = pytest.mark.slow  # runs a script, or a whole job

VIDEOS = 8


@pytest.fixture(scope='module')
def sets(tmp_path_factory):
    """Two folders of VIDEOS short videos."""
    root = tmp_path_factory.mktemp('sets')
    rng = np.random.default_rng(2)
    for name in ('real', 'fake'):
        (root / name).mkdir()
        for k in range(VIDEOS):
            frames = rng.integers(0, 255, (6, 48, 64, 3), np.uint8)
            write_video(root / name / f'v{k}.avi', 25, frames)
    return root


def _command(sets, checkpoints, *flags):
    return [
        'fvd.py',
        f'--real={sets / "real"}',
        f'--rgb_checkpoint={checkpoints["rgb"]}',
        '--num_frames=4',
        '--batch_size=1',
        '--workers=2',
        *flags,
    ]


def _stop(script, signum, ready, what):
    try:
        script.wait_for(ready, what)
        script.send(signum)
        code, stdout, stderr, alive = script.finish()
    finally:
        script.kill()
    assert code == 128 + signum, stderr[-3000:]
    assert len(script.children) >= 2 and not alive  # the workers (and resource tracker)
    return stop_line(stderr, signum), stdout


@pytest.mark.skipif(not os.path.exists('/proc/self/status'), reason='reads /proc')
def test_sigterm_while_embedding_fake_keeps_the_saved_stats(sets, random_checkpoints, tmp_path):
    stats = tmp_path / 'out' / 'real.npz'
    script = Script(
        *_command(sets, random_checkpoints, f'--fake={sets / "fake"}', f'--save_stats={stats}')
    )

    def embedding_fake():  # the stats saved, then tqdm's second bar past its first video
        after_real = script.stderr.split(f'{VIDEOS}/{VIDEOS} [')[-1]
        return stats.exists() and re.search(rf'\b[1-9]/{VIDEOS} \[', after_real)

    line, _ = _stop(script, signal.SIGTERM, embedding_fake, 'progress of --fake')
    fake = re.escape(str(sets / 'fake'))
    match = re.fullmatch(
        rf'SIGTERM: stopped while embedding {fake} \((\d) of {VIDEOS} videos\); '
        rf'{re.escape(str(stats))} was kept',
        line,
    )
    assert match and 1 <= int(match[1]) < VIDEOS, line
    assert os.listdir(stats.parent) == ['real.npz']  # no temporary file
    saved = np.load(stats)
    assert int(saved['n']) == VIDEOS and np.all(np.isfinite(saved['sigma']))


@pytest.mark.skipif(not os.path.exists('/proc/self/status'), reason='reads /proc')
def test_ctrl_c_while_embedding_real_saves_nothing(sets, random_checkpoints, tmp_path):
    stats = tmp_path / 'out' / 'real.npz'
    script = Script(*_command(sets, random_checkpoints, f'--save_stats={stats}'))
    progress = re.compile(rf'\b[1-9]/{VIDEOS} \[')  # tqdm: a first video embedded
    line, stdout = _stop(
        script, signal.SIGINT, lambda: progress.search(script.stderr), 'progress line'
    )
    real = re.escape(str(sets / 'real'))
    match = re.fullmatch(
        rf'SIGINT: stopped (while embedding {real} \((\d) of {VIDEOS} videos\)|after embedding '
        rf'{real}); nothing was written',
        line,
    )
    assert match, line
    assert match[2] is None or 1 <= int(match[2]) <= VIDEOS
    assert not stats.exists() and os.listdir(stats.parent) == []
    assert 'statistics of' not in stdout
