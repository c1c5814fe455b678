"""extract_features.py stopped by Ctrl-C (SIGINT to its process group) or SIGTERM (to the
parent only): one line, exit 130/143, no traceback, workers gone, the unfinished videos'
work files removed, the finished ones kept; the same command then resumes and gives what
an uninterrupted run gives. Real processes (tests/signals.py)."""

import json
import os
import re
import signal

import numpy as np
import pytest
from extraction import extract
from signals import Script, stop_line
from videos import write_video

pytestmark = pytest.mark.slow  # runs a script, or a whole job

VIDEOS = 10
SETTINGS = {'window': 8, 'stride': 2}


@pytest.fixture(scope='module')
def many(tmp_path_factory):
    """VIDEOS short videos: enough that a signal sent after the first lands before the
    last, also on a fast machine. 10 frames each: two windows (SETTINGS), so that every
    output holds more than one row."""
    root = tmp_path_factory.mktemp('many')
    rng = np.random.default_rng(1)
    for k in range(VIDEOS):
        write_video(root / f'v{k}.avi', 25, rng.integers(0, 255, (10, 48, 64, 3), np.uint8))
    return root


@pytest.fixture(scope='module')
def whole(many, random_checkpoints, tmp_path_factory):
    """The outputs of an uninterrupted in-process run on `many`: what a resumed run must give."""
    out = tmp_path_factory.mktemp('whole')
    extract(many, out, random_checkpoints, **SETTINGS)
    return _outputs(out)


def _command(videos, out, checkpoints):
    return [
        'extract_features.py',
        f'--input={videos}',
        f'--output_dir={out}',
        f'--rgb_checkpoint={checkpoints["rgb"]}',
        '--workers=2',
        *(f'--{k}={v}' for k, v in SETTINGS.items()),
    ]


def _manifest(out):
    path = out / 'manifest.jsonl'
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def _outputs(out):
    return {
        os.path.relpath(os.path.join(root, n), out): np.load(os.path.join(root, n))
        for root, _, names in os.walk(out)
        for n in names
        if n.endswith('.npy')
    }


@pytest.mark.skipif(not os.path.exists('/proc/self/status'), reason='reads /proc')
@pytest.mark.parametrize('signum', [signal.SIGINT, signal.SIGTERM])
def test_a_stopped_extraction_keeps_the_finished_videos_and_resumes(
    signum, many, random_checkpoints, whole, tmp_path
):
    out = tmp_path / 'out'
    script = Script(*_command(many, out, random_checkpoints))
    try:
        script.wait_for(lambda: _manifest(out), 'first manifest line')
        script.send(signum)
        code, _, stderr, alive = script.finish()
    finally:
        script.kill()
    assert code == 128 + signum, stderr[-3000:]
    line = stop_line(stderr, signum)
    match = re.fullmatch(
        rf'\w+: stopped after (\d+) of {VIDEOS} videos; the finished ones and their manifest '
        r'lines are kept\. Run the same command again to resume\.',
        line,
    )
    assert match, line
    finished = int(match[1])
    assert 1 <= finished < VIDEOS
    assert len(script.children) >= 2 and not alive  # the workers (and resource tracker)
    records = _manifest(out)
    assert len(records) == finished and all(r['status'] == 'ok' for r in records)
    assert not os.path.exists(out / '.work')  # the unfinished videos' raw frames
    assert sorted(_outputs(out)) == sorted(
        f'{r["video"]}_{kind}.npy' for r in records for kind in ('rgb', 'timestamps_ms')
    )
    assert not [n for n in os.listdir(out) if '.tmp' in n]

    _, skipped, stdout = extract(many, out, random_checkpoints, **SETTINGS)  # resume
    assert skipped == finished and f'{VIDEOS - finished} ok, 0 failed' in stdout
    assert sorted(r['video'] for r in _manifest(out)) == [f'v{k}' for k in range(VIDEOS)]
    resumed = _outputs(out)
    assert sorted(resumed) == sorted(whole)
    for name, array in whole.items():
        assert len(array) == 2, (name, array.shape)  # two windows
        np.testing.assert_allclose(resumed[name], array, rtol=1e-6, atol=1e-6, err_msg=name)


def test_ctrl_c_while_tensorflow_loads_says_so_in_one_line(random_checkpoints, tmp_path):
    out = tmp_path / 'out'
    script = Script(*_command(tmp_path, out, random_checkpoints))
    try:
        script.wait_for(script.handles_signals, 'signal handlers')  # TensorFlow loads next
        script.send(signal.SIGINT)
        code, _, stderr, alive = script.finish()
    finally:
        script.kill()
    assert code == 130 and not alive
    assert (
        stop_line(stderr, signal.SIGINT) == 'SIGINT: stopped during start-up; nothing was written'
    )
    assert not out.exists()
