"""The decoding half of extract_features: one video -> its streams' pixels in work files.

Runs in the pool's worker processes (which therefore never import TensorFlow for a video
file): streams a video's centre-cropped pixels (`clip_input.pixels`: RGB uint8, flow
float32 pixels, TV-L1 computed here, its pairs on several threads, or read from a
build_shards shard) into raw files of a work folder, so memory stays bounded whatever the
video's length; `features` reads them back and turns them into network input.
"""

import contextlib
import os
import time

import numpy as np

from jobs import records as manifest
from preprocess import clip_input, video, video_sets
from preprocess import streams as records


def prepare(item, names, work_dir, flow_threads=None):
    """Writes the pixels of the streams `names` of `item` to raw files in `work_dir`.

    Args:
      item: a `video_sets.Video`.
      names: stream names, e.g. ('rgb', 'flow').
      work_dir: where the raw files go.
      flow_threads: TV-L1 pairs computed at once (None: `preprocess.flow.cores()`, what
        the pool's workers are given).

    Returns:
      {'frames': frames of video, name: (raw file, [count, H, W, C])}.

    Raises:
      video.VideoError: unreadable or empty video, or too short for a stream (flow:
        fewer than 2 frames).
    """
    os.makedirs(work_dir, exist_ok=True)
    base = os.path.join(work_dir, f'{os.getpid()}-{time.monotonic_ns()}')
    outs = {name: open(f'{base}.{name}', 'wb') for name in names}  # noqa: SIM115
    count, shapes, lengths = 0, {}, dict.fromkeys(names, 0)
    try:
        frames = clip_input.pixels(item.path, names, item.media_id, flow_threads=flow_threads)
        with contextlib.closing(frames):  # on an error, its TV-L1 threads stop now
            for frame in frames:
                count += 1
                for name, array in frame.items():
                    dtype = records.STREAMS[name].pixel_dtype
                    outs[name].write(np.ascontiguousarray(array, dtype).tobytes())
                    shapes[name], lengths[name] = array.shape, lengths[name] + 1
        short = [name for name in names if not lengths[name]]
        if short:
            raise video.VideoError(
                'no decodable frames'
                if count == 0
                else f'{count} frame: too short for the {short[0]} stream'
            )
    except BaseException:
        for f in outs.values():
            f.close()
            os.remove(f.name)
        raise
    for f in outs.values():
        f.close()
    prepared = {'frames': count}
    for name in names:
        prepared[name] = (f'{base}.{name}', (lengths[name], *shapes[name]))
    return prepared


def remove(prepared):
    """Deletes the raw files of a prepared video."""
    for key, value in prepared.items():
        if key != 'frames' and os.path.exists(value[0]):
            os.remove(value[0])


def prepare_or_fail(item, names, work_dir, flow_threads=None):
    """Decoding half; never raises: (prepared or None, failure record or None)."""
    try:
        return prepare(item, names, work_dir, flow_threads), None
    except Exception as e:  # noqa: BLE001 - a failed video is recorded, the run goes on
        return None, manifest.failed(video_sets.identity(item), f'{type(e).__name__}: {e}')


def prepare_task(task):
    """Pool worker entry: (item, names, work_dir) -> (start time, prepared, failure)."""
    item, names, work_dir = task
    return time.monotonic(), *prepare_or_fail(item, names, work_dir)


def crashed_task(task):
    return time.monotonic(), None, manifest.crashed(video_sets.identity(task[0]))
