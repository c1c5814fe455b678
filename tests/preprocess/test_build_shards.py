"""preprocess.build_shards end to end: the corrupt-file zoo, kill -9 and resume, Beam vs
pool, the schema read by plain tf.data, evaluate_sample on a shard vs the raw video."""

import dataclasses
import functools
import glob
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from unittest import mock

import cli
import cv2
import numpy as np
import order_stats
import pytest
import tensorflow as tf
from videos import clip_arrays, index_video, write_video

import i3d
from common import files, label_map
from common.files import REPO_DIR
from preprocess import clip_input, schema, shards, sources, video
from preprocess import flow as flow_lib

pytestmark = pytest.mark.slow  # runs a script, or a whole job


def build(*args, check=True):
    """Runs the shard builder as `python -m preprocess.build_shards` does, in this process
    (tests/cli.py); returns its cli.Result."""
    run = cli.check if check else cli.run
    return run('preprocess.build_shards', *args)


def build_process(*args):
    """The shard builder in a process of its own, as a user runs it."""
    return subprocess.run(
        [sys.executable, '-m', 'preprocess.build_shards', *args],
        cwd=REPO_DIR,
        capture_output=True,
        text=True,
    )


def manifest(prefix):
    with open(f'{prefix}-manifest.jsonl') as f:
        return {r['media_id']: r for r in map(json.loads, f)}


def digest(path):
    return hashlib.sha256(open(path, 'rb').read()).hexdigest()


def _texture_video(path, fps, count, size=(64, 48), step=2):
    """A smooth tinted texture moving right by `step` px per frame (realistic, finite flow).

    Colour detail is low, as in camera video (stored as YUV 4:2:0 anyway).
    """
    rng = np.random.default_rng(0)
    luma = cv2.resize(rng.uniform(0, 255, (12, 24)).astype(np.float32), (size[0] * 2, size[1]))
    base = luma[..., None] * np.float32([0.9, 0.8, 0.6]) + np.float32([20, 30, 40])
    frames = [np.roll(base, i * step, axis=1)[:, : size[0]].astype(np.uint8) for i in range(count)]
    return write_video(path, fps, frames)


# -- The corrupt-file zoo ------------------------------------------------------------


