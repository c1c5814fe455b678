"""Serialized SequenceExamples and shards of them, for the training data tests."""

import numpy as np
import tensorflow as tf

from preprocess import schema


def example(frames=5, height=40, width=48, flow=True, label=1):
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


def shard(path, examples):
    with tf.io.TFRecordWriter(str(path)) as writer:
        for e in examples:
            writer.write(e)
    return str(path)
