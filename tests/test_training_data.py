"""training.data and training.streams: windows, crops, flips, determinism, bad shards."""

import numpy as np
import pytest
import tensorflow as tf

from preprocess import flow as flow_lib
from preprocess import schema
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
    assert str(error.value) == f"{typo}: no files match '{tmp_path}/c-*'"
    with pytest.raises(ValueError, match='an empty part'):
        data.list_files(f'{tmp_path}/a-*,')
    with pytest.raises(ValueError, match=f'{tmp_path}: a folder, not a shard'):
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
    shard = _shard(tmp_path / 's-00000-of-00001.tfrecord', [_example(), _example()])
    assert data.videos_in([shard]) is None  # no manifest part: unknown, not read
    with open(shard + '.manifest.jsonl', 'w') as f:
        f.write('{"status": "ok"}\n{"status": "failed"}\n{"status": "ok"}\n')
    assert data.videos_in([shard]) == 2
