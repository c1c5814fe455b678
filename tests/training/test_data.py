"""training.data and training.streams: windows, crops, flips, determinism, bad shards."""

import json
import os

import numpy as np
import order_stats
import pytest
import tensorflow as tf
from sequence_examples import example as _example
from sequence_examples import shard as _shard

from preprocess import flow as flow_lib
from preprocess import schema, shards, sources, streams
from training import data


def test_flow_flip_negates_x_and_mirrors():
    clip = tf.random.uniform((2, 3, 4, 2), -1, 1)
    flipped = streams.FLOW.flip(clip).numpy()
    np.testing.assert_array_equal(flipped[..., 0], -clip.numpy()[:, :, ::-1, 0])
    np.testing.assert_array_equal(flipped[..., 1], clip.numpy()[:, :, ::-1, 1])
    rgb = tf.random.uniform((2, 3, 4, 3))
    np.testing.assert_array_equal(streams.RGB.flip(rgb).numpy(), rgb.numpy()[:, :, ::-1])


def test_scaling():
    np.testing.assert_allclose(streams.RGB.to_model_input(tf.constant([0, 255], tf.uint8)), [-1, 1])
    np.testing.assert_allclose(streams.FLOW.to_model_input(tf.constant([-25.0, 10.0])), [-1, 0.5])


def test_window_loops_short_videos_and_stays_inside_long_ones():
    short = data._window_indices(3, 8, tf.constant([1, 2], tf.int64)).numpy()
    assert list(short) == [0, 1, 2, 0, 1, 2, 0, 1]
    for i in range(20):
        window = data._window_indices(10, 4, tf.constant([i, 7], tf.int64)).numpy()
        assert window[0] <= 6 and list(window) == list(range(window[0], window[0] + 4))


def test_train_clip_flow_flip_is_consistent_and_seeded():
    example = schema.parse_encoded(tf.constant(_example(frames=6)))
    signs = set()
    for i in range(12):
        seed = tf.constant([3, i], tf.int64)
        clip = data.train_clip(example, streams.FLOW, 4, 32, seed).numpy()
        assert clip.shape == (4, 32, 32, 2)
        x = np.unique(np.round(clip[..., 0], 2))
        assert len(x) == 1  # one flip decision for the whole clip
        signs.add(float(np.sign(x[0])))
        np.testing.assert_allclose(
            clip[..., 1], flow_lib.dequantize(flow_lib.quantize(np.float32(-2.0))) / 20, atol=1e-6
        )
        again = data.train_clip(example, streams.FLOW, 4, 32, seed).numpy()
        np.testing.assert_array_equal(clip, again)
    assert signs == {-1.0, 1.0}  # x = +4 px, negated when flipped


@pytest.mark.slow
def test_train_dataset_is_a_function_of_seed_and_step(tmp_path):
    shard = _shard(tmp_path / 'a.tfrecord', [_example(frames=f, label=f % 3) for f in range(3, 9)])

    def make(start):
        return data.train_dataset([shard], streams.RGB, 4, 32, 2, seed=5, start_step=start)

    full = [(c.numpy(), y.numpy()) for c, y in make(0).take(5)]
    resumed = [(c.numpy(), y.numpy()) for c, y in make(3).take(2)]
    for (c1, l1), (c2, l2) in zip(full[3:], resumed, strict=True):
        np.testing.assert_array_equal(c1, c2)
        np.testing.assert_array_equal(l1, l2)
    # Two workers each decode half of every global batch; together they equal one worker.
    halves = [
        [
            c.numpy()
            for c, _ in data.train_dataset([shard], streams.RGB, 4, 32, 2, 5, 0, w, 2).take(3)
        ]
        for w in range(2)
    ]
    for step in range(3):
        np.testing.assert_array_equal(
            np.concatenate([halves[0][step], halves[1][step]]), full[step][0]
        )


