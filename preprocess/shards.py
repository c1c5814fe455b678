"""Per-video processing and resumable, atomic shard writing (shared by pool and Beam).

Layout for an output prefix `data/ucf101/train` and N shards:

    data/ucf101/train-00003-of-00064.tfrecord         the examples of shard 3
    data/ucf101/train-00003-of-00064.manifest.jsonl   one record per video of shard 3
    data/ucf101/train-manifest.jsonl                  all records, written at the end
    data/ucf101/train-config.json                     settings and video list of the run
    data/ucf101/label_map.txt                         class names in label order

A shard and its manifest part are written to temporary names and renamed when complete
(part first), so a final name never holds a partial shard, and a re-run with the same
settings skips exactly the shards whose final file exists.
"""

import dataclasses
import hashlib
import json
import os
import time
import traceback

import tensorflow as tf

from preprocess import features, video
from preprocess import flow as flow_lib

MANIFEST_SUFFIX = '.manifest.jsonl'


@dataclasses.dataclass(frozen=True)
class Options:
    """How each video is processed (part of the run's identity for resuming)."""

    flow: bool = True
    rgb_format: str = 'JPEG'  # or 'PNG' (lossless, ~3x larger)
    jpeg_quality: int = 100
    fps: float = video.FPS
    short_side: int = video.SHORT_SIDE


def _frames_of(item, options):
    if item.tfds_index is not None:
        from preprocess import tfds_source  # only needed for the tfds source

        return tfds_source.frames(item, options.short_side), None
    if not item.path:
        raise video.VideoError('video not found')
    source_fps, timed = video.open_video(item.path, item.start)
    frames = video.paper_frames(
        timed, source_fps, options.fps, item.start, item.end, short_side=options.short_side
    )
    return frames, source_fps


def _record(item, status, **fields):
    """A manifest record: the video's identity, its status and what else is known."""
    identity = {
        'media_id': item.media_id,
        'path': item.path,
        'label_index': item.label_index,
        'label': item.label_string,
    }
    return identity | {'status': status} | fields


def failed_record(item, reason):
    """The manifest record of a video that could not be processed."""
    return _record(item, 'failed', reason=reason)


def process_video(item, options):
    """Preprocesses one video into a serialized SequenceExample; never raises.

    Returns:
      (manifest record dict, serialized example bytes or None when it failed).
    """
    started = time.monotonic()
    images, shape = [], None

    def keep_rgb(frames):
        nonlocal shape
        for frame in frames:
            images.append(features.encode_rgb(frame, options.rgb_format, options.jpeg_quality))
            shape = frame.shape[:2]
            yield frame

    try:
        frames, source_fps = _frames_of(item, options)
        pngs = []
        if options.flow:
            pngs = [features.encode_flow(f) for f in flow_lib.iter_flow(keep_rgb(frames))]
        else:
            for _ in keep_rgb(frames):
                pass
        if not images:
            raise video.VideoError('no decodable frames')
        meta = dataclasses.asdict(item) | {'source_fps': source_fps}
        example = features.make_example(meta, images, pngs, shape, options.fps, options.rgb_format)
        serialized = example.SerializeToString(deterministic=True)
    except Exception as e:  # noqa: BLE001 - any failure is recorded, the run goes on
        message = str(e).replace(f'{item.path}: ', '') or traceback.format_exc(limit=1)
        record = failed_record(item, f'{type(e).__name__}: {message}')
        record['elapsed_s'] = round(time.monotonic() - started, 3)
        return record, None
    record = _record(
        item,
        'ok',
        frames=len(images),
        flow_frames=len(pngs),
        fps=options.fps,
        source_fps=source_fps,
        seconds=round(len(images) / options.fps, 3),
        height=int(shape[0]),
        width=int(shape[1]),
        bytes=len(serialized),
        elapsed_s=round(time.monotonic() - started, 3),
    )
    return record, serialized


def plan(items, num_shards):
    """Deterministic, balanced assignment: sorted by media id, dealt round-robin.

    Returns:
      list of shards, each a list of items (no empty shard: at most len(items) shards).
    """
    count = max(1, min(num_shards, len(items)))
    ordered = sorted(items, key=lambda i: (i.media_id, i.path))
    return [ordered[k::count] for k in range(count)]


def plan_digest(planned):
    """Fingerprint of which video (id, file, clip, label) goes to which shard."""
    digest = hashlib.sha256()
    for index, shard in enumerate(planned):
        for item in shard:
            digest.update(json.dumps([index, dataclasses.astuple(item)]).encode())
    return digest.hexdigest()


def shard_path(prefix, index, count):
    return f'{prefix}-{index:05d}-of-{count:05d}.tfrecord'


def _replace(tmp, path):
    tf.io.gfile.rename(tmp, path, overwrite=True)


def write_shard(prefix, index, count, results):
    """Writes one complete shard and its manifest part, atomically.

    Args:
      results: [(record, serialized or None)] in the shard's item order.
    """
    path = shard_path(prefix, index, count)
    part = path + MANIFEST_SUFFIX
    tmp_suffix = f'.tmp-{os.getpid()}'
    with tf.io.gfile.GFile(part + tmp_suffix, 'w') as f:
        for record, _ in results:
            f.write(json.dumps(record, sort_keys=True) + '\n')
    with tf.io.TFRecordWriter(path + tmp_suffix) as writer:
        for _, serialized in results:
            if serialized is not None:
                writer.write(serialized)
    _replace(part + tmp_suffix, part)  # part first: a final shard always has its part
    _replace(path + tmp_suffix, path)
    return path


def is_done(prefix, index, count):
    path = shard_path(prefix, index, count)
    return tf.io.gfile.exists(path) and tf.io.gfile.exists(path + MANIFEST_SUFFIX)


def read_records(prefix, count):
    """Manifest records of the finished shards, in shard order."""
    records = []
    for index in range(count):
        part = shard_path(prefix, index, count) + MANIFEST_SUFFIX
        if tf.io.gfile.exists(part):
            with tf.io.gfile.GFile(part) as f:
                records.extend(json.loads(line) for line in f if line.strip())
    return records


def clean_temporaries(prefix):
    """Removes temporary files left by a killed run of this prefix."""
    for path in tf.io.gfile.glob(f'{prefix}-*.tmp-*'):
        tf.io.gfile.remove(path)


def remove_outputs(prefix):
    """Deletes every shard, part, manifest and config of this prefix (--overwrite)."""
    for pattern in (f'{prefix}-?????-of-?????.tfrecord*', f'{prefix}-manifest.jsonl',
                    f'{prefix}-config.json', f'{prefix}-*.tmp-*'):  # fmt: skip
        for path in tf.io.gfile.glob(pattern):
            tf.io.gfile.remove(path)


def write_text_atomic(path, text):
    tmp = f'{path}.tmp-{os.getpid()}'
    with tf.io.gfile.GFile(tmp, 'w') as f:
        f.write(text)
    _replace(tmp, path)