@pytest.fixture(scope='module')
def zoo(tmp_path_factory):
    """A class-folder dataset mixing good videos with every kind of bad input."""
    root = tmp_path_factory.mktemp('zoo')
    good, bad = root / 'good', root / 'bad'
    good.mkdir()
    bad.mkdir()
    index_video(good / 'ok30.avi', 30, 15)
    index_video(good / 'one_frame.avi', 30, 1)
    gray = cv2.VideoWriter(
        str(good / 'gray.avi'), cv2.VideoWriter_fourcc(*'MJPG'), 25, (64, 48), False
    )
    for i in range(5):
        gray.write(np.full((48, 64), i * 40, np.uint8))
    gray.release()
    write_video(good / 'huge.avi', 25, [np.full((2160, 3840, 3), 90, np.uint8)] * 2)
    # 0 fps in the AVI headers (stream rate and microseconds per frame zeroed).
    data = bytearray(open(index_video(root / 'tmp.avi', 30, 10), 'rb').read())
    strh = data.find(b'strh')
    data[strh + 32 : strh + 36] = (0).to_bytes(4, 'little')
    avih = data.find(b'avih')
    data[avih + 8 : avih + 12] = (0).to_bytes(4, 'little')
    (good / 'zero_fps.avi').write_bytes(bytes(data))
    os.remove(root / 'tmp.avi')
    (bad / 'zero_bytes.mp4').write_bytes(b'')
    (bad / 'not_a_video.mp4').write_text('hello, I am text')
    mp4 = open(index_video(root / 'tmp.mp4', 30, 30, codec='mp4v'), 'rb').read()
    (bad / 'truncated.mp4').write_bytes(mp4[: len(mp4) // 2])
    os.remove(root / 'tmp.mp4')
    avi = open(index_video(root / 'tmp.avi', 30, 30), 'rb').read()
    (good / 'truncated.avi').write_bytes(avi[: int(len(avi) * 0.6)])  # decodes partly
    os.remove(root / 'tmp.avi')
    os.symlink(root / 'nowhere.mp4', bad / 'dangling_link.mp4')
    return root


def test_zoo_each_video_gets_a_record_and_the_run_goes_on(zoo, tmp_path):
    prefix = str(tmp_path / 'out' / 'zoo')
    # The script's subprocess smoke test: its real entry point, exit code and output.
    result = build_process(
        f'--input_dir={zoo}', f'--output={prefix}', '--num_shards=4', '--flow=false'
    )
    records = manifest(prefix)
    statuses = {k: r['status'] for k, r in records.items()}
    assert statuses == {
        'good/ok30': 'ok',
        'good/one_frame': 'ok',
        'good/gray': 'ok',
        'good/huge': 'ok',
        'good/zero_fps': 'ok',
        'good/truncated': 'ok',
        'bad/zero_bytes': 'failed',
        'bad/not_a_video': 'failed',
        'bad/truncated': 'failed',
        'bad/dangling_link': 'failed',
    }
    assert 'no such file' in records['bad/dangling_link']['reason']
    assert 'cannot open' in records['bad/zero_bytes']['reason']
    assert records['good/ok30']['frames'] == 13  # 0.5 s at 25 fps
    assert records['good/one_frame']['frames'] == 1
    assert (records['good/huge']['height'], records['good/huge']['width']) == (256, 455)
    assert records['good/gray']['frames'] == 5
    assert records['good/zero_fps']['frames'] == 10  # FFmpeg falls back to 25 fps
    assert 0 < records['good/truncated']['frames'] < 25
    for r in records.values():
        assert {'media_id', 'path', 'status', 'label', 'label_index'} <= r.keys()
        if r['status'] == 'ok':
            assert r['fps'] == 25.0 and r['duration_s'] == pytest.approx(r['frames'] / 25)
    assert '6 ok, 4 failed' in result.stdout
    assert 'failed:' in result.stdout and result.returncode == 0
    examples = sum(
        1
        for p in tf.io.gfile.glob(f'{prefix}-*-of-00004.tfrecord')
        for _ in tf.data.TFRecordDataset(p)
    )
    assert examples == 6
    strict = build(
        f'--input_dir={zoo}',
        f'--output={prefix}',
        '--num_shards=4',
        '--flow=false',
        '--strict',
        check=False,
    )
    assert strict.returncode == 1 and 'already done' in strict.stdout


def test_nothing_succeeded_is_an_error(tmp_path):
    (tmp_path / 'in' / 'cls').mkdir(parents=True)
    (tmp_path / 'in' / 'cls' / 'a.mp4').write_bytes(b'')
    result = build(f'--input_dir={tmp_path / "in"}', f'--output={tmp_path}/out/x', check=False)
    assert result.returncode == 1 and '0 ok, 1 failed' in result.stdout


def test_bad_flags_and_settings_changes_are_refused(tmp_path, zoo):
    result = build(f'--output={tmp_path}/x', '--source=kinetics', check=False)
    assert result.returncode == 1 and 'error: --source=kinetics needs --input_dir' in result.stderr
    stray = build(f'--input_dir={zoo}', f'--output={tmp_path}/x', 'false', check=False)
    assert stray.returncode != 0 and 'Unexpected arguments' in stray.stderr
    prefix = str(tmp_path / 'o' / 'p')
    build(f'--input_dir={zoo}', f'--output={prefix}', '--num_shards=2', '--flow=false')
    changed = build(
        f'--input_dir={zoo}', f'--output={prefix}', '--num_shards=3', '--flow=false', check=False
    )
    assert changed.returncode == 1 and 'other settings (num_shards, plan_sha256)' in changed.stderr
    reseeded = build(
        f'--input_dir={zoo}',
        f'--output={prefix}',
        '--num_shards=2',
        '--flow=false',
        '--seed=1',
        check=False,
    )
    assert reseeded.returncode == 1 and 'other settings (plan_sha256, seed)' in reseeded.stderr
    config = json.loads(open(f'{prefix}-config.json').read())
    assert config['seed'] == shards.DEFAULT_SEED
    build(
        f'--input_dir={zoo}', f'--output={prefix}', '--num_shards=3', '--flow=false', '--overwrite'
    )
    names = sorted(os.listdir(tmp_path / 'o'))
    assert [n for n in names if n.endswith('.tfrecord')] == [
        f'p-0000{k}-of-00003.tfrecord' for k in range(3)
    ]


def test_a_second_run_on_the_same_output_is_refused_while_the_first_runs(tmp_path, zoo):
    prefix = str(tmp_path / 'o' / 'p')
    os.makedirs(tmp_path / 'o')
    with files.exclusive_lock(f'{prefix}.lock'):  # as a running build_shards holds it
        busy = build(f'--input_dir={zoo}', f'--output={prefix}', '--flow=false', check=False)
    assert busy.returncode == 1
    assert f'error: {prefix}.lock: held by another build_shards run on this --output' in (
        busy.stderr
    )
    assert not glob.glob(f'{prefix}-*')  # it wrote nothing
    build(f'--input_dir={zoo}', f'--output={prefix}', '--flow=false', '--num_shards=1')


def test_overwrite_never_changes_the_label_map_a_sibling_was_built_with(tmp_path, zoo):
    folder = tmp_path / 'o'
    build(f'--input_dir={zoo}', f'--output={folder}/train', '--flow=false', '--num_shards=1')
    labels = (folder / 'label_map.txt').read_text()
    other = tmp_path / 'other'
    (other / 'zebra').mkdir(parents=True)
    index_video(other / 'zebra' / 'z.avi', 25, 3)
    refused = build(
        f'--input_dir={other}',
        f'--output={folder}/test',
        '--flow=false',
        '--overwrite',
        check=False,
    )
    assert refused.returncode == 1
    assert f'used by the shards of {folder}/train; put this output in another folder' in (
        refused.stderr
    )
    assert (folder / 'label_map.txt').read_text() == labels
    again = build(
        f'--input_dir={zoo}', f'--output={folder}/train', '--flow=false', '--num_shards=1'
    )
    assert '(1 already done)' in again.stdout


class _FullDisk(tf.io.TFRecordWriter):
    """TFRecord writes failing as on a full disk."""

    def write(self, record):
        raise tf.errors.ResourceExhaustedError(None, None, 'No space left on device')


def _denied(path, *args, **kwargs):
    """os.open for a user without write permission (tests run as root, who may write anywhere)."""
    raise PermissionError(13, 'Permission denied', path)


def test_unwritable_output_is_one_line_and_leaves_no_temporaries(tmp_path, zoo):
    prefix = str(tmp_path / 'o' / 'p')
    with mock.patch.object(tf.io, 'TFRecordWriter', _FullDisk):
        full = build(
            f'--input_dir={zoo}',
            f'--output={prefix}',
            '--flow=false',
            '--num_shards=2',
            '--workers=1',
            check=False,
        )
    assert full.returncode == 1
    [line] = [x for x in full.stderr.splitlines() if x.startswith('error:')]
    assert line == (
        f'error: {prefix}: cannot write the output (No space left on device); 0 of 2 shards '
        'are complete: fix the cause and run the same command to finish the rest'
    )
    assert 'Traceback' not in full.stderr
    assert not glob.glob(f'{prefix}-*.tfrecord*') and not glob.glob(f'{prefix}*.tmp-*')
    (tmp_path / 'file').write_text('x')
    under_a_file = build(
        f'--input_dir={zoo}', f'--output={tmp_path}/file/p', '--flow=false', check=False
    )
    assert under_a_file.returncode == 1 and 'Traceback' not in under_a_file.stderr
    assert f'error: {tmp_path}/file: not a folder (the --output prefix' in under_a_file.stderr
    (tmp_path / 'ro').mkdir()
    with mock.patch.object(os, 'open', _denied):
        unwritable = build(
            f'--input_dir={zoo}', f'--output={tmp_path}/ro/p', '--flow=false', check=False
        )
    assert unwritable.returncode == 1 and 'Traceback' not in unwritable.stderr
    assert f'error: {tmp_path}/ro/p.lock: Permission denied' in unwritable.stderr


def test_shards_built_without_flow_feed_the_rgb_stream(tmp_path, zoo):
    prefix = str(tmp_path / 'o' / 'rgb_only')
    build(f'--input_dir={zoo}', f'--output={prefix}', '--flow=false', '--num_shards=1')
    [shard] = glob.glob(f'{prefix}-*.tfrecord')
    parsed = [schema.parse(s) for s in tf.data.TFRecordDataset(shard)]
    assert len(parsed) == 6 and all(p['flow'].shape[0] == 0 for p in parsed)
    inputs = clip_arrays(shard, ['rgb'], media_id='good/ok30')
    assert inputs['rgb'].shape == (13, 224, 224, 3)
    with pytest.raises(video.VideoError, match='no flow frames'):
        clip_input.clip_inputs(shard, ['flow'], media_id='good/ok30')


# -- Shard plan, kill -9 and resume ----------------------------------------------------


def test_plan_is_deterministic_balanced_and_true_to_its_name():
    items = [sources.Item(f'v{i:02d}', f'/x/{i}.avi', i % 3, str(i % 3)) for i in range(10)]
    planned = shards.plan(items, 4)
    assert [len(s) for s in planned] == [3, 3, 2, 2]
    assert shards.plan(list(reversed(items)), 4) == planned  # not the input order
    assert sorted(i.media_id for s in planned for i in s) == [i.media_id for i in items]
    assert shards.plan(items, 4, seed=0) == planned  # the default seed
    assert shards.plan(items, 4, seed=1) != planned
    moved = [dataclasses.replace(i, path='/elsewhere' + i.path) for i in items]
    assert [[i.media_id for i in s] for s in shards.plan(moved, 4)] == [
        [i.media_id for i in s] for s in planned
    ]  # the order is a function of the media ids, not of where the videos are
    assert len(shards.plan(items[:2], 64)) == 2  # never an empty shard
    assert shards.shard_path('d/train', 3, 64) == 'd/train-00003-of-00064.tfrecord'


def test_plan_deals_class_folders_in_a_random_order():
    """Folder ids (`Class/file`) sort by class; shards must not hold classes in order."""
    classes, per_class = 16, 8
    items = [
        sources.Item(f'c{c:02d}/v{v}', f'/x/c{c:02d}/v{v}.avi', c, f'c{c:02d}')
        for c in range(classes)
        for v in range(per_class)
    ]
    for seed in (0, 1, 2):
        planned = shards.plan(items, 4, seed)
        for shard in planned:  # 32 videos each: random |rho| < 0.6 has p > 0.999
            labels = [i.label_index for i in shard]
            assert abs(order_stats.rank_correlation(labels)) < 0.6, labels
            # A random batch of 6 of 16 classes has ~5.1 distinct labels, sorted ones ~1.5.
            assert order_stats.distinct_per_batch(labels, 6) > 3.2, labels


@pytest.fixture(scope='module')
def moving_videos(tmp_path_factory):
    root = tmp_path_factory.mktemp('moving')
    for n in range(6):
        (root / f'class{n % 2}').mkdir(exist_ok=True)
        _texture_video(root / f'class{n % 2}' / f'clip{n}.avi', 25, 30, step=1 + n % 3)
    return root


def test_kill_9_then_resume_redoes_only_unfinished_shards(moving_videos, tmp_path):
    prefix = str(tmp_path / 'run' / 'train')
    args = [
        f'--input_dir={moving_videos}',
        f'--output={prefix}',
        '--num_shards=6',
        '--workers=1',
        '--short_side=48',
    ]
    process = subprocess.Popen(
        [sys.executable, '-m', 'preprocess.build_shards', *args],
        cwd=REPO_DIR,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while not tf.io.gfile.glob(f'{prefix}-*.tfrecord') and time.monotonic() < deadline:
        time.sleep(0.02)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    done = sorted(tf.io.gfile.glob(f'{prefix}-*-of-00006.tfrecord'))
    assert 1 <= len(done) < 6, 'the run should have been killed mid-way'
    for path in done:  # a final name always holds a complete shard and its manifest part
        records = [json.loads(line) for line in open(path + shards.MANIFEST_SUFFIX)]
        assert sum(1 for _ in tf.data.TFRecordDataset(path)) == len(records) == 1
    before = {p: (os.stat(p).st_ino, os.stat(p).st_mtime_ns) for p in done}

    result = build(*args)
    assert f'({len(done)} already done)' in result.stdout
    for path, stamp in before.items():
        assert (os.stat(path).st_ino, os.stat(path).st_mtime_ns) == stamp  # not redone
    assert not tf.io.gfile.glob(f'{prefix}-*.tmp-*')
    records = manifest(prefix)
    assert sorted(records) == sorted(f'class{n % 2}/clip{n}' for n in range(6))
    assert all(r['status'] == 'ok' and r['flow_frames'] == 29 for r in records.values())
    # The resumed output is exactly what an uninterrupted run writes.
    clean = str(tmp_path / 'clean' / 'train')
    build(*[a.replace(prefix, clean) for a in args])
    for k in range(6):
        assert digest(shards.shard_path(prefix, k, 6)) == digest(shards.shard_path(clean, k, 6))


# -- Beam --------------------------------------------------------------------------------


def test_beam_direct_runner_writes_the_same_shards_as_the_pool(moving_videos, tmp_path):
    subset = tmp_path / 'three'
    for n in range(3):
        (subset / f'class{n % 2}').mkdir(parents=True, exist_ok=True)
        os.symlink(
            moving_videos / f'class{n % 2}' / f'clip{n}.avi',
            subset / f'class{n % 2}' / f'clip{n}.avi',
        )
    outputs = {}
    for runner in ('pool', 'DirectRunner'):
        prefix = str(tmp_path / runner / 'train')
        build(
            f'--input_dir={subset}',
            f'--output={prefix}',
            '--num_shards=2',
            '--short_side=48',
            f'--runner={runner}',
        )
        outputs[runner] = prefix
        records = manifest(prefix)
        assert len(records) == 3 and all(r['status'] == 'ok' for r in records.values())
    for k in range(2):
        pool, beam = (shards.shard_path(outputs[r], k, 2) for r in ('pool', 'DirectRunner'))
        assert digest(pool) == digest(beam)


def test_shards_are_the_same_bytes_with_one_or_two_flow_threads(tmp_path):
    """--workers=2 on one video: one worker spreads its pairs over 2 threads."""
    src = tmp_path / 'in' / 'walk'
    src.mkdir(parents=True)
    _texture_video(src / 'w.avi', 25, 8)
    digests = []
    for workers in (1, 2):
        prefix = str(tmp_path / f'workers{workers}' / 'train')
        build(
            f'--input_dir={tmp_path / "in"}',
            f'--output={prefix}',
            '--num_shards=1',
            '--short_side=48',
            f'--workers={workers}',
        )
        assert manifest(prefix)['walk/w']['flow_frames'] == 7
        digests.append(digest(shards.shard_path(prefix, 0, 1)))
    assert digests[0] == digests[1]


# -- The schema, read with plain tf.data and only the documented keys ---------------------


def test_shards_parse_with_plain_tf_data_and_hold_the_paper_preprocessing(tmp_path):
    src = tmp_path / 'in' / 'walk'
    src.mkdir(parents=True)
    path = _texture_video(src / 'w.avi', 30, 24, step=3)
    prefix = str(tmp_path / 'out' / 'train')
    build(
        f'--input_dir={tmp_path / "in"}', f'--output={prefix}', '--num_shards=1', '--short_side=64'
    )
    context = {
        'clip/media_id': tf.io.FixedLenFeature((), tf.string),
        'clip/label/index': tf.io.VarLenFeature(tf.int64),
        'clip/label/string': tf.io.VarLenFeature(tf.string),
        'image/frame_rate': tf.io.FixedLenFeature((), tf.float32),
        'image/format': tf.io.FixedLenFeature((), tf.string),
        'FORWARD_FLOW/image/format': tf.io.FixedLenFeature((), tf.string),
        'clip/frame_count': tf.io.FixedLenFeature((), tf.int64),
    }
    sequence = {
        'image/encoded': tf.io.FixedLenSequenceFeature((), tf.string),
        'image/timestamp': tf.io.FixedLenSequenceFeature((), tf.int64),
        'FORWARD_FLOW/image/encoded': tf.io.FixedLenSequenceFeature((), tf.string),
    }

    def parse(serialized):
        ctx, seq = tf.io.parse_single_sequence_example(serialized, context, sequence)
        rgb = tf.map_fn(
            lambda b: tf.io.decode_jpeg(b, dct_method='INTEGER_ACCURATE'),
            seq['image/encoded'],
            fn_output_signature=tf.uint8,
        )
        flow = tf.map_fn(
            tf.io.decode_jpeg, seq['FORWARD_FLOW/image/encoded'], fn_output_signature=tf.uint8
        )
        # MediaPipe's reader: (x / 255 - 0.5) * 2 * 20, with x in [0, 1] after /255.
        flow = (tf.cast(flow[..., :2], tf.float32) / 255.0 - 0.5) * 2 * 20
        return ctx, seq['image/timestamp'], rgb, flow

    dataset = tf.data.TFRecordDataset(tf.io.gfile.glob(f'{prefix}-*.tfrecord')).map(parse)
    [(ctx, times, rgb, flow)] = list(dataset)
    assert ctx['clip/media_id'].numpy() == b'walk/w'
    assert tf.sparse.to_dense(ctx['clip/label/index']).numpy().tolist() == [0]
    assert tf.sparse.to_dense(ctx['clip/label/string']).numpy().tolist() == [b'walk']
    assert ctx['image/frame_rate'] == 25.0 and ctx['clip/frame_count'] == 20
    assert ctx['image/format'] == b'JPEG' and ctx['FORWARD_FLOW/image/format'] == b'PNG'
    assert times.numpy().tolist() == [40_000 * i for i in range(20)]
    expected = video.read_video(path, short_side=64)
    assert rgb.shape == expected.shape == (20, 64, 85, 3)
    # JPEG quality 100 with 4:2:0 chroma, as Google stores frames: ~1% of the range.
    assert np.abs(rgb.numpy().astype(int) - expected).mean() < 3.0
    # Flow: TV-L1 on those frames, quantized losslessly (PNG) to 40/255 px steps.
    direct = flow_lib.tvl1_flow(expected)
    assert flow.shape == (19, 64, 85, 2)
    np.testing.assert_allclose(
        flow.numpy(), flow_lib.dequantize(flow_lib.quantize(direct)), atol=1e-4
    )
    assert np.abs(flow.numpy() - np.clip(direct, -20, 20)).max() <= 20 / 255 + 1e-4
    # The shared reader gives the same.
    shard = tf.data.TFRecordDataset(f'{prefix}-00000-of-00001.tfrecord')
    for parsed in (schema.parse(next(iter(shard))), next(iter(shard.map(schema.parse)))):
        np.testing.assert_array_equal(parsed['rgb'], rgb)  # eagerly and inside tf.data
        np.testing.assert_allclose(parsed['flow'], flow, atol=1e-4)
        assert int(parsed['label']) == 0 and parsed['media_id'] == b'walk/w'


# -- evaluate_sample: raw video vs its shard ------------------------------------------------


@pytest.mark.parametrize('rgb_format', ['png', 'jpeg'])
def test_evaluate_sample_on_raw_video_and_on_its_shard_agree(tmp_path, rgb_weights, rgb_format):
    src = tmp_path / 'in' / 'walk'
    src.mkdir(parents=True)
    path = _texture_video(src / 'w.avi', 25, 8, size=(96, 64), step=2)
    prefix = str(tmp_path / 'out' / 'test')
    build(
        f'--input_dir={tmp_path / "in"}',
        f'--output={prefix}',
        '--num_shards=1',
        f'--rgb_format={rgb_format}',
    )
    shard_path = f'{prefix}-00000-of-00001.tfrecord'
    evaluate = functools.partial(_evaluate_logits, checkpoint=rgb_weights)
    raw, shard = evaluate(path), evaluate(shard_path, '--media_id=walk/w')
    if rgb_format == 'png':  # lossless: the very same logits
        np.testing.assert_allclose(shard, raw, atol=1e-4)
    else:  # JPEG quality 100: same top class and top 5, logits within 3% of their range
        assert np.argmax(shard) == np.argmax(raw)
        assert set(np.argsort(shard)[-5:]) == set(np.argsort(raw)[-5:])
        assert np.abs(shard - raw).max() < 0.03 * (raw.max() - raw.min())
    # Flow: the shard holds it quantized to 40/255 px, i.e. within half a level.
    inputs = {p: clip_arrays(p, ['flow'], max_frames=250) for p in (path, shard_path)}
    raw_flow, shard_flow = inputs[path]['flow'], inputs[shard_path]['flow']
    assert raw_flow.shape == shard_flow.shape == (7, 224, 224, 2)
    assert np.abs(raw_flow - shard_flow).max() <= 1 / 255 + 1e-5
    flow_model = i3d.InceptionI3d()  # random weights: the flow stream's arithmetic
    flow_logits = [
        flow_model(tf.constant(f[None]), is_training=False)[0][0].numpy()
        for f in (raw_flow, shard_flow)
    ]
    scale = np.abs(flow_logits[0]).max()
    np.testing.assert_allclose(flow_logits[1], flow_logits[0], atol=0.01 * scale)
    with pytest.raises(video.VideoError, match="no video with media id 'nope'"):
        clip_input.clip_inputs(shard_path, ['rgb'], media_id='nope')


def _evaluate_logits(video_path, *args, checkpoint):
    """All 400 logits printed by evaluate_sample.py (run in this process), in class-index order."""
    result = cli.check(
        'evaluate_sample',
        f'--video={video_path}',
        '--top_k=400',
        f'--checkpoint={checkpoint}',
        *args,
    )
    labels = label_map.read(os.path.join(REPO_DIR, 'data', 'label_map.txt'))
    logits = {
        row.split(' ', 2)[2]: float(row.split(' ')[1]) for row in result.stdout.splitlines()[3:]
    }
    return np.array([logits[name] for name in labels])
