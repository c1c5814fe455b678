"""extract_features.py end to end: outputs equal the model on the same frames, resume,
failures in the manifest, shards with stored flow, Beam DirectRunner == pool."""

import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
from unittest import mock

import cli
import numpy as np
import pytest
import tensorflow as tf
from videos import shard_example, write_video

import i3d
import model_io
from common import files, streams
from common.files import REPO_DIR
from inference.extract import features, prepare, run
from preprocess import flow as flow_lib
from preprocess import shards, video


def _run(spec, output_dir, checkpoints, runner='pool', overwrite=False, **settings):
    """An extraction in-process (run.run); returns (records, skipped, stdout)."""
    out = io.StringIO()
    settings = features.Settings(**({'window': 8, 'stride': 4} | settings))
    paths = {s: checkpoints[s] for s in settings.streams}
    with contextlib.redirect_stdout(out):
        records, skipped = run.run(
            str(spec), str(output_dir), settings, paths, 1, runner, '', overwrite
        )
    return records, skipped, out.getvalue()


@pytest.fixture(scope='module')
def checkpoints(tmp_path_factory):
    folder = tmp_path_factory.mktemp('ckpt')
    paths = {}
    for stream, channels in ((s.name, s.channels) for s in streams.STREAMS.values()):
        tf.random.set_seed(channels)
        model = model_io.build(i3d.InceptionI3d(num_classes=5), channels)
        paths[stream] = model_io.save(model, str(folder / stream / 'model'))
    return paths


def _pooled(checkpoint, clip):
    """The classifier's input of one pass, checked against the logits: features @ w + b."""
    model, _ = model_io.load(checkpoint)
    logits, end_points = model(tf.constant(clip[None]), is_training=False)
    features = i3d.classifier_input(end_points['Mixed_5c'])[0].numpy()
    w, b = (v.numpy() for v in model.logits_variables)
    np.testing.assert_allclose(features @ w.reshape(w.shape[-2:]) + b, logits[0], atol=1e-5)
    return features


def test_windows():
    assert features.windows(20, 8, 4) == [(0, 8), (4, 12), (8, 16), (12, 20)]
    assert features.windows(6, 8, 4) == [(0, 6)]  # shorter than a window: one
    assert features.windows(20, 0, 4) == [(0, 20)]


def test_folder_end_to_end_and_resume(folder, checkpoints, tmp_path):
    out = tmp_path / 'out'
    records, _, stdout = _run(folder, out, checkpoints)
    assert '2 ok, 1 failed, 0 skipped' in stdout
    features = np.load(out / 'a' / 'long_rgb.npy')
    times = np.load(out / 'a' / 'long_timestamps_ms.npy')
    assert features.shape == (4, 1024) and features.dtype == np.float32
    np.testing.assert_array_equal(times, [[0, 320], [160, 480], [320, 640], [480, 800]])
    frames = video.read_video(str(folder / 'a' / 'long.avi'), max_frames=100)
    clip = video.rgb_to_model_input(video.center_crop(frames))  # the paper's preprocessing
    np.testing.assert_allclose(features[1], _pooled(checkpoints['rgb'], clip[4:12]), atol=1e-5)
    assert np.load(out / 'short_rgb.npy').shape == (1, 1024)
    records = [json.loads(line) for line in (out / 'manifest.jsonl').read_text().splitlines()]
    failed = [r for r in records if r['status'] == 'failed']
    assert [r['video'] for r in failed] == ['broken'] and 'cannot open' in failed[0]['reason']
    # One meaning per name: elapsed_s is processing time (as in build_shards' manifest,
    # whose duration_s is the video's length); no ambiguous `seconds`.
    ok = [r for r in records if r['status'] == 'ok']
    assert all(r['elapsed_s'] >= 0 and 'seconds' not in r for r in ok)
    assert not os.listdir(out / '.work')

    mtime = os.path.getmtime(out / 'a' / 'long_rgb.npy')
    _, skipped, stdout = _run(folder, out, checkpoints)
    assert '3 videos (2 already done)' in stdout and '0 ok, 1 failed, 2 skipped' in stdout
    assert skipped == 2 and os.path.getmtime(out / 'a' / 'long_rgb.npy') == mtime
    with pytest.raises(ValueError, match=r'other settings \(window\)'):
        _run(folder, out, checkpoints, window=16)

    listing = tmp_path / 'one.txt'
    listing.write_text(f'{folder}/a/long.avi\n')
    whole = tmp_path / 'whole'
    _run(listing, whole, checkpoints, window=0)
    np.testing.assert_allclose(
        np.load(whole / 'long_rgb.npy')[0], _pooled(checkpoints['rgb'], clip), atol=1e-5
    )
    np.testing.assert_array_equal(np.load(whole / 'long_timestamps_ms.npy'), [[0, 800]])
    # A 20-frame window has 3 Mixed_5c steps: the pool weighs them 1/4, 1/2, 1/4 (not 1/3).
    window = tmp_path / 'window'
    _run(listing, window, checkpoints, window=20, stride=20)
    np.testing.assert_allclose(
        np.load(window / 'long_rgb.npy')[0], _pooled(checkpoints['rgb'], clip), atol=1e-5
    )