def test_eval_views(tmp_path):
    frames = tf.reshape(tf.range(2 * 4 * 8 * 1, dtype=tf.float32), (2, 4, 8, 1))
    assert data.eval_views(frames, 4).shape == (1, 2, 4, 4, 1)
    views = data.eval_views(frames, 4, test_crops=3, test_flip=True, stream=streams.RGB).numpy()
    assert views.shape == (6, 2, 4, 4, 1)
    np.testing.assert_array_equal(views[0], frames.numpy()[:, :, 0:4])  # left
    np.testing.assert_array_equal(views[1], frames.numpy()[:, :, 2:6])  # centre
    np.testing.assert_array_equal(views[2], frames.numpy()[:, :, 4:8])  # right
    np.testing.assert_array_equal(views[3], views[0][:, :, ::-1])
    shard = _shard(tmp_path / 'e.tfrecord', [_example(frames=7)])
    item = next(iter(data.eval_dataset([shard], streams.RGB, 32, max_frames=5)))
    assert item['views'].shape == (1, 5, 32, 32, 3) and int(item['label']) == 1


def test_check_shards_errors(tmp_path):
    with pytest.raises(ValueError, match='no files match'):
        data.list_files(str(tmp_path / 'none-*.tfrecord'))
    junk = tmp_path / 'junk.tfrecord'
    junk.write_bytes(b'not a tfrecord at all, just some bytes')
    with pytest.raises(ValueError, match='not a TFRecord file'):
        data.check_shards([str(junk)], streams.RGB, 32)
    rgb_only = _shard(tmp_path / 'rgb.tfrecord', [_example(flow=False)])
    assert data.check_shards([rgb_only], streams.RGB, 32)['frames'] == 5
    with pytest.raises(ValueError, match=r'holds no flow frames \(built with --flow=false\?\)'):
        data.check_shards([rgb_only], streams.FLOW, 32)
    with pytest.raises(ValueError, match='smaller than --crop_size=64'):
        data.check_shards([rgb_only], streams.RGB, 64)


# Bad data after the first example: checked up front from the manifests, skipped (with a
# warning naming shard and video) by the pipeline when there is no manifest.


def _set(tmp_path, name='s', manifest=True):
    """Two shards: the second holds a 1-frame video and a video smaller than a 32 crop."""
    from motion_videos import write_shard

    first = write_shard(tmp_path / f'{name}-0.tfrecord', [('a', 0, 6, (40, 48))], manifest)
    videos = [('one_frame', 1, 1, (40, 48)), ('small', 2, 6, (24, 40)), ('b', 1, 6, (40, 48))]
    second = write_shard(tmp_path / f'{name}-1.tfrecord', videos, manifest, seed=1)
    return [first, second]


def test_check_shards_lists_later_unusable_videos_from_the_manifests(tmp_path):
    files = _set(tmp_path)
    lines = []
    found = data.check_shards(files, streams.FLOW, 32, lines.append)
    assert [(m, r) for _, m, r in found['skipped']] == [
        ('one_frame', 'has 1 frame, so no flow (flow needs 2 frames)'),
        ('small', 'frames smaller than the crop'),
    ]
    assert lines[0] == f'warning: {files[1]}: one_frame: skipped: has 1 frame, so no flow ' + (
        '(flow needs 2 frames)'
    )
    rgb = data.check_shards(files, streams.RGB, 32, lines.append)
    assert [m for _, m, _ in rgb['skipped']] == ['small']  # one RGB frame is a clip


def test_check_shards_refuses_truncated_shards_and_labels_beyond_the_classes(tmp_path):
    files = _set(tmp_path)
    data.check_labels(files, 3)
    with pytest.raises(ValueError, match=r'-1\.tfrecord: small has label 2, outside the 2 classes'):
        data.check_labels(files, 2)
    with open(files[1], 'r+b') as f:
        f.truncate(os.path.getsize(files[1]) - 100)
    with pytest.raises(ValueError, match=r'-1\.tfrecord: \d+ bytes where its manifest .* says'):
        data.check_shards(files, streams.RGB, 32, print)


