"""tf.data input for training and evaluation, from the shards of `preprocess.build_shards`.

Training (paper §2.5): every shard interleaved (each epoch in a new shard order), records
shuffled (the buffer at least one record per shard) and repeated, a random
`num_frames` window (videos shorter than it are looped), only those frames decoded, one
random crop and one random left-right flip for the whole clip, scaled to [-1, 1].
Evaluation: the whole video (capped, the paper's ~10 s), centre crop, optionally three
crops and their mirror images.

Resuming is deterministic by construction, not by saving the pipeline: the record order
depends only on `seed`, and every random choice of element i is drawn from the stateless
seed (seed, i). A run restarted at step s skips s * global_batch serialized records (read,
not decoded) and then yields exactly the batches an uninterrupted run would have.
"""

import glob
import json
import os
import re

import tensorflow as tf

from common import label_map as label_maps
from preprocess import flow as flow_lib
from preprocess import schema

AUTOTUNE = tf.data.AUTOTUNE
EVAL_MAX_FRAMES = 250  # Paper: test on the whole video, ~10 s at 25 fps.
# Shuffle buffer in serialized videos (a 10 s Kinetics video is ~5-10 MB with flow): at
# least this many, and at least one per shard (see `shuffle_buffer_size`).
SHUFFLE_BUFFER = 32
_SHARD_NAME = re.compile(r'(.*)-\d{5}-of-\d{5}\.tfrecord$')


def list_files(pattern):
    """Sorted files matching a glob or a comma-separated list of globs.

    Raises:
      ValueError: if nothing matches.
    """
    found = sorted({f for p in pattern.split(',') for f in glob.glob(os.path.expanduser(p))})
    if not found:
        raise ValueError(f'{pattern}: no files match')
    return found


def _frames(example, stream, indices):
    """Decodes the frames `indices` of the stream -> float32 [n, H, W, C] in [-1, 1]."""
    encoded = tf.gather(example[stream.encoded_key], indices)
    if stream.name == 'rgb':
        return stream.to_model_input(schema.decode_rgb(encoded))
    return stream.to_model_input(schema.decode_flow(encoded))


def _window_indices(length, num_frames, seed):
    """A random window of `num_frames` consecutive indices in [0, length), looped if short."""
    start = tf.random.stateless_uniform(
        [], seed, minval=0, maxval=tf.maximum(length - num_frames, 0) + 1, dtype=tf.int32
    )
    return (start + tf.range(num_frames)) % length


def train_clip(example, stream, num_frames, crop_size, seed):
    """One augmented training clip [num_frames, crop, crop, C] from a parsed example.

    Args:
      example: output of `schema.parse_encoded`.
      stream: a `training.streams.Stream`.
      num_frames, crop_size: clip size.
      seed: stateless seed, int32/int64 [2].
    """
    window_seed, crop_seed, flip_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 3))
    length = tf.size(example[stream.encoded_key], out_type=tf.int32)
    clip = _frames(example, stream, _window_indices(length, num_frames, window_seed))
    clip = tf.image.stateless_random_crop(
        clip, [num_frames, crop_size, crop_size, stream.channels], crop_seed
    )
    flip = tf.random.stateless_uniform([], flip_seed) < 0.5
    return tf.cond(flip, lambda: stream.flip(clip), lambda: clip)


def _records(files, seed):
    """Endless, seeded stream of serialized examples from every shard, round-robin.

    All shards are open at once (a cycle as long as the file list), so each round takes
    one record from every shard, and the shard order is reshuffled each epoch. The
    interleave is sequential: a parallel one buffers records per open shard, memory that
    would grow with the number of shards; decoding, the costly part, stays parallel.
    """
    order = tf.data.Dataset.from_tensor_slices(files)
    order = order.shuffle(len(files), seed=seed, reshuffle_each_iteration=True).repeat()
    return order.interleave(tf.data.TFRecordDataset, cycle_length=len(files), block_length=1)


