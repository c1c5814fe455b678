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
import sys

import tensorflow as tf

from common import files as common_files
from common import label_map as label_maps
from jobs import records as manifest_records
from preprocess import schema, shards, video

# Shuffle buffer in serialized videos (a 10 s Kinetics video is ~5-10 MB with flow): at
# least this many, and at least one per shard (see `shuffle_buffer_size`).
SHUFFLE_BUFFER = 32
_SHARD_NAME = re.compile(r'(.*)-\d{5}-of-\d{5}' + re.escape(common_files.SHARD_EXTENSION) + '$')


def pattern_parts(pattern):
    """The comma-separated parts of a shard pattern (empty parts dropped)."""
    return [p.strip() for p in pattern.split(',') if p.strip()]


def list_files(pattern):
    """Sorted files matching a glob or a comma-separated list of globs.

    Every part must match at least one file: a typo in one part of `a/*,b/*` would
    otherwise silently train or evaluate on less data.

    Raises:
      ValueError: a part that is a folder or matches nothing (naming it).
    """
    if not pattern.strip() or any(not p.strip() for p in pattern.split(',')):
        raise ValueError(f'{pattern!r}: an empty part in the comma-separated list')
    parts = pattern_parts(pattern)
    found = set()
    for part in parts:
        path = os.path.expanduser(part)
        if os.path.isdir(path):
            example = os.path.join(part, '*' + common_files.SHARD_EXTENSION)
            raise ValueError(f'{part}: a folder, not shard files (did you mean {example!r}?)')
        matched = [f for f in glob.glob(path) if not os.path.isdir(f)]
        if not matched:
            where = f' (part of {pattern!r})' if len(parts) > 1 else ''
            raise ValueError(f'{part}: no files match{where}')
        found.update(matched)
    return sorted(found)


def videos_in(files):
    """Number of videos in the shards, from build_shards' manifest part beside each
    (`<shard>.manifest.jsonl`); None when a shard has none (counting would read it all).

    Raises:
      ValueError: a shard whose size differs from its manifest's (see `check_shards`).
    """
    total = 0
    for path in files:
        if not os.path.exists(path + shards.MANIFEST_SUFFIX):
            return None
        total += len(_manifest(path))
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
      ValueError: naming both files of a mismatch, or the label map and `classes_of`;
        parts without a label map beside parts with one (unless `label_map` is given).
    """
    paths = [label_map] if label_map else []
    without = []
    for part in pattern_parts(pattern):
        beside = label_maps.beside(os.path.expanduser(part))
        if not os.path.exists(beside):
            without.append(part)
        elif beside not in paths:
            paths.append(beside)
    if without and paths and not label_map:
        # Some parts say what their labels mean and some do not: label 0 could be two classes.
        raise ValueError(
            f'{without[0]}: no label_map.txt beside these shards, so their labels cannot be '
            f'checked against {paths[0]}'
        )
    if not paths:
        return None, None
    names = label_maps.read(paths[0])
    for other in paths[1:]:
        theirs = label_maps.read(other)
        if theirs != names:
            raise ValueError(
                f'{other}: other classes than {paths[0]} ({label_difference(theirs, names)})'
            )
    if num_classes is not None and len(names) != num_classes:
        raise ValueError(f'{paths[0]}: {len(names)} classes, but {classes_of} has {num_classes}')
    return names, paths[0]


def label_difference(theirs, ours):
    """How two lists of class names differ, for messages."""
    if len(theirs) != len(ours):
        return f'{len(theirs)} classes, not {len(ours)}'
    index = next(i for i, (a, b) in enumerate(zip(theirs, ours, strict=True)) if a != b)
    return f'class {index} is {theirs[index]!r}, not {ours[index]!r}'


def _frames(example, stream, indices):
    """Decodes the frames `indices` of the stream -> float32 [n, H, W, C] in [-1, 1]."""
    encoded = tf.gather(example[stream.encoded_key], indices)
    return stream.to_model_input(stream.decode(encoded))


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
      stream: a `preprocess.streams.Stream`.
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


def _with_file(path):
    """The records of one shard, each paired with the shard's path (for warnings)."""
    return tf.data.TFRecordDataset(path, buffer_size=common_files.TFRECORD_BUFFER_BYTES).map(
        lambda serialized: (path, serialized)
    )