def test_command_line(folder, checkpoints, tmp_path):
    """The script as a user runs it: flags, summary, exit codes, one-line errors."""

    common = [
        f'--input={folder / "short.avi"}',
        f'--output_dir={tmp_path / "o"}',
        f'--rgb_checkpoint={checkpoints["rgb"]}',
    ]
    # The script's subprocess smoke test; the refusal below runs in this process (tests/cli.py).
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


def test_bad_inputs(folder, checkpoints, tmp_path):
    with pytest.raises(ValueError, match=r'no such folder, list \(.txt\) or shard'):
        _run(tmp_path / 'nothing', tmp_path / 'o', checkpoints)
    with pytest.raises(ValueError, match='no checkpoint found'):
        _run(folder, tmp_path / 'o', {'rgb': str(tmp_path / 'none')})
    with pytest.raises(ValueError, match='--streams: rgb, flow or rgb,flow, not rgb,depth'):
        _run(folder, tmp_path / 'o', checkpoints | {'depth': ''}, streams=('rgb', 'depth'))
    with pytest.raises(ValueError, match='a flow window needs at least 2 frames'):
        _run(folder, tmp_path / 'o', checkpoints, streams=('flow',), window=1)


def test_shards_use_stored_flow_and_beam_equals_pool(checkpoints, tmp_path):
    rng = np.random.default_rng(5)
    for n in range(2):
        (tmp_path / 'in' / f'class{n}').mkdir(parents=True)
        frames = rng.integers(0, 255, (10 + n, 24, 32, 3), np.uint8)
        write_video(tmp_path / 'in' / f'class{n}' / f'v{n}.avi', 25, frames)
    prefix = tmp_path / 'shards' / 'test'
    cli.check(
        'preprocess.build_shards',
        f'--input_dir={tmp_path / "in"}',
        f'--output={prefix}',
        '--num_shards=1',
        '--short_side=24',
        '--rgb_format=png',
    )
    shard = shards.shard_path(str(prefix), 0, 1)
    outputs = {}
    for runner in ('pool', 'DirectRunner'):
        out = tmp_path / runner
        _, _, stdout = _run(
            tmp_path / 'shards' / '*.tfrecord',
            out,
            checkpoints,
            runner,
            streams=('rgb', 'flow'),
            window=6,
            stride=3,
        )
        assert '2 ok, 0 failed' in stdout, stdout
        outputs[runner] = out
    rgb, pixel_flow = shard_example(shard, 'class1/v1')
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


def test_interrupted_write_leaves_no_npy_and_is_cleaned(tmp_path, monkeypatch):
    def crash(f, array):
        f.write(b'\x93NUMPY partial')
        raise OSError('disk full')

    monkeypatch.setattr(np, 'save', crash)
    with pytest.raises(OSError):
        features.write_outputs(str(tmp_path), 'v', {'rgb': np.zeros((1, 4))}, np.zeros((1, 2)))
    assert os.listdir(tmp_path) == []
    (tmp_path / 'a').mkdir()
    (tmp_path / 'a' / 'v_rgb.npy.tmp-123').write_bytes(b'left by kill -9')
    (tmp_path / '.work').mkdir()
    (tmp_path / '.work' / '1-2.rgb').write_bytes(b'raw')
    run.clean_killed_run(str(tmp_path))
    assert os.listdir(tmp_path) == ['a'] and os.listdir(tmp_path / 'a') == []