def test_check_shards_refuses_a_later_shard_without_flow(tmp_path):
    from motion_videos import write_rgb_only_shard

    files = _set(tmp_path)
    rgb_only = write_rgb_only_shard(tmp_path / 's-2.tfrecord')
    with pytest.raises(ValueError, match=r's-2\.tfrecord: holds no flow frames \(built with'):
        data.check_shards([*files, rgb_only], streams.FLOW, 32, print)


def _media_ids(dataset, count):
    return [m.decode() for m in dataset.take(count).as_numpy_iterator()]


@pytest.mark.parametrize('stream', [streams.RGB, streams.FLOW])
def test_pipelines_skip_unusable_videos_with_a_warning_and_never_fail(tmp_path, capfd, stream):
    files = _set(tmp_path, manifest=False)  # nothing checked up front: the pipeline must cope
    train = data.train_dataset(files, stream, 8, 32, 2, seed=1, num_classes=3)
    labels = [b[1].numpy().tolist() for b in train.take(6)]
    assert all(set(batch) <= {0, 1} for batch in labels)  # never 'small' (2); flow: no 1-frame
    evaluated = data.eval_dataset(files, stream, 32)
    ids = [e['media_id'].numpy().decode() for e in evaluated]
    expected = ['a', 'b'] if stream is streams.FLOW else ['a', 'one_frame', 'b']
    assert ids == expected
    err = capfd.readouterr().err
    assert f'warning: {files[1]}: small: skipped: frames smaller than the crop' in err
    if stream is streams.FLOW:
        assert f'{files[1]}: one_frame: skipped: has 1 frame, so no flow' in err


def test_train_labels_outside_the_classes_are_skipped(tmp_path, capfd):
    from motion_videos import write_shard

    path = write_shard(tmp_path / 'x.tfrecord', [('ok', 0, 4, (40, 40)), ('bad', 5, 4, (40, 40))])
    batches = data.train_dataset([path], streams.RGB, 4, 32, 2, seed=0, num_classes=3).take(3)
    assert all(b[1].numpy().tolist() == [0, 0] for b in batches)
    assert 'bad: skipped: label outside the classes of the run' in capfd.readouterr().err


def test_list_files_refuses_folders_and_parts_that_match_nothing(tmp_path):
    (tmp_path / 'a.tfrecord').write_bytes(b'')
    with pytest.raises(ValueError, match=r'a folder, not shard files \(did you mean'):
        data.list_files(str(tmp_path))
    with pytest.raises(ValueError, match=r'typo-\*: no files match \(part of'):
        data.list_files(f'{tmp_path}/*.tfrecord,{tmp_path}/typo-*')
    assert data.list_files(f'{tmp_path}/*.tfrecord, {tmp_path}/a.tfrecord') == [
        str(tmp_path / 'a.tfrecord')
    ]
    with pytest.raises(ValueError, match='an empty part'):
        data.list_files(f'{tmp_path}/a.tfrecord,')


def test_label_maps_must_agree_and_be_beside_every_part_or_none(tmp_path):
    from common import label_map

    for name, classes in (('a', ['x', 'y']), ('b', ['x', 'z']), ('c', ['x', 'y']), ('d', None)):
        (tmp_path / name).mkdir()
        if classes:
            label_map.write(str(tmp_path / name / 'label_map.txt'), classes)
    part = lambda n: str(tmp_path / n / '*.tfrecord')  # noqa: E731
    assert data.shard_label_map(f'{part("a")},{part("c")}')[0] == ['x', 'y']
    with pytest.raises(ValueError, match=r"b/label_map.txt: other classes .*class 1 is 'z'"):
        data.shard_label_map(f'{part("a")},{part("b")}')
    with pytest.raises(ValueError, match=r'd/\*.tfrecord: no label_map.txt beside these shards'):
        data.shard_label_map(f'{part("a")},{part("d")}')
    assert data.shard_label_map(part('d')) == (None, None)