def shuffle_buffer_size(files, requested=0):
    """Records in the training shuffle buffer: `requested`, or (0) sized from the data.

    The automatic size is one interleave round (a record per shard) and at least
    SHUFFLE_BUFFER, so that records of every shard mix, and the batches of one epoch
    differ from the last's even when the shards are few. Memory: about this many
    serialized videos.
    """
    return requested or max(SHUFFLE_BUFFER, len(files))


def check_shard_order(files):
    """Refuses shards that `build_shards` dealt in class order (built before it shuffled).

    Such shards (their run config has no `seed`) hold each class's videos together, and
    reading them round-robin gives batches sorted by class; no bounded shuffle buffer
    undoes that. Shards without a run config beside them (other tools) are not checked.

    Raises:
      ValueError: naming the run config and how to rebuild.
    """
    configs = {m.group(1) + '-config.json' for m in map(_SHARD_NAME.match, files) if m}
    for path in sorted(configs):
        try:
            with tf.io.gfile.GFile(path) as f:  # shards may be on gs:// too
                config = json.loads(f.read())
        except (OSError, ValueError, tf.errors.OpError):
            continue  # no readable config: not ours to judge
        if isinstance(config, dict) and 'plan_sha256' in config and 'seed' not in config:
            raise ValueError(
                f'{path}: these shards were dealt in class order (built before build_shards '
                'shuffled videos into shards), so training batches would be sorted by class; '
                'rebuild them with the same build_shards command and --overwrite'
            )


def train_dataset(
    files,
    stream,
    num_frames,
    crop_size,
    global_batch,
    seed,
    start_step=0,
    worker=0,
    num_workers=1,
    shuffle_buffer=0,
):
    """Endless batches (clips [b, T, crop, crop, C] float32, labels [b] int64).

    Every worker reads the same record order and decodes only its slice of each global
    batch, so the global batch does not depend on the number of workers.

    Args:
      files: shard paths.
      stream: a `training.streams.Stream`.
      num_frames, crop_size: clip size.
      global_batch: clips per step over all workers and replicas.
      seed: int; the whole pipeline is a function of it.
      start_step: steps already done (the pipeline starts after them).
      worker, num_workers: this worker's index and the number of workers.
      shuffle_buffer: records in the shuffle buffer; 0 = `shuffle_buffer_size`'s.

    Raises:
      ValueError: a batch that the workers cannot share, shards dealt in class order.
    """
    if global_batch % num_workers:
        raise ValueError(f'batch size {global_batch} is not divisible by {num_workers} workers')
    check_shard_order(files)
    local_batch = global_batch // num_workers
    buffer = shuffle_buffer_size(files, shuffle_buffer)
    records = _records(files, seed).shuffle(buffer, seed=seed)
    records = records.enumerate().skip(start_step * global_batch)
    if num_workers > 1:
        begin = worker * local_batch
        records = records.batch(global_batch).map(
            lambda i, r: (i[begin : begin + local_batch], r[begin : begin + local_batch])
        )
        records = records.unbatch()

    def element(index, serialized):
        example = schema.parse_encoded(serialized)
        clip = train_clip(example, stream, num_frames, crop_size, tf.stack([seed, index]))
        return clip, example['label']

    clips = records.map(element, num_parallel_calls=AUTOTUNE, deterministic=True)
    return clips.batch(local_batch, drop_remainder=True).prefetch(AUTOTUNE)


