"""preprocess.streams: one record per stream, asked by every stage instead of its name."""

import numpy as np
import pytest
import tensorflow as tf

from preprocess import flow as flow_lib
from preprocess import schema, streams


def test_frame_lag_is_the_one_rule_of_frame_counts():
    assert [streams.RGB.frames_in(n) for n in (0, 1, 5)] == [0, 1, 5]
    assert [streams.FLOW.frames_in(n) for n in (0, 1, 5)] == [0, 0, 4]


def test_numpy_and_tf_scaling_give_the_same_network_input():
    pixels = np.arange(256, dtype=np.uint8).reshape(1, 4, 64, 1).repeat(3, axis=-1)
    rgb = streams.RGB.model_input(pixels)
    assert rgb.dtype == np.float32 and rgb.min() == -1 and rgb.max() == 1
    np.testing.assert_array_equal(streams.RGB.to_model_input(tf.constant(pixels)).numpy(), rgb)
    field = np.linspace(-30, 30, 2 * 5 * 5 * 2, dtype=np.float32).reshape(2, 5, 5, 2)
    flow = streams.FLOW.model_input(field)
    assert flow.dtype == np.float32 and flow.min() == -1 and flow.max() == 1
    np.testing.assert_allclose(streams.FLOW.to_model_input(tf.constant(field)).numpy(), flow)


def test_decode_reads_what_the_shard_writer_stores():
    frame = np.random.default_rng(0).integers(0, 255, (6, 8, 3), np.uint8)
    encoded = tf.constant([schema.encode_rgb(frame, 'PNG')])
    np.testing.assert_array_equal(streams.RGB.decode(encoded).numpy()[0], frame)
    assert streams.RGB.decode(encoded).dtype == streams.RGB.pixel_dtype
    field = np.full((6, 8, 2), 3.0, np.float32)
    flow = streams.FLOW.decode(tf.constant([schema.encode_flow(field)])).numpy()
    assert flow.shape == (1, 6, 8, 2) and flow.dtype == streams.FLOW.pixel_dtype
    np.testing.assert_allclose(flow, flow_lib.dequantize(flow_lib.quantize(field))[None])
    empty = streams.FLOW.decode(tf.zeros([0], tf.string), (6, 8))
    assert empty.shape == (0, 6, 8, 2)


@pytest.mark.parametrize('threads', [1, 2])
def test_from_video_gives_each_stream_its_pixels_frame_by_frame(threads):
    frames = [np.full((16, 16, 3), v, np.uint8) for v in (10, 10, 10)]
    rgb = list(streams.RGB.from_video(iter(frames), threads))
    flow = list(streams.FLOW.from_video(iter(frames), threads))
    assert all(a is b for a, b in zip(rgb, frames, strict=True))
    assert flow[0] is None and [f.shape for f in flow[1:]] == [(16, 16, 2)] * 2


def test_channels_and_names():
    assert [s.channels for s in streams.STREAMS.values()] == [3, 2]
    assert streams.of_channels(2) is streams.FLOW and streams.of_channels(4) is None
    assert streams.parse(['flow', 'rgb']) == (streams.FLOW, streams.RGB)
    for bad in ([], ['rgb', 'rgb'], ['depth']):
        with pytest.raises(ValueError, match='--streams: rgb, flow or rgb,flow, not'):
            streams.parse(bad)