def test_a_one_frame_video_is_not_mistaken_for_shards_built_without_flow(tmp_path):
    one_frame = _shard(tmp_path / 'one.tfrecord', [_example(frames=1)])
    with pytest.raises(ValueError) as error:
        data.check_shards([one_frame], streams.FLOW, 32)
    assert str(error.value) == (
        f'{one_frame}: its first video (v1) has 1 frame, so no flow field (flow needs 2 frames)'
    )
    assert data.check_shards([one_frame], streams.RGB, 32)['frames'] == 1


def test_every_part_of_a_comma_separated_pattern_must_match(tmp_path):
    a = _shard(tmp_path / 'a-0.tfrecord', [_example()])
    b = _shard(tmp_path / 'b-0.tfrecord', [_example()])
    assert data.list_files(f'{tmp_path}/a-*,{tmp_path}/b-*') == [a, b]
    typo = f'{tmp_path}/a-*,{tmp_path}/c-*'
    with pytest.raises(ValueError) as error:
        data.list_files(typo)
    assert str(error.value) == f'{tmp_path}/c-*: no files match (part of {typo!r})'
    with pytest.raises(ValueError, match='an empty part'):
        data.list_files(f'{tmp_path}/a-*,')
    with pytest.raises(ValueError, match=f'{tmp_path}: a folder, not shard files'):
        data.list_files(str(tmp_path))


def _labelled(folder, names):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / 'label_map.txt').write_text(''.join(f'{n}\n' for n in names))
    return str(folder / '*.tfrecord')


def test_shard_label_map_compares_every_part_the_given_map_and_the_classes(tmp_path):
    a = _labelled(tmp_path / 'a', ['jump', 'run', 'swim'])
    same = _labelled(tmp_path / 'same', ['jump', 'run', 'swim'])
    other = _labelled(tmp_path / 'other', ['jump', 'walk', 'swim'])
    assert data.shard_label_map(f'{a},{same}', 3) == (
        ['jump', 'run', 'swim'],
        str(tmp_path / 'a' / 'label_map.txt'),
    )
    with pytest.raises(ValueError) as error:
        data.shard_label_map(f'{a},{other}')
    assert str(error.value) == (
        f'{tmp_path}/other/label_map.txt: other classes than {tmp_path}/a/label_map.txt '
        "(class 1 is 'walk', not 'run')"
    )
    with pytest.raises(ValueError, match=r'a/label_map.txt: 3 classes, but ckpt/model has 400'):
        data.shard_label_map(a, 400, classes_of='ckpt/model')
    given = tmp_path / 'given.txt'
    given.write_text('jump\nrun\n')
    with pytest.raises(ValueError, match=r'a/label_map.txt: other classes than .*given.txt \(3 '):
        data.shard_label_map(a, label_map=str(given))
    assert data.shard_label_map(str(tmp_path / 'none' / '*'), 3) == (None, None)
    assert data.shard_label_map(str(tmp_path / 'none' / '*'), 2, str(given))[0] == ['jump', 'run']


def test_videos_in_counts_from_the_manifest_parts(tmp_path):
    from motion_videos import write_shard

    shard = write_shard(tmp_path / 's.tfrecord', [('a', 0, 2, (8, 8)), ('b', 1, 2, (8, 8))], False)
    assert data.videos_in([shard]) is None  # no manifest part: unknown, not read
    write_shard(tmp_path / 's.tfrecord', [('a', 0, 2, (8, 8)), ('b', 1, 2, (8, 8))])
    with open(shard + '.manifest.jsonl', 'a') as f:
        f.write('{"status": "failed", "media_id": "c"}\n')  # not in the shard
    assert data.videos_in([shard]) == 2


def _tiny(label):
    return _example(frames=2, height=8, width=8, flow=False, label=label)