def test_a_second_run_on_the_same_output_dir_is_refused(folder, checkpoints, tmp_path):
    out = tmp_path / 'features'
    out.mkdir()
    with files.exclusive_lock(str(out / run.LOCK)):  # as a running extraction does
        with pytest.raises(ValueError, match='held by another extract_features run'):
            _run(folder, out, checkpoints)
    assert os.listdir(out) == [run.LOCK]  # nothing written, nothing cleaned


def test_checkpoint_problems_are_found_before_any_video_is_decoded(folder, checkpoints, tmp_path):
    never = mock.patch.object(prepare, 'prepare_task', side_effect=AssertionError('decoded'))
    flow = {'streams': ('flow',)}
    with never, pytest.raises(ValueError) as error:
        _run(folder, tmp_path / 'o', {'flow': checkpoints['rgb']}, **flow)
    assert str(error.value) == (
        f'{checkpoints["rgb"]}: takes 3-channel input (for the rgb stream), but the flow stream '
        'has 2'
    )
    missing = str(tmp_path / 'checkpoints' / 'flow_scratch' / 'model')
    with never, pytest.raises(ValueError) as error:
        _run(folder, tmp_path / 'o', {'flow': missing}, **flow)
    message = str(error.value)  # names the command that makes flow weights, not RGB's
    assert message.startswith(f'{missing}: no checkpoint found (expected {missing}.index); Deep')
    assert 'python import_weights.py --source=deepmind --deepmind_checkpoint=' in message
    assert 'make weights-deepmind' in message and 'make weights (' not in message
    damaged = tmp_path / 'damaged'
    shutil.copytree(os.path.dirname(checkpoints['flow']), damaged)
    [data] = [p for p in os.listdir(damaged) if '.data-' in p]
    os.truncate(damaged / data, 5000)
    with never, pytest.raises(ValueError, match=r'damaged/model: damaged checkpoint \(Read less'):
        _run(folder, tmp_path / 'o', {'flow': str(damaged / 'model')}, **flow)


def test_short_logits_windows_give_the_eager_model_s_logits(checkpoints, tmp_path):
    """The traced forward (None dims) once gave NaN vectors of 1024 for Logits windows <= 8."""
    frames = 16
    rgb = np.random.default_rng(3).integers(0, 255, (frames, 40, 48, 3), np.uint8)
    path = tmp_path / 'clip.rgb'
    rgb.tofile(path)
    prepared = {'frames': frames, 'rgb': (str(path), rgb.shape)}
    model, _ = model_io.load(checkpoints['rgb'])
    x = video.rgb_to_model_input(rgb)
    settings = features.Settings(window=1, endpoint='Logits')
    extractor = features.Extractor({'rgb': checkpoints['rgb']}, settings)
    for window in (1, 2, 7, 8, 9, 16):
        extractor.settings = features.Settings(window=window, stride=window, endpoint='Logits')
        out, _ = extractor.features(prepared)
        starts = range(0, frames - window + 1, window)
        expected = []
        for s in starts:
            logits, _ = model(tf.constant(x[None, s : s + window]), is_training=False)
            expected.append(logits[0].numpy())
        assert out['rgb'].shape == (len(starts), 5) and np.all(np.isfinite(out['rgb']))
        np.testing.assert_allclose(out['rgb'], expected, rtol=1e-4, atol=1e-5)
    model.layers['Logits'].conv.b.assign([np.nan] * 5)
    broken = tmp_path / 'broken' / 'model'
    model_io.save(model, str(broken))
    extractor = features.Extractor({'rgb': str(broken)}, settings)
    with pytest.raises(ValueError, match='rgb: the model gave non-finite outputs'):
        extractor.features(prepared)