def eval_views(frames, crop_size, test_crops=1, test_flip=False, stream=None):
    """Test views of a whole clip [T, H, W, C] -> [views, T, crop, crop, C].

    The centre crop; with `test_crops=3` also both ends of the long side; with
    `test_flip` each view's mirror image too (flow x negated, via `stream.flip`).
    """
    shape = tf.shape(frames)
    height, width = shape[1], shape[2]
    top, left = (height - crop_size) // 2, (width - crop_size) // 2
    ys, xs = [top], [left]
    if test_crops == 3:  # both ends of the long side, and the centre
        wide = width >= height
        ys = tf.unstack(tf.where(wide, tf.stack([top] * 3), tf.stack([0, top, height - crop_size])))
        xs = tf.unstack(
            tf.where(wide, tf.stack([0, left, width - crop_size]), tf.stack([left] * 3))
        )
    offsets = zip(ys, xs, strict=True)
    views = [frames[:, y : y + crop_size, x : x + crop_size] for y, x in offsets]
    if test_flip:
        views += [stream.flip(v) for v in views]
    return tf.stack(views)


def eval_frame_cap(stream, max_frames):
    """Frames of `stream` evaluated per video under a cap of `max_frames` video frames.

    Raises:
      ValueError: if the cap leaves the stream no frame.
    """
    cap = flow_lib.stream_frames(stream.name, max_frames)
    if cap < 1:
        raise ValueError(
            f'--max_frames={max_frames}: the {stream.name} stream needs at least 2 frames of '
            'video (N frames give N - 1 flow fields)'
        )
    return cap


def eval_dataset(
    files, stream, crop_size, max_frames=EVAL_MAX_FRAMES, test_crops=1, test_flip=False
):
    """Each video once, in file order: dict views [V, T, crop, crop, C], label, media_id.

    `max_frames` counts frames of video: the flow stream gets the N - 1 fields between
    the first N frames (`flow.stream_frames`), the same stretch as the RGB stream.

    Raises:
      ValueError: a cap that leaves the stream no frame (flow needs 2 frames).
    """
    cap = eval_frame_cap(stream, max_frames)

    def element(serialized):
        example = schema.parse_encoded(serialized)
        length = tf.minimum(tf.size(example[stream.encoded_key], out_type=tf.int32), cap)
        frames = _frames(example, stream, tf.range(length))
        return {
            'views': eval_views(frames, crop_size, test_crops, test_flip, stream),
            'label': example['label'],
            'media_id': example['media_id'],
        }

    records = tf.data.TFRecordDataset(files)
    return records.map(element, num_parallel_calls=AUTOTUNE).prefetch(AUTOTUNE)


def check_shards(files, stream, crop_size):
    """Reads the first example of the shards: fails early, in one line, on bad data.

    Returns:
      The first example's label, frames and frame size (for messages and tests).

    Raises:
      ValueError: not TFRecords, not our SequenceExamples, no frames of this stream
        (e.g. RGB-only shards given to the flow stream), frames smaller than the crop.
    """
    first = files[0]
    try:
        serialized = next(iter(tf.data.TFRecordDataset(first).take(1)), None)
    except tf.errors.OpError:
        raise ValueError(f'{first}: not a TFRecord file') from None
    if serialized is None:
        raise ValueError(f'{first}: empty TFRecord file')
    try:
        example = schema.parse_encoded(serialized)
    except (tf.errors.OpError, ValueError):
        raise ValueError(
            f'{first}: not a video SequenceExample (preprocess.build_shards)'
        ) from None
    frames = example[stream.encoded_key]
    if tf.size(frames) == 0:
        hint = ' (built with --flow=false?)' if stream.name == 'flow' else ''
        raise ValueError(f'{first}: holds no {stream.name} frames{hint}')
    image = _frames(example, stream, [0])
    height, width = image.shape[1:3]
    if min(height, width) < crop_size:
        raise ValueError(
            f'{first}: frames are {height}x{width}, smaller than --crop_size={crop_size}'
        )
    return {'label': int(example['label']), 'frames': int(tf.size(frames)), 'size': (height, width)}


def label_map_beside(pattern):
    """The label_map.txt that build_shards writes beside the shards, or None."""
    path = label_maps.beside(pattern.split(',')[0])
    return path if os.path.exists(path) else None