# Why a record cannot give a clip of a stream (index = `_unusable` code, 0 = usable).
_REASONS = (
    '',
    'holds no frames of this stream',
    'has 1 frame, so no flow (flow needs 2 frames)',
    'frames smaller than the crop',
    'label outside the classes of the run',
)


def _unusable(serialized, stream, crop_size, num_classes):
    """0 if the example gives clips of `stream` with this crop, else an `_REASONS` index.

    Reads the frame size from the context (build_shards writes it) or else from the
    first frame's header; decodes nothing else.
    """
    example = schema.parse_encoded(serialized)
    prefix = schema.FLOW_PREFIX if stream.frame_lag else ''
    size_keys = {prefix + k: tf.io.FixedLenFeature((), tf.int64, 0) for k in _SIZE_KEYS}
    context, _ = tf.io.parse_single_sequence_example(serialized, context_features=size_keys)
    height, width = (tf.cast(context[prefix + k], tf.int32) for k in _SIZE_KEYS)
    encoded = example[stream.encoded_key]
    frames = tf.size(encoded)

    def header_size():
        return tf.shape(tf.io.decode_image(encoded[0], channels=3, expand_animations=False))[:2]

    known = tf.stack([height, width])
    size = tf.cond((frames > 0) & (height <= 0), header_size, lambda: known)
    label = example['label']
    label_ok = (label >= 0) & (label < num_classes) if num_classes else tf.constant(True, tf.bool)
    code = tf.where(frames == 0, 1, 0)
    if stream.frame_lag:  # a 1-frame video has no flow field: say so
        code = tf.where((frames == 0) & (tf.size(example['rgb_encoded']) == 1), 2, code)
    code = tf.where((code == 0) & (tf.reduce_min(size) < crop_size), 3, code)
    return tf.where((code == 0) & ~label_ok, 4, code), example['media_id']


_SIZE_KEYS = ('image/height', 'image/width')


def usable_records(records, stream, crop_size, num_classes=None):
    """Drops (path, serialized) records that cannot give a clip, with a warning naming each.

    The filter is a pure function of the record, so the record order after it (and a
    resume that skips step * batch of them) does not depend on when a run started.
    """
    reasons = tf.constant(_REASONS)

    def keep(path, serialized):
        code, media_id = _unusable(serialized, stream, crop_size, num_classes)
        line = tf.strings.join(
            ['warning: ', path, ': ', media_id, ': skipped: ', tf.gather(reasons, code)]
        )
        warn = tf.cond(
            code > 0, lambda: tf.print(line, output_stream=sys.stderr), lambda: tf.no_op()
        )
        with tf.control_dependencies([warn]):
            return tf.identity(code == 0)

    return records.filter(keep)


