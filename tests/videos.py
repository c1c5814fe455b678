"""Synthetic test videos written with cv2.VideoWriter."""

import cv2
import numpy as np


def index_frame(i, height=64, width=96):
    """A frame encoding `i` in 8 binary blocks (white = 1), robust to lossy codecs."""
    frame = np.zeros((height, width, 3), np.uint8)
    block = width // 8
    for bit in range(8):
        if (i >> bit) & 1:
            frame[:, bit * block : (bit + 1) * block] = 255
    return frame


def decode_index(frame):
    """Inverse of `index_frame` (on an RGB or BGR frame of any size)."""
    width = frame.shape[1]
    block = width / 8
    value = 0
    for bit in range(8):
        column = frame[:, int((bit + 0.5) * block)]
        if column.mean() > 127:
            value |= 1 << bit
    return value


def write_video(path, fps, frames, codec='MJPG'):
    """Writes BGR/RGB-agnostic uint8 frames [T,H,W,3] to `path` at `fps`."""
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*codec), fps, (width, height))
    assert writer.isOpened(), f'cannot write {path}'
    for frame in frames:
        writer.write(np.ascontiguousarray(frame))
    writer.release()
    return str(path)


def index_video(path, fps, count, codec='MJPG', **size):
    return write_video(path, fps, [index_frame(i % 256, **size) for i in range(count)], codec)


def shard_example(shard, media_id):
    """(RGB uint8, pixel flow) of one example of a shard, decoded by the tf.data reader
    (`schema.parse`): a reference independent of inference's clip-input path."""
    import tensorflow as tf

    from preprocess import schema

    for serialized in tf.data.TFRecordDataset(shard):
        if schema.media_id(serialized) == media_id:
            example = schema.parse(serialized)
            return example['rgb'].numpy(), example['flow'].numpy()
    raise KeyError(media_id)


def clip_arrays(path, names, **kwargs):
    """{stream: float32 [T, H, W, C]} of a clip through `clip_input.clip_inputs`, whole."""
    from preprocess import clip_input

    inputs, _ = clip_input.clip_inputs(path, names, **kwargs)
    return {name: np.stack(list(frames)) for name, (_, frames) in inputs.items()}


def video_npz(path, seed):
    """An .npz holding `videos`: 3 random uint8 videos of 2 frames, 8x8 (an fvd.py set)."""
    np.savez(path, videos=np.random.default_rng(seed).integers(0, 256, (3, 2, 8, 8, 3), np.uint8))
    return str(path)