def test_first_training_batches_of_a_class_folder_set_are_not_sorted(tmp_path):
    """build_shards' plan for `Class/file` ids, then the reader: an epoch in random order."""
    classes, per_class, batch = 16, 8, 4
    items = [
        sources.Item(f'c{c:02d}/v{v}', '', c, f'c{c:02d}')
        for c in range(classes)
        for v in range(per_class)
    ]
    paths = [
        _shard(tmp_path / f'train-{k:05d}-of-00004.tfrecord', [_tiny(i.label_index) for i in s])
        for k, s in enumerate(shards.plan(items, 4))
    ]
    steps = len(items) // batch
    epoch = np.concatenate(
        [y.numpy() for _, y in data.train_dataset(paths, streams.RGB, 2, 8, batch, 7).take(steps)]
    )
    assert sorted(epoch) != list(epoch)
    # 128 labels: |rho| of a random order is < 0.35 (4 standard deviations).
    assert abs(order_stats.rank_correlation(epoch)) < 0.35
    # A random batch of 4 of 16 classes holds ~3.6 distinct labels.
    assert order_stats.distinct_per_batch(epoch[: 8 * batch], batch) > 3


def test_reader_mixes_every_shard_from_the_first_round(tmp_path):
    """40 one-class shards (any layout a user may bring): every shard is read at once."""
    paths = [_shard(tmp_path / f's{k:02d}.tfrecord', [_tiny(k)] * 4) for k in range(40)]
    assert data.shuffle_buffer_size(paths) == 40 and data.shuffle_buffer_size(paths[:3]) == 32
    assert data.shuffle_buffer_size(paths, 5) == 5
    first = np.concatenate(
        [y.numpy() for _, y in data.train_dataset(paths, streams.RGB, 2, 8, 4, 3).take(10)]
    )
    # From two rounds of the 40 shards, 40 draws hold ~30 classes; 16 shards at a time
    # with a 32-record buffer give at most 24.
    assert len(set(first)) > 23, sorted(first)


def test_shards_dealt_in_class_order_are_refused_for_training(tmp_path):
    prefix = tmp_path / 'train'
    path = _shard(f'{prefix}-00000-of-00001.tfrecord', [_tiny(0), _tiny(1)])
    config = {'num_shards': 1, 'plan_sha256': 'ab', 'videos': 2}
    (tmp_path / 'train-config.json').write_text(json.dumps(config))
    with pytest.raises(ValueError, match=r'train-config.json: these shards were dealt in class'):
        data.train_dataset([path], streams.RGB, 2, 8, 2, 1)
    (tmp_path / 'train-config.json').write_text(json.dumps(config | {'seed': 0}))
    assert data.train_dataset([path], streams.RGB, 2, 8, 2, 1) is not None


@pytest.mark.slow
def test_frame_caps_count_video_frames_for_both_streams_as_evaluate_sample_does(tmp_path):
    """evaluate.py --max_frames=N once gave flow N fields, evaluate_sample N - 1."""
    from preprocess import clip_input

    shard = _shard(tmp_path / 'e.tfrecord', [_example(frames=7)])  # 7 frames, 6 fields
    for cap in (2, 3, 6, 7, 9):
        inputs, _ = clip_input.clip_inputs(shard, ['rgb', 'flow'], max_frames=cap)
        for stream in (streams.RGB, streams.FLOW):
            views = next(iter(data.eval_dataset([shard], stream, 32, max_frames=cap)))['views']
            expected = min(cap, 7) if stream is streams.RGB else min(cap - 1, 6)
            assert views.shape[1] == inputs[stream.name][0] == expected, (cap, stream.name)
    with pytest.raises(ValueError, match=r'--max_frames=1: the flow stream needs at least 2'):
        data.eval_dataset([shard], streams.FLOW, 32, max_frames=1)
    assert data.eval_frame_cap(streams.RGB, 1) == 1
    assert streams.RGB.frames_in(5) == 5 and streams.FLOW.frames_in(5) == 4
