"""The per-video function of the shard builder: one video -> one SequenceExample.

Decodes a video (file or TFDS example), resamples it to 25 fps, resizes it, computes
TV-L1 flow (its pairs several at once: `flow.fields`), encodes everything in the schema of
`schema.py`, and describes the outcome in a manifest record. The local pool and Beam both
run `process_video`, so both write the same bytes.
"""

import contextlib
import dataclasses
import time
import traceback

from jobs import records
from preprocess import flow as flow_lib
from preprocess import schema, video


@dataclasses.dataclass(frozen=True)
class Options:
    """How each video is processed (part of the run's identity for resuming)."""

    flow: bool = True
    rgb_format: str = 'JPEG'  # or 'PNG' (lossless, ~3x larger)
    jpeg_quality: int = 100
    fps: float = video.FPS
    short_side: int = video.SHORT_SIDE


@dataclasses.dataclass(frozen=True)
class Task:
    """One video of a shard plan, as both runners pass it to their workers."""

    shard: int  # index of the shard it goes to
    position: int  # its place in that shard
    item: object  # sources.Item


def _frames_of(item, options):
    """(RGB frames at the paper's rate and size, the source frame rate or None)."""
    if item.tfds is not None:
        from preprocess import tfds_source  # only needed for the tfds source

        return tfds_source.frames(item.tfds, options.short_side), None
    if not item.path:
        raise video.VideoError('video not found')
    source_fps, timed = video.open_video(item.path, item.start)
    frames = video.resample_and_resize(
        timed, source_fps, options.fps, item.start, item.end, short_side=options.short_side
    )
    return frames, source_fps


def identity(item):
    """A video's identity in build_shards' manifest records (`jobs.records`)."""
    return {
        'media_id': item.media_id,
        'path': item.location,
        'label_index': item.label_index,
        'label': item.label_string,
    }


def _with_flow(frames, options, flow_threads):
    """(frame, its flow field or None) pairs; no field at all without `options.flow`."""
    if options.flow:
        return flow_lib.fields(frames, flow_threads)
    return ((frame, None) for frame in frames)


def process_video(item, options, flow_threads=None):
    """Preprocesses one video into a serialized SequenceExample; never raises.

    Args:
      item: a `sources.Item`.
      options: `Options`.
      flow_threads: TV-L1 pairs computed at once (None: `flow.cores()`, what the pool's
        workers are given; Beam passes 1, as it runs elements side by side).

    Returns:
      (manifest record dict, serialized example bytes or None when it failed).
    """
    started = time.monotonic()
    images, flow_images, shape = [], [], None
    try:
        frames, source_fps = _frames_of(item, options)
        with contextlib.closing(_with_flow(frames, options, flow_threads)) as pairs:
            for frame, field in pairs:
                images.append(schema.encode_rgb(frame, options.rgb_format, options.jpeg_quality))
                shape = frame.shape[:2]
                if field is not None:
                    flow_images.append(schema.encode_flow(field))
        if not images:
            raise video.VideoError('no decodable frames')
        meta = dataclasses.asdict(item) | {'path': item.location, 'source_fps': source_fps}
        example = schema.make_example(
            meta, images, flow_images, shape, options.fps, options.rgb_format
        )
        serialized = example.SerializeToString(deterministic=True)
    except Exception as e:  # noqa: BLE001 - any failure is recorded, the run goes on
        message = str(e).replace(f'{item.path}: ', '') or traceback.format_exc(limit=1)
        failed = records.failed(identity(item), f'{type(e).__name__}: {message}')
        failed['elapsed_s'] = round(time.monotonic() - started, 3)
        return failed, None
    done = records.record(
        identity(item),
        records.OK,
        frames=len(images),
        flow_frames=len(flow_images),
        fps=options.fps,
        source_fps=source_fps,
        duration_s=round(len(images) / options.fps, 3),
        height=int(shape[0]),
        width=int(shape[1]),
        bytes=len(serialized),
        elapsed_s=round(time.monotonic() - started, 3),
    )
    return done, serialized