def _records(files, seed):
    """Endless, seeded stream of (path, serialized example) from every shard, round-robin.

    All shards are open at once (a cycle as long as the file list), so each round takes
    one record from every shard, and the shard order is reshuffled each epoch. The
    interleave is sequential: a parallel one buffers records per open shard, memory that
    would grow with the number of shards; decoding, the costly part, stays parallel.
    """
    order = tf.data.Dataset.from_tensor_slices(files)
    order = order.shuffle(len(files), seed=seed, reshuffle_each_iteration=True).repeat()
    return order.interleave(_with_file, cycle_length=len(files), block_length=1)


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
    num_classes=None,
):
    """Endless batches (clips [b, T, crop, crop, C] float32, labels [b] int64).

    Every worker reads the same record order and decodes only its slice of each global
    batch, so the global batch does not depend on the number of workers.

    Args:
      files: shard paths.
      stream: a `preprocess.streams.Stream`.
      num_frames, crop_size: clip size.
      global_batch: clips per step over all workers and replicas.
      seed: int; the whole pipeline is a function of it.
      start_step: steps already done (the pipeline starts after them).
      worker, num_workers: this worker's index and the number of workers.
      shuffle_buffer: records in the shuffle buffer; 0 = `shuffle_buffer_size`'s.
      num_classes: if given, records with labels outside [0, num_classes) are skipped.

    Raises:
      ValueError: a batch that the workers cannot share, shards dealt in class order.
    """
    if global_batch % num_workers:
        raise ValueError(f'batch size {global_batch} is not divisible by {num_workers} workers')
    check_shard_order(files)
    local_batch = global_batch // num_workers
    buffer = shuffle_buffer_size(files, shuffle_buffer)
    records = usable_records(_records(files, seed), stream, crop_size, num_classes)
    records = records.map(lambda path, serialized: serialized).shuffle(buffer, seed=seed)
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

    clips = records.map(element, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return clips.batch(local_batch, drop_remainder=True).prefetch(tf.data.AUTOTUNE)


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
    cap = stream.frames_in(max_frames)
    if cap < 1:
        raise ValueError(
            f'--max_frames={max_frames}: the {stream.name} stream needs at least 2 frames of '
            'video (N frames give N - 1 flow fields)'
        )
    return cap


def eval_dataset(
    files, stream, crop_size, max_frames=video.MAX_TEST_FRAMES, test_crops=1, test_flip=False
):
    """Each video once, in file order: dict views [V, T, crop, crop, C], label, media_id,
    shard (the file it is in).

    `max_frames` counts frames of video: the flow stream gets the N - 1 fields between
    the first N frames (`Stream.frames_in`), the same stretch as the RGB stream.

    Videos that cannot give this stream's clip (a 1-frame video has no flow; frames
    smaller than the crop) are skipped with a warning naming the shard and the video.

    Raises:
      ValueError: a cap that leaves the stream no frame (flow needs 2 frames).
    """
    cap = eval_frame_cap(stream, max_frames)

    def element(shard, serialized):
        example = schema.parse_encoded(serialized)
        length = tf.minimum(tf.size(example[stream.encoded_key], out_type=tf.int32), cap)
        frames = _frames(example, stream, tf.range(length))
        return {
            'views': eval_views(frames, crop_size, test_crops, test_flip, stream),
            'label': example['label'],
            'media_id': example['media_id'],
            'shard': shard,  # for messages naming the file of a bad record
        }

    records = tf.data.Dataset.from_tensor_slices(files).flat_map(_with_file)
    records = usable_records(records, stream, crop_size)
    return records.map(element, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def _first_example(path):
    """The first parsed example of a shard; one-line errors for what is not a shard."""
    try:
        serialized = next(
            iter(
                tf.data.TFRecordDataset(path, buffer_size=common_files.TFRECORD_BUFFER_BYTES).take(
                    1
                )
            ),
            None,
        )
    except tf.errors.OpError:
        raise ValueError(f'{path}: not a TFRecord file') from None
    if serialized is None:
        raise ValueError(f'{path}: empty TFRecord file')
    try:
        return schema.parse_encoded(serialized)
    except (tf.errors.OpError, ValueError):
        raise ValueError(f'{path}: not a video SequenceExample (preprocess.build_shards)') from None


def check_shards(files, stream, crop_size, log=None):
    """Checks every shard before any step: fails early, in one line, on bad data.

    Reads the first example of each shard, and each shard's manifest part when
    `build_shards` wrote one (no other record is read): a shard shorter than its manifest
    says (truncated), labels outside the classes and shards without this stream's frames
    are errors; videos that cannot give a clip (1 frame for flow, frames smaller than the
    crop) are listed as skipped, as the input pipeline then skips them. Labels are
    checked by `check_labels` once the run's classes are known.

    Args:
      files: shard paths.
      stream: a `preprocess.streams.Stream`.
      crop_size: crop side in pixels.
      log: called with each warning line (default: stderr).

    Returns:
      The first example's label, frames and frame size, and the skipped videos
      [(shard, media id, reason)].

    Raises:
      ValueError: not TFRecords, not our SequenceExamples, no frames of this stream
        (e.g. RGB-only shards given to the flow stream), frames smaller than the crop in
        the first example, truncated shards.
    """
    log = log or (lambda line: print(line, file=sys.stderr))
    found = None
    for path in files:
        example = _first_example(path)
        frames = example[stream.encoded_key]
        if tf.size(frames) == 0 and tf.size(example['rgb_encoded']) > 1:
            hint = ' (built with --flow=false?)' if stream.frame_lag else ''
            raise ValueError(f'{path}: holds no {stream.name} frames{hint}')
        if found is None and tf.size(frames) > 0:
            image = _frames(example, stream, [0])
            height, width = image.shape[1:3]
            if min(height, width) < crop_size:
                raise ValueError(
                    f'{path}: frames are {height}x{width}, smaller than --crop_size={crop_size}'
                )
            found = {
                'label': int(example['label']),
                'frames': int(tf.size(frames)),
                'size': (height, width),
            }
    if found is None:  # every shard's first video has 1 frame (flow)
        media_id = _first_example(files[0])['media_id'].numpy().decode(errors='replace')
        raise ValueError(
            f'{files[0]}: its first video ({media_id}) has 1 frame, so no flow field (flow '
            'needs 2 frames)'
        )
    skipped = []
    for path in files:
        skipped += _check_manifest(path, stream, crop_size)
    for path, media_id, reason in skipped:
        log(f'warning: {path}: {media_id}: skipped: {reason}')
    return found | {'skipped': skipped}


def _manifest(path):
    """The written videos' records of a shard's manifest part ([] without one).

    Raises:
      ValueError: an unreadable part, or a shard whose size differs from what it says.
    """
    part = path + shards.MANIFEST_SUFFIX
    if not os.path.exists(part):
        return []
    try:
        with open(part) as f:
            records = manifest_records.read(f)
        written = [r for r in records if r.get('status') == 'ok']
        expected = sum(int(r['bytes']) + 16 for r in written)  # TFRecord framing: 16 bytes
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise ValueError(f'{part}: unreadable manifest ({type(e).__name__}: {e})') from None
    actual = os.path.getsize(path)
    if actual != expected:
        raise ValueError(
            f'{path}: {actual} bytes where its manifest {os.path.basename(part)} says '
            f'{expected}: a truncated or replaced shard (build it again with '
            'preprocess.build_shards, or leave it out of the pattern)'
        )
    return written


def check_labels(files, num_classes):
    """Refuses shards whose manifests list labels outside [0, num_classes).

    Raises:
      ValueError: naming the shard, the video and its label.
    """
    for path in files:
        for record in _manifest(path):
            label, media_id = record.get('label_index'), record.get('media_id')
            if label is not None and not 0 <= label < num_classes:
                raise ValueError(
                    f'{path}: {media_id} has label {label}, outside the {num_classes} classes '
                    'of the run'
                )


def _check_manifest(path, stream, crop_size):
    """Checks a shard against its manifest part (if any); returns the videos to skip."""
    skipped = []
    for record in _manifest(path):
        media_id = record.get('media_id')
        frames = record.get('flow_frames' if stream.frame_lag else 'frames')
        if frames == 0:
            reason = _REASONS[2] if record.get('frames') == 1 and stream.frame_lag else _REASONS[1]
            skipped.append((path, media_id, reason))
        elif min(record.get('height', crop_size), record.get('width', crop_size)) < crop_size:
            skipped.append((path, media_id, _REASONS[3]))
    return skipped


def label_map_beside(pattern):
    """The label_map.txt that build_shards writes beside the shards, or None."""
    path = label_maps.beside(pattern.split(',')[0])
    return path if os.path.exists(path) else None
