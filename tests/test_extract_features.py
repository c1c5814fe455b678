"""extract_features.py end to end: outputs equal the model on the same frames, resume,
failures in the manifest, shards with stored flow, Beam DirectRunner == pool."""

import contextlib
import io
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from absl import flags
from absl.testing import flagsaver
from videos import write_video

import extract_features
import i3d
import model_io
from common.files import REPO_DIR
from inference import extraction, inputs
from preprocess import flow as flow_lib
from preprocess import model_inputs, shards, video

FLAGS = flags.FLAGS


def _run(*args):
    """Runs main() in-process; returns (exit code, stdout, error message)."""
    out = io.StringIO()
    with flagsaver.flagsaver(), contextlib.redirect_stdout(out):
        FLAGS(['extract_features.py', *args])
        try:
            extract_features.main(['extract_features.py'])
            return 0, out.getvalue(), ''
        except SystemExit as e:
            return e.code and 1, out.getvalue(), str(e.code)


@pytest.fixture(scope='module')
def checkpoints(tmp_path_factory):
    folder = tmp_path_factory.mktemp('ckpt')
    paths = {}
    for stream, channels in model_inputs.STREAM_CHANNELS.items():
        tf.random.set_seed(channels)
        model = model_io.build(i3d.InceptionI3d(num_classes=5), channels)
        paths[stream] = model_io.save(model, str(folder / stream / 'model'))
    return paths


@pytest.fixture(scope='module')
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp('videos')
    rng = np.random.default_rng(0)
    (root / 'a').mkdir()
    write_video(root / 'a' / 'long.avi', 25, rng.integers(0, 255, (20, 48, 64, 3), np.uint8))
    write_video(root / 'short.avi', 25, rng.integers(0, 255, (6, 48, 64, 3), np.uint8))
    (root / 'broken.mp4').write_bytes(b'not a video')
    return root


def _pooled(checkpoint, clip):
    model, _ = model_io.load(checkpoint, final_endpoint='Mixed_5c')
    out = model(tf.constant(clip[None]), is_training=False)[0]
    return tf.reduce_mean(out, axis=(1, 2, 3))[0].numpy()


def test_windows():
    assert extraction.windows(20, 8, 4) == [(0, 8), (4, 12), (8, 16), (12, 20)]
    assert extraction.windows(6, 8, 4) == [(0, 6)]  # shorter than a window: one
    assert extraction.windows(20, 0, 4) == [(0, 20)]


def test_list_videos(folder, tmp_path):
    names = [v.name for v in inputs.list_videos(str(folder))]
    assert names == ['broken', 'short', os.path.join('a', 'long')]
    listing = tmp_path / 'list.txt'
    listing.write_text(f'{folder}/a/long.avi\n\n# comment\n{folder}/short.avi\n')
    assert [v.name for v in inputs.list_videos(str(listing))] == ['long', 'short']
    listing.write_text(f'{folder}/a/long.avi\n{folder}/missing.avi\n')
    with pytest.raises(ValueError, match=r'list.txt:2: .*missing.avi: no such file'):
        inputs.list_videos(str(listing))
    (tmp_path / 'b').mkdir()
    os.symlink(folder / 'short.avi', tmp_path / 'b' / 'long.avi')
    listing.write_text(f'{folder}/a/long.avi\nb/long.avi\n')
    with pytest.raises(ValueError, match='would both write long'):
        inputs.list_videos(str(listing))


