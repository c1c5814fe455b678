"""training.data and training.streams: windows, crops, flips, determinism, bad shards."""

import json

import numpy as np
import order_stats
import pytest
import tensorflow as tf

from preprocess import flow as flow_lib
from preprocess import schema, shards, sources
from training import data, streams


def _example(frames=5, height=40, width=48, flow=True, label=1):
    """A serialized SequenceExample whose RGB frame t is filled with the value 10 * t."""
    rgb = [
        schema.encode_rgb(np.full((height, width, 3), 10 * t, np.uint8), 'PNG')
        for t in range(frames)
    ]
    field = np.zeros((height, width, 2), np.float32)
    field[..., 0], field[..., 1] = 4.0, -2.0  # x right 4 px, y up 2 px
    flows = [schema.encode_flow(field) for _ in range(frames - 1)] if flow else []
    meta = {'media_id': f'v{frames}', 'path': 'p', 'label_index': label, 'label_string': 'c'}
    example = schema.make_example(meta, rgb, flows, (height, width), 25.0, 'PNG')
    return example.SerializeToString()


def _shard(path, examples):
    with tf.io.TFRecordWriter(str(path)) as writer:
        for e in examples:
            writer.write(e)
    return str(path)


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


def test_frame_caps_count_video_frames_for_both_streams_as_evaluate_sample_does(tmp_path):
    """evaluate.py --max_frames=N once gave flow N fields, evaluate_sample N - 1."""
    from inference import streams as clip_streams

    shard = _shard(tmp_path / 'e.tfrecord', [_example(frames=7)])  # 7 frames, 6 fields
    for cap in (2, 3, 6, 7, 9):
        inputs, _ = clip_streams.clip_inputs(shard, ['rgb', 'flow'], max_frames=cap)
        for stream in (streams.RGB, streams.FLOW):
            views = next(iter(data.eval_dataset([shard], stream, 32, max_frames=cap)))['views']
            expected = min(cap, 7) if stream is streams.RGB else min(cap - 1, 6)
            assert views.shape[1] == inputs[stream.name][0] == expected, (cap, stream.name)
    with pytest.raises(ValueError, match=r'--max_frames=1: the flow stream needs at least 2'):
        data.eval_dataset([shard], streams.FLOW, 32, max_frames=1)
    assert data.eval_frame_cap(streams.RGB, 1) == 1
    assert flow_lib.stream_frames('rgb', 5) == 5 and flow_lib.stream_frames('flow', 5) == 4
