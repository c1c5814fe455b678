"""What fvd.py reads: video files (folder, .txt list, glob, build_shards shards) decoded as
they are, or a .npy/.npz array of videos; no TensorFlow here (pool workers import it).

FVD does not use the paper's 25 fps / short-side-256 pipeline: a file's frames are its
native frames at its native size, the first `num_frames` of them.
"""

import dataclasses
import os
import zipfile

import numpy as np

from preprocess import video as video_lib

ARRAY_EXTENSIONS = ('.npy', '.npz')


def first_frames(item, num_frames):
    """The first `num_frames` native RGB frames of a video file or shard example, uint8.

    Raises:
      video.VideoError: naming the file, if unreadable or shorter than `num_frames`.
    """
    frames = []
    if item.media_id is None:
        _, timed = video_lib.open_video(item.path)
        for _, frame in timed:
            frames.append(video_lib.to_rgb(frame))
            if len(frames) == num_frames:
                timed.close()  # releases the decoder now
                break
    else:  # the frames a shard stores (already the paper's 25 fps, short side 256)
        from common import streams
        from inference import clip_input

        example = clip_input.find_shard_example(item.path, item.media_id)
        encoded = example[streams.RGB.encoded_key]
        for frame in clip_input.decode_sliced(encoded, streams.RGB.decode, item.path):
            frames.append(np.asarray(frame))
            if len(frames) == num_frames:
                break
    where = item.path if item.media_id is None else f'{item.path} [{item.media_id}]'
    if len(frames) < num_frames:
        raise video_lib.VideoError(
            f'{where}: {len(frames)} frames, shorter than --num_frames={num_frames}'
        )
    if len({f.shape for f in frames}) > 1:
        raise video_lib.VideoError(f'{where}: frames of different sizes')
    return np.stack(frames)


def decode_task(task):
    """Pool worker entry: (item, num_frames) -> (frames or None, error message or None)."""
    item, num_frames = task
    try:
        return first_frames(item, num_frames), None
    except Exception as e:  # noqa: BLE001 - reported by the parent, naming the video
        message = str(e) if isinstance(e, video_lib.VideoError) else f'{item.path}: {e}'
        return None, message


def crashed_task(task):
    return None, f'{task[0].path}: the decoding process died'


@dataclasses.dataclass
class ArrayVideos:
    """Videos of a .npy (memory-mapped) or .npz array [N, T, H, W, 3] uint8."""

    path: str
    array: np.ndarray

    def __len__(self):
        return self.array.shape[0]

    def name(self, index):
        return f'{self.path}[{index}]'


def open_array(path, num_frames):
    """The videos of a .npy / .npz file, checked (shape, dtype, length).

    Raises:
      ValueError: naming the file and the problem.
    """
    try:
        if path.lower().endswith('.npy'):
            array = np.load(path, mmap_mode='r', allow_pickle=False)
        else:
            with np.load(path, allow_pickle=False) as data:
                if len(data.files) != 1:
                    raise ValueError(
                        f'{path}: expected one array of videos, found {", ".join(data.files)}'
                    )
                array = data[data.files[0]]
    except (OSError, EOFError, zipfile.BadZipFile) as e:
        raise ValueError(f'{path}: cannot read the array ({e})') from None
    except ValueError as e:
        if str(e).startswith(path):
            raise
        raise ValueError(f'{path}: cannot read the array ({e})') from None
    if array.ndim != 5 or array.shape[-1] != 3:
        raise ValueError(f'{path}: expected videos [N, T, H, W, 3], got shape {array.shape}')
    if array.dtype != np.uint8:
        raise ValueError(
            f'{path}: expected uint8 frames in [0, 255], got {array.dtype} '
            '(convert first, e.g. (x * 255).round().clip(0, 255).astype(np.uint8) for [0, 1])'
        )
    if array.shape[1] < num_frames:
        raise ValueError(
            f'{path}: videos of {array.shape[1]} frames, shorter than --num_frames={num_frames}'
        )
    if min(array.shape[2:4]) < 1:
        raise ValueError(f'{path}: empty frames {array.shape[2:4]}')
    return ArrayVideos(path, array)


def is_array(spec):
    return spec.lower().endswith(ARRAY_EXTENSIONS) and os.path.isfile(spec)
