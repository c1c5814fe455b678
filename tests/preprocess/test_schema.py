"""preprocess.schema in process: make_example -> serialize -> parse, eagerly and in tf.data."""

import numpy as np
import pytest
import tensorflow as tf

from preprocess import flow, schema

META = {'media_id': 'cls/v1', 'path': '/videos/cls/v1.avi', 'label_index': 4, 'label_string': 'cls'}


def _example(frames=3, with_flow=True, rgb_format='PNG', label=4):
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (frames, 6, 10, 3), dtype=np.uint8)
    fields = rng.uniform(-25, 25, (frames - 1, 6, 10, 2)).astype(np.float32)
    meta = dict(META, label_index=label, start=1.5, source_fps=29.97)
    images = [schema.encode_rgb(f, rgb_format) for f in rgb]
    flows = [schema.encode_flow(f) for f in fields] if with_flow else []
    example = schema.make_example(meta, images, flows, (6, 10), 25.0, rgb_format)
    return example.SerializeToString(deterministic=True), rgb, fields


@pytest.mark.parametrize('in_tf_data', [False, True])
def test_round_trip_png_rgb_is_exact_and_flow_within_half_a_level(in_tf_data):
    serialized, rgb, fields = _example()
    if in_tf_data:
        [parsed] = list(tf.data.Dataset.from_tensors(serialized).map(schema.parse))
    else:
        parsed = schema.parse(tf.constant(serialized))
    assert parsed['media_id'].numpy() == b'cls/v1'
    assert int(parsed['label']) == 4 and parsed['label_string'].numpy() == b'cls'
    assert float(parsed['fps']) == 25.0
    np.testing.assert_array_equal(parsed['rgb'].numpy(), rgb)
    expected = np.clip(fields, -flow.FLOW_BOUND, flow.FLOW_BOUND)
    assert parsed['flow'].shape == (2, 6, 10, 2)
    np.testing.assert_allclose(parsed['flow'].numpy(), expected, atol=20 / 255 + 1e-5)


@pytest.mark.parametrize('frames, with_flow', [(3, False), (1, True)])
def test_examples_without_flow_parse_with_empty_flow(frames, with_flow):
    """--flow=false shards, and 1-frame videos (no frame pair) in flow shards."""
    serialized, rgb, _ = _example(frames, with_flow)
    for parsed in (
        schema.parse(tf.constant(serialized)),
        next(iter(tf.data.Dataset.from_tensors(serialized).map(schema.parse))),
    ):
        np.testing.assert_array_equal(parsed['rgb'].numpy(), rgb)
        assert parsed['flow'].shape == (0, 6, 10, 2)


def test_parse_encoded_decodes_only_what_is_asked():
    serialized, rgb, _ = _example(frames=5)
    encoded = schema.parse_encoded(tf.constant(serialized))
    assert encoded['rgb_encoded'].shape == (5,) and encoded['flow_encoded'].shape == (4,)
    np.testing.assert_array_equal(schema.decode_rgb(encoded['rgb_encoded'][1:3]), rgb[1:3])
    assert schema.decode_flow(encoded['flow_encoded'][:0], (6, 10)).shape == (0, 6, 10, 2)


def test_context_keys_are_mediapipes():
    serialized, _, _ = _example()
    example = tf.train.SequenceExample.FromString(serialized)
    context = example.context.feature
    assert context['clip/media_id'].bytes_list.value == [b'cls/v1']
    assert context['clip/data_path'].bytes_list.value == [b'/videos/cls/v1.avi']
    assert context['clip/label/index'].int64_list.value == [4]
    assert context['clip/start/timestamp'].int64_list.value == [1_500_000]
    assert context['clip/end/timestamp'].int64_list.value == [1_500_000 + 120_000]
    assert context['image/format'].bytes_list.value == [b'PNG']
    assert context['FORWARD_FLOW/image/format'].bytes_list.value == [b'PNG']
    lists = example.feature_lists.feature_list
    assert [f.int64_list.value[0] for f in lists['image/timestamp'].feature] == [
        1_500_000,
        1_540_000,
        1_580_000,
    ]
    assert len(lists['FORWARD_FLOW/image/encoded'].feature) == 2
    assert schema.media_id(tf.constant(serialized)) == 'cls/v1'


def test_an_example_from_another_writer_with_only_the_frames_parses():
    """MediaPipe-style examples may lack our context keys (unlabelled test clips)."""
    rgb = np.full((2, 4, 4, 3), 7, np.uint8)
    example = tf.train.SequenceExample()
    frames = example.feature_lists.feature_list[schema.IMAGE_ENCODED].feature
    for frame in rgb:
        frames.add().bytes_list.value.append(schema.encode_rgb(frame, 'PNG'))
    parsed = schema.parse(tf.constant(example.SerializeToString()))
    assert int(parsed['label']) == -1 and parsed['media_id'].numpy() == b''
    np.testing.assert_array_equal(parsed['rgb'].numpy(), rgb)