def test_folder_end_to_end_and_resume(folder, checkpoints, tmp_path):
    out = tmp_path / 'out'
    args = [f'--input={folder}', f'--output_dir={out}', f'--rgb_checkpoint={checkpoints["rgb"]}',
            '--window=8', '--stride=4', '--workers=1']  # fmt: skip
    code, stdout, _ = _run(*args)
    assert code == 0, stdout
    assert '2 ok, 1 failed, 0 skipped' in stdout
    features = np.load(out / 'a' / 'long_rgb.npy')
    times = np.load(out / 'a' / 'long_timestamps_ms.npy')
    assert features.shape == (4, 1024) and features.dtype == np.float32
    np.testing.assert_array_equal(times, [[0, 320], [160, 480], [320, 640], [480, 800]])
    clip = model_inputs.load_streams(str(folder / 'a' / 'long.avi'), ['rgb'], 100)['rgb']
    np.testing.assert_allclose(features[1], _pooled(checkpoints['rgb'], clip[4:12]), atol=1e-5)
    assert np.load(out / 'short_rgb.npy').shape == (1, 1024)
    records = [json.loads(line) for line in (out / 'manifest.jsonl').read_text().splitlines()]
    failed = [r for r in records if r['status'] == 'failed']
    assert [r['video'] for r in failed] == ['broken'] and 'cannot open' in failed[0]['reason']
    assert not os.listdir(out / '.work')

    mtime = os.path.getmtime(out / 'a' / 'long_rgb.npy')
    code, stdout, _ = _run(*args)
    assert '3 videos (2 already done)' in stdout and '0 ok, 1 failed, 2 skipped' in stdout
    assert os.path.getmtime(out / 'a' / 'long_rgb.npy') == mtime

    code, _, error = _run(*args[:-3], '--window=16', '--stride=4')
    assert code == 1 and 'other settings (window)' in error

    whole = tmp_path / 'whole'
    code, _, _ = _run(*args[:4], f'--output_dir={whole}', '--window=0')
    np.testing.assert_allclose(
        np.load(whole / 'a' / 'long_rgb.npy')[0], _pooled(checkpoints['rgb'], clip), atol=1e-5
    )
    np.testing.assert_array_equal(np.load(whole / 'a' / 'long_timestamps_ms.npy'), [[0, 800]])


def test_bad_flags(folder, checkpoints, tmp_path):
    code, _, error = _run(f'--input={tmp_path}/nothing', f'--output_dir={tmp_path}/o')
    assert code == 1 and 'no such folder, list (.txt) or shard' in error
    code, _, error = _run(f'--input={folder}', f'--output_dir={tmp_path}/o', '--streams=rgb,depth')
    assert code == 1 and '--streams' in error
    code, _, error = _run(f'--input={folder}', f'--output_dir={tmp_path}/o',
                          f'--rgb_checkpoint={tmp_path}/none')  # fmt: skip
    assert code == 1 and 'no checkpoint found' in error


def test_shards_use_stored_flow_and_beam_equals_pool(checkpoints, tmp_path):
    rng = np.random.default_rng(5)
    for n in range(2):
        (tmp_path / 'in' / f'class{n}').mkdir(parents=True)
        frames = rng.integers(0, 255, (10 + n, 24, 32, 3), np.uint8)
        write_video(tmp_path / 'in' / f'class{n}' / f'v{n}.avi', 25, frames)
    prefix = tmp_path / 'shards' / 'test'
    subprocess.run(
        [sys.executable, '-m', 'preprocess.build_shards', f'--input_dir={tmp_path / "in"}',
         f'--output={prefix}', '--num_shards=1', '--short_side=24', '--rgb_format=png'],
        cwd=REPO_DIR, check=True, capture_output=True,
    )  # fmt: skip
    shard = shards.shard_path(str(prefix), 0, 1)
    outputs = {}
    for runner in ('pool', 'DirectRunner'):
        out = tmp_path / runner
        code, stdout, _ = _run(
            f'--input={tmp_path / "shards" / "*.tfrecord"}', f'--output_dir={out}',
            '--streams=rgb,flow', f'--rgb_checkpoint={checkpoints["rgb"]}',
            f'--flow_checkpoint={checkpoints["flow"]}', '--window=6', '--stride=3',
            f'--runner={runner}', '--workers=1',
        )  # fmt: skip
        assert code == 0 and '2 ok, 0 failed' in stdout, stdout
        outputs[runner] = out
    rgb, pixel_flow = model_inputs.load_shard_example(shard, 'class1/v1')
    flow = flow_lib.flow_to_model_input(pixel_flow)
    got = np.load(outputs['pool'] / 'class1' / 'v1_flow.npy')
    assert got.shape == (2, 1024)  # 11 frames: windows [0, 6) and [3, 9)
    np.testing.assert_allclose(got[1], _pooled(checkpoints['flow'], flow[3:8]), atol=1e-5)
    got = np.load(outputs['pool'] / 'class1' / 'v1_rgb.npy')
    expected = _pooled(checkpoints['rgb'], video.rgb_to_model_input(rgb[3:9]))
    np.testing.assert_allclose(got[1], expected, atol=1e-5)
    for name in ('class0/v0', 'class1/v1'):
        for suffix in ('rgb', 'flow', 'timestamps_ms'):
            pool, beam = (np.load(outputs[r] / f'{name}_{suffix}.npy') for r in outputs)
            np.testing.assert_array_equal(pool, beam)
