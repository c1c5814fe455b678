"""Synthetic videos whose class is the direction of motion of a random texture.

Classes: `horizontal` (left or right), `vertical` (up or down), `still`. A single frame
cannot tell them apart; flow can; a left-right flip keeps each class (it turns leftward
motion into rightward), so training's flip augmentation cannot confuse them.
"""

import os

import cv2
import numpy as np
from videos import write_video

CLASSES = ('horizontal', 'still', 'vertical')  # alphabetical: build_shards' label order


def texture(rng, height, width):
    """A smooth random texture, larger than the frame so it can move."""
    coarse = rng.uniform(0, 255, (height // 4 + 2, width // 4 + 2)).astype(np.float32)
    luma = cv2.resize(coarse, (width * 2, height * 2), interpolation=cv2.INTER_CUBIC)
    tint = rng.uniform(0.6, 1.0, 3).astype(np.float32)
    return np.clip(luma[..., None] * tint, 0, 255)


def motion_frames(label, rng, frames=12, height=48, width=64, speed=4):
    """uint8 frames [T, H, W, 3] of class `label` (random direction sign and speed)."""
    base = texture(rng, height, width)
    sign = rng.choice([-1, 1])
    step = sign * (speed + rng.integers(0, 2))
    dy, dx = {'horizontal': (0, step), 'vertical': (step, 0), 'still': (0, 0)}[label]
    out = [np.roll(base, (dy * t, dx * t), axis=(0, 1))[:height, :width] for t in range(frames)]
    return np.stack(out).astype(np.uint8)


def write_dataset(root, per_class, seed, **kwargs):
    """Writes <root>/<class>/<class>_<i>.avi; returns root."""
    rng = np.random.default_rng(seed)
    for label in CLASSES:
        os.makedirs(os.path.join(root, label), exist_ok=True)
        for i in range(per_class):
            frames = motion_frames(label, rng, **kwargs)
            write_video(os.path.join(root, label, f'{label}_{i}.avi'), 25, frames)
    return str(root)


def write_rgb_only_shard(path, frames=4, size=(40, 48)):
    """One shard holding one RGB-only video (as `build_shards --flow=false` writes)."""
    import tensorflow as tf

    from preprocess import schema

    images = [schema.encode_rgb(np.zeros((*size, 3), np.uint8)) for _ in range(frames)]
    meta = {'media_id': 'rgb_only', 'path': 'x', 'label_index': 0, 'label_string': CLASSES[0]}
    with tf.io.TFRecordWriter(str(path)) as writer:
        writer.write(schema.make_example(meta, images, [], size, 25.0).SerializeToString())
    return str(path)


def write_shard(path, videos, manifest=True, seed=0):
    """A shard of synthetic examples without decoding or TV-L1 (fast), as build_shards lays out.

    Args:
      path: the .tfrecord to write.
      videos: [(media_id, label_index, frames, (height, width))]; flow is stored for
        every pair of frames (none for a 1-frame video).
      manifest: also write the shard's manifest part (`<path>.manifest.jsonl`).

    Returns:
      str(path).
    """
    import json

    import tensorflow as tf

    from preprocess import schema

    rng = np.random.default_rng(seed)
    records = []
    with tf.io.TFRecordWriter(str(path)) as writer:
        for media_id, label, frames, size in videos:
            clip = rng.integers(0, 255, (frames, *size, 3), dtype=np.uint8)
            images = [schema.encode_rgb(f) for f in clip]
            fields = rng.uniform(-3, 3, (max(frames - 1, 0), *size, 2)).astype(np.float32)
            flows = [schema.encode_flow(f) for f in fields]
            meta = {
                'media_id': media_id,
                'path': media_id,
                'label_index': label,
                'label_string': CLASSES[label % len(CLASSES)],
            }
            serialized = schema.make_example(meta, images, flows, size, 25.0).SerializeToString()
            writer.write(serialized)
            records.append(
                {
                    'media_id': media_id,
                    'label_index': label,
                    'status': 'ok',
                    'frames': frames,
                    'flow_frames': len(flows),
                    'height': size[0],
                    'width': size[1],
                    'bytes': len(serialized),
                }
            )
    if manifest:
        with open(f'{path}.manifest.jsonl', 'w') as f:
            f.writelines(json.dumps(r) + '\n' for r in records)
    return str(path)


def disc_frames(direction, rng, frames=16, size=112, radius=14, speed=4, textured=True, row=None):
    """A bright disc moving `direction` ('left' or 'right') over a still background (a
    texture, or mid-grey: the network input 0).

    `row` is the disc centre's row (default: random).

    Returns:
      (uint8 frames [T, size, size, 3], bool masks [T, size, size] of the disc).
    """
    if textured:
        background = texture(rng, size, size)[:size, :size]
    else:
        background = np.full((size, size, 3), 127.5, np.float32)
    y = rng.integers(radius + 4, size - radius - 4) if row is None else row
    travel = speed * (frames - 1)
    x0 = (size - travel) // 2  # both directions cover the same path: only the order differs
    sign = 1 if direction == 'right' else -1
    if sign < 0:
        x0 += travel
    rows, cols = np.mgrid[:size, :size]
    out, masks = [], []
    for t in range(frames):
        mask = (rows - y) ** 2 + (cols - (x0 + sign * speed * t)) ** 2 <= radius**2
        frame = background.copy()
        frame[mask] = (255, 230, 40)
        out.append(frame)
        masks.append(mask)
    return np.stack(out).astype(np.uint8), np.stack(masks)
