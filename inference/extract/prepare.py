"""The decoding half of extract_features: one video -> raw network-input files (no TF).

Runs in the pool's worker processes (which therefore never import TensorFlow for a video
file): streams the video's centre-cropped RGB (uint8) and flow (float32 in [-1, 1]; TV-L1
here, or the flow stored in a build_shards shard) into raw files of a work folder, so
memory stays bounded whatever the video's length; `features` memory-maps them.
"""

import dataclasses
import os
import time

import numpy as np

from preprocess import flow as flow_lib
from preprocess import video

DTYPES = {'rgb': np.uint8, 'flow': np.float32}  # as stored in the work files


@dataclasses.dataclass(frozen=True)
class Video:
    """One video to extract: a file, or an example (`media_id`) of a build_shards shard."""

    name: str  # output name below --output_dir, e.g. 'class/clip' -> class/clip_rgb.npy
    path: str
    media_id: str | None = None


def _frames_and_flow(item, with_flow):
    """(RGB uint8 frame, pixel flow from the previous frame or None) pairs of a video
    (TV-L1 computed here) or a shard example (its stored flow: no decoding of a video)."""
    if item.media_id is None:
        pairwise = flow_lib.PairwiseFlow() if with_flow else None
        for frame in video.iter_video(item.path):
            yield frame, pairwise.push(frame) if pairwise else None
        return
    from inference import clip_input
    from preprocess import model_inputs, schema

    example = model_inputs.find_shard_example(item.path, item.media_id)
    rgb = clip_input.decode_sliced(example['rgb_encoded'], schema.decode_rgb)
    if not with_flow:
        yield from ((frame, None) for frame in rgb)
        return
    if int(example['flow_encoded'].shape[0]) == 0:
        raise video.VideoError('the shard holds no flow (built with --flow=false?)')
    flow = clip_input.decode_sliced(example['flow_encoded'], schema.decode_flow)
    first = next(rgb, None)
    if first is not None:
        yield first, None
        yield from zip(rgb, flow, strict=False)


def prepare(item, streams, work_dir):
    """Writes the network input of `item` to raw files in `work_dir`, streaming.

    Returns:
      {'frames': RGB frame count, stream: (raw file, [count, H, W, C], dtype name)}.

    Raises:
      video.VideoError: unreadable or empty video (flow: fewer than 2 frames).
    """
    os.makedirs(work_dir, exist_ok=True)
    base = os.path.join(work_dir, f'{os.getpid()}-{time.monotonic_ns()}')
    outs = {s: open(f'{base}.{s}', 'wb') for s in streams}  # noqa: SIM115
    count, shapes = 0, {}
    try:
        for frame, field in _frames_and_flow(item, 'flow' in streams):
            count += 1
            arrays = {'rgb': video.center_crop(frame)}
            if field is not None:
                arrays['flow'] = flow_lib.flow_to_model_input(video.center_crop(field))
            for stream, array in arrays.items():
                if stream in outs:
                    outs[stream].write(np.ascontiguousarray(array, DTYPES[stream]).tobytes())
                    shapes[stream] = array.shape
        if len(shapes) < len(streams):
            raise video.VideoError(
                'no decodable frames' if count == 0 else 'flow needs at least 2 frames'
            )
    except BaseException:
        for f in outs.values():
            f.close()
            os.remove(f.name)
        raise
    for f in outs.values():
        f.close()
    prepared = {'frames': count}
    for stream in streams:
        length = count if stream == 'rgb' else count - 1
        prepared[stream] = (f'{base}.{stream}', (length, *shapes[stream]))
    return prepared


def remove(prepared):
    """Deletes the raw files of a prepared video."""
    for key, value in prepared.items():
        if key != 'frames' and os.path.exists(value[0]):
            os.remove(value[0])


def record(item, status, **fields):
    """A manifest record (one JSON line per video)."""
    identity = {'video': item.name, 'path': item.path, 'media_id': item.media_id}
    return identity | {'status': status} | fields


def prepare_or_fail(item, streams, work_dir):
    """Decoding half; never raises: (prepared or None, failure record or None)."""
    try:
        return prepare(item, streams, work_dir), None
    except Exception as e:  # noqa: BLE001 - a failed video is recorded, the run goes on
        return None, record(item, 'failed', reason=f'{type(e).__name__}: {e}')


def prepare_task(task):
    """Pool worker entry: (item, streams, work_dir) -> (start time, prepared, failure)."""
    item, streams, work_dir = task
    return time.monotonic(), *prepare_or_fail(item, streams, work_dir)


def crashed_task(task):
    return time.monotonic(), None, record(task[0], 'failed', reason='worker process died')
