"""inference.extract.run: a whole extraction (outputs equal the model on the same frames),
resume, failures in the manifest, settings and checkpoints checked before any decoding,
one run per output folder, what a killed run leaves cleaned."""

import json
import os
import shutil
from unittest import mock

import cli
import numpy as np
import pytest
from extraction import extract, pooled
from videos import shard_example, write_video

from common import files
from inference.extract import prepare, run
from preprocess import flow as flow_lib
from preprocess import shards, video


@pytest.mark.slow
def test_folder_end_to_end_and_resume(folder, random_checkpoints, tmp_path):
    checkpoints = random_checkpoints
    out = tmp_path / 'out'
    records, _, stdout = extract(folder, out, checkpoints)
    assert '2 ok, 1 failed, 0 skipped' in stdout
    features = np.load(out / 'a' / 'long_rgb.npy')
    times = np.load(out / 'a' / 'long_timestamps_ms.npy')
    assert features.shape == (4, 1024) and features.dtype == np.float32
    np.testing.assert_array_equal(times, [[0, 320], [160, 480], [320, 640], [480, 800]])
    frames = video.read_video(str(folder / 'a' / 'long.avi'), max_frames=100)
    clip = video.rgb_to_model_input(video.center_crop(frames))  # the paper's preprocessing
    np.testing.assert_allclose(features[1], pooled(checkpoints['rgb'], clip[4:12]), atol=1e-5)
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
    _, skipped, stdout = extract(folder, out, checkpoints)
    assert '3 videos (2 already done)' in stdout and '0 ok, 1 failed, 2 skipped' in stdout
    assert skipped == 2 and os.path.getmtime(out / 'a' / 'long_rgb.npy') == mtime
    with pytest.raises(ValueError, match=r'other settings \(window\)'):
        extract(folder, out, checkpoints, window=16)

    listing = tmp_path / 'one.txt'
    listing.write_text(f'{folder}/a/long.avi\n')
    whole = tmp_path / 'whole'
    extract(listing, whole, checkpoints, window=0)
    np.testing.assert_allclose(
        np.load(whole / 'long_rgb.npy')[0], pooled(checkpoints['rgb'], clip), atol=1e-5
    )
    np.testing.assert_array_equal(np.load(whole / 'long_timestamps_ms.npy'), [[0, 800]])
    # A 20-frame window has 3 Mixed_5c steps: the pool weighs them 1/4, 1/2, 1/4 (not 1/3).
    window = tmp_path / 'window'
    extract(listing, window, checkpoints, window=20, stride=20)
    np.testing.assert_allclose(
        np.load(window / 'long_rgb.npy')[0], pooled(checkpoints['rgb'], clip), atol=1e-5
    )


def test_bad_inputs(folder, random_checkpoints, tmp_path):
    checkpoints = random_checkpoints
    with pytest.raises(ValueError, match=r'no such folder, list \(.txt\) or shard'):
        extract(tmp_path / 'nothing', tmp_path / 'o', checkpoints)
    with pytest.raises(ValueError, match='no checkpoint found'):
        extract(folder, tmp_path / 'o', {'rgb': str(tmp_path / 'none')})
    with pytest.raises(ValueError, match='--streams: rgb, flow or rgb,flow, not rgb,depth'):
        extract(folder, tmp_path / 'o', checkpoints | {'depth': ''}, streams=('rgb', 'depth'))
    with pytest.raises(ValueError, match='a flow window needs at least 2 frames'):
        extract(folder, tmp_path / 'o', checkpoints, streams=('flow',), window=1)


def test_what_a_killed_run_left_is_cleaned(tmp_path):
    (tmp_path / 'a').mkdir()
    (tmp_path / 'a' / 'v_rgb.npy.tmp-123').write_bytes(b'left by kill -9')
    (tmp_path / 'a' / 'w_rgb.npy').write_bytes(b'a finished output')
    (tmp_path / '.work').mkdir()
    (tmp_path / '.work' / '1-2.rgb').write_bytes(b'raw')
    run.clean_killed_run(str(tmp_path))
    assert os.listdir(tmp_path) == ['a'] and os.listdir(tmp_path / 'a') == ['w_rgb.npy']


def test_a_second_run_on_the_same_output_dir_is_refused(folder, random_checkpoints, tmp_path):
    out = tmp_path / 'features'
    out.mkdir()
    with files.exclusive_lock(str(out / run.LOCK)):  # as a running extraction does
        with pytest.raises(ValueError, match='held by another extract_features run'):
            extract(folder, out, random_checkpoints)
    assert os.listdir(out) == [run.LOCK]  # nothing written, nothing cleaned


def test_checkpoint_problems_are_found_before_any_video_is_decoded(
    folder, random_checkpoints, tmp_path
):
    checkpoints = random_checkpoints
    never = mock.patch.object(prepare, 'prepare_task', side_effect=AssertionError('decoded'))
    flow = {'streams': ('flow',)}
    with never, pytest.raises(ValueError) as error:
        extract(folder, tmp_path / 'o', {'flow': checkpoints['rgb']}, **flow)
    assert str(error.value) == (
        f'{checkpoints["rgb"]}: takes 3-channel input (for the rgb stream), but the flow stream '
        'has 2'
    )
    missing = str(tmp_path / 'checkpoints' / 'flow_scratch' / 'model')
    with never, pytest.raises(ValueError) as error:
        extract(folder, tmp_path / 'o', {'flow': missing}, **flow)
    message = str(error.value)  # names the command that makes flow weights, not RGB's
    assert message.startswith(f'{missing}: no checkpoint found (expected {missing}.index); Deep')
    assert 'python import_weights.py --source=deepmind --deepmind_checkpoint=' in message
    assert 'make weights-deepmind' in message and 'make weights (' not in message
    damaged = tmp_path / 'damaged'
    shutil.copytree(os.path.dirname(checkpoints['flow']), damaged)
    [data] = [p for p in os.listdir(damaged) if '.data-' in p]
    os.truncate(damaged / data, 5000)
    with never, pytest.raises(ValueError, match=r'damaged/model: damaged checkpoint \(Read less'):
        extract(folder, tmp_path / 'o', {'flow': str(damaged / 'model')}, **flow)


# On a Beam runner (jobs.beam): the DirectRunner writes what the pool writes, bit for bit,
# on shards with stored flow (whose outputs equal the model on the stored frames).


@pytest.mark.slow
def test_beam_equals_the_pool_on_shards_with_stored_flow(random_checkpoints, tmp_path):
    checkpoints = random_checkpoints
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
        _, _, stdout = extract(
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
    np.testing.assert_allclose(got[1], pooled(checkpoints['flow'], flow[3:8]), atol=1e-5)
    got = np.load(outputs['pool'] / 'class1' / 'v1_rgb.npy')
    expected = pooled(checkpoints['rgb'], video.rgb_to_model_input(rgb[3:9]))
    np.testing.assert_allclose(got[1], expected, atol=1e-5)
    for name in ('class0/v0', 'class1/v1'):
        for suffix in ('rgb', 'flow', 'timestamps_ms'):
            pool, beam = (np.load(outputs[r] / f'{name}_{suffix}.npy') for r in outputs)
            np.testing.assert_array_equal(pool, beam)
