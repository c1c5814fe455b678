"""tf.data input for training and evaluation, from the shards of `preprocess.build_shards`.

Training (paper §2.5): shards interleaved, records shuffled and repeated, a random
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

import tensorflow as tf

from common import label_map as label_maps
from preprocess import schema
from preprocess.shards import MANIFEST_SUFFIX

AUTOTUNE = tf.data.AUTOTUNE
EVAL_MAX_FRAMES = 250  # Paper: test on the whole video, ~10 s at 25 fps.
SHUFFLE_BUFFER = 32  # serialized videos (a 10 s Kinetics video is ~5-10 MB with flow)


def list_files(pattern):
    """Sorted files matching a glob or a comma-separated list of globs.

    Every part must match at least one file: a typo in one part of `a/*,b/*` would
    otherwise silently drop that part's data.

    Raises:
      ValueError: naming the part that matches nothing, is empty, or matches a folder.
    """
    found = set()
    for part in pattern.split(','):
        if not part.strip():
            raise ValueError(f'{pattern}: an empty part in the comma-separated list')
        matches = glob.glob(os.path.expanduser(part))
        if not matches:
            what = 'no files match' if part == pattern else f'no files match {part!r}'
            raise ValueError(f'{pattern}: {what}')
        for path in matches:
            if os.path.isdir(path):
                raise ValueError(
                    f'{path}: a folder, not a shard; give a glob of its shards, e.g. '
                    f"'{os.path.join(path, 'train-*.tfrecord')}'"
                )
        found.update(matches)
    return sorted(found)


def videos_in(files):
    """Number of videos in the shards, from build_shards' manifest part beside each
    (`<shard>.manifest.jsonl`); None when a shard has none (counting would read it all)."""
    total = 0
    for path in files:
        try:
            with open(path + MANIFEST_SUFFIX, encoding='utf-8') as f:
                total += sum(json.loads(line).get('status') == 'ok' for line in f if line.strip())
        except (OSError, ValueError, AttributeError):
            return None
    return total


def shard_label_map(pattern, num_classes=None, label_map=None, classes_of='the model'):
    """The class names of the shards of `pattern`, checked to be one set before any work.

    build_shards writes a label_map.txt beside its shards. Every comma-separated part of
    `pattern` whose folder has one must list the same names in the same order (label 0
    must mean one class), equal to `label_map` when one is given, and `num_classes` long
    when that is given.

    Args:
      pattern: shard glob(s), comma-separated (as --data, --train_data, --eval_data).
      num_classes: the classes the labels must fit (a checkpoint's or a run's), or None.
      label_map: a label map file the user gave (--label_map), or None.
      classes_of: what has `num_classes` classes, for the message (e.g. a checkpoint path).

    Returns:
      (class names, the label map file they were read from), or (None, None) when neither
      `label_map` nor any part's folder has one.

    Raises:
      ValueError: naming both files of a mismatch, or the label map and `classes_of`.
    """
    paths = [label_map] if label_map else []
    for part in pattern.split(','):
        beside = label_maps.beside(os.path.expanduser(part))
        if os.path.exists(beside) and beside not in paths:
            paths.append(beside)
    if not paths:
        return None, None
    names = label_maps.read(paths[0])
    for other in paths[1:]:
        theirs = label_maps.read(other)
        if theirs != names:
            raise ValueError(
                f'{other}: other classes than {paths[0]} ({_difference(theirs, names)})'
            )
    if num_classes is not None and len(names) != num_classes:
        raise ValueError(f'{paths[0]}: {len(names)} classes, but {classes_of} has {num_classes}')
    return names, paths[0]


def _difference(theirs, ours):
    if len(theirs) != len(ours):
        return f'{len(theirs)} classes, not {len(ours)}'
    index = next(i for i, (a, b) in enumerate(zip(theirs, ours, strict=True)) if a != b)
    return f'class {index} is {theirs[index]!r}, not {ours[index]!r}'


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
    """Endless, seeded stream of serialized examples: files reshuffled each epoch."""
    order = tf.data.Dataset.from_tensor_slices(files)
    order = order.shuffle(len(files), seed=seed, reshuffle_each_iteration=True).repeat()
    return order.interleave(
        tf.data.TFRecordDataset,
        cycle_length=min(len(files), 16),
        num_parallel_calls=AUTOTUNE,
        deterministic=True,
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
    shuffle_buffer=SHUFFLE_BUFFER,
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
      shuffle_buffer: records in the shuffle buffer.
    """
    if global_batch % num_workers:
        raise ValueError(f'batch size {global_batch} is not divisible by {num_workers} workers')
    local_batch = global_batch // num_workers
    records = _records(files, seed).shuffle(shuffle_buffer, seed=seed)
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


def eval_dataset(
    files, stream, crop_size, max_frames=EVAL_MAX_FRAMES, test_crops=1, test_flip=False
):
    """Each video once, in file order: dict views [V, T, crop, crop, C], label, media_id,
    shard (the file it is in)."""

    def element(shard, serialized):
        example = schema.parse_encoded(serialized)
        length = tf.minimum(tf.size(example[stream.encoded_key], out_type=tf.int32), max_frames)
        frames = _frames(example, stream, tf.range(length))
        return {
            'views': eval_views(frames, crop_size, test_crops, test_flip, stream),
            'label': example['label'],
            'media_id': example['media_id'],
            'shard': shard,  # for messages naming the file of a bad record
        }

    records = tf.data.Dataset.from_tensor_slices(files).flat_map(
        lambda shard: tf.data.TFRecordDataset(shard).map(lambda r: (shard, r))
    )
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
        media_id = example['media_id'].numpy().decode(errors='replace')
        if stream.name == 'flow' and tf.size(example['rgb_encoded']) == 1:
            raise ValueError(
                f'{first}: its first video ({media_id}) has 1 frame, so no flow field (flow '
                'needs 2 frames)'
            )
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
