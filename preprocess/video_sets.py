"""Sets of videos, as extract_features and fvd.py read them: a folder, a .txt list, a glob or
build_shards shards -> `Video`s (and each one's manifest record); a .npy/.npz array of
videos; a video's first frames as they are (native rate and size: FVD's input).

Output names follow the input: `<folder>/a/b.mp4` -> `a/b` (sub-folders kept, so equal
file names in two folders do not collide), a listed file -> its base name, a shard
example -> its media id (e.g. `ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01`).
"""

import dataclasses
import glob
import os
import zipfile

import numpy as np

from common.files import SHARD_EXTENSION, TFRECORD_BUFFER_BYTES
from jobs import records
from preprocess import video as video_lib


@dataclasses.dataclass(frozen=True)
class Video:
    """One video to extract: a file, or an example (`media_id`) of a build_shards shard."""

    name: str  # output name below --output_dir, e.g. 'class/clip' -> class/clip_rgb.npy
    path: str
    media_id: str | None = None


def identity(item):
    """A video's identity in extract_features' manifest records (`jobs.records`)."""
    return {'video': item.name, 'path': item.path, 'media_id': item.media_id}


def _is_input(name):
    return not name.startswith('.') and name.lower().endswith(
        (*video_lib.VIDEO_EXTENSIONS, SHARD_EXTENSION)
    )


def _under(folder):
    """Videos and shards below `folder`, sorted; symlinked folders are not followed (loops)."""
    found = []
    for root, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith('.'))
        found.extend(os.path.join(root, n) for n in sorted(names) if _is_input(n))
    return found


def _shard_videos(path):
    import tensorflow as tf

    from preprocess import schema

    try:
        ids = [
            schema.media_id(s)
            for s in tf.data.TFRecordDataset(path, buffer_size=TFRECORD_BUFFER_BYTES)
        ]
    except (tf.errors.OpError, ValueError) as e:
        raise ValueError(f'{path}: unreadable shard ({type(e).__name__})') from None
    return [Video(media_id, path, media_id) for media_id in ids]


def _expand(path, name):
    if path.lower().endswith(SHARD_EXTENSION):
        return _shard_videos(path)
    return [Video(name, path)]


def list_videos(spec):
    """Videos named by `spec`: a folder (recursive), a .txt list (one path per line,
    relative to the list's folder), or a shard file or glob of shards.

    Raises:
      ValueError: nothing found, a missing listed file, or two videos with one output name.
    """
    if os.path.isdir(spec):
        paths = _under(spec)
        videos = [
            v for p in paths for v in _expand(p, os.path.splitext(os.path.relpath(p, spec))[0])
        ]
    elif spec.lower().endswith('.txt'):
        try:
            with open(spec, encoding='utf-8-sig') as f:  # a byte-order mark is dropped
                lines = [line.strip() for line in f]
        except (OSError, UnicodeDecodeError) as e:
            raise ValueError(f'{spec}: cannot read the list ({e})') from None
        base = os.path.dirname(os.path.abspath(spec))
        videos = []
        for number, line in enumerate(lines, 1):
            if line and not line.startswith('#'):
                path = os.path.join(base, line)
                if not os.path.isfile(path):
                    raise ValueError(f'{spec}:{number}: {line}: no such file')
                videos.extend(_expand(path, os.path.splitext(os.path.basename(line))[0]))
    else:
        paths = sorted(glob.glob(spec))
        if not paths:
            raise ValueError(f'{spec}: no such folder, list (.txt) or shard')
        videos = [v for p in paths for v in _expand(p, os.path.splitext(os.path.basename(p))[0])]
    if not videos:
        raise ValueError(f'{spec}: no videos found')
    seen = {}
    for v in videos:
        if v.name in seen:
            raise ValueError(
                f'{seen[v.name].path} and {v.path} would both write {v.name}_*.npy; '
                'rename one or list them from a common folder'
            )
        seen[v.name] = v
    return videos


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
        from preprocess import clip_input, streams

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
    return None, f'{task[0].path}: {records.CRASHED}'


@dataclasses.dataclass
class ArrayVideos:
    """Videos of a .npy (memory-mapped) or .npz array [N, T, H, W, 3] uint8."""

    path: str
    array: np.ndarray

    def __len__(self):
        return self.array.shape[0]

    def name(self, index):
        return f'{self.path}[{index}]'


def _npz_member_header(path):
    """(shape, dtype) of the one array of an .npz, from its header (nothing else read)."""
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        if len(names) != 1:
            found = ', '.join(n.removesuffix('.npy') for n in names)
            raise ValueError(f'{path}: expected one array of videos, found {found}')
        with archive.open(names[0]) as f:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                shape, _, dtype = np.lib.format.read_array_header_1_0(f)
            else:
                shape, _, dtype = np.lib.format.read_array_header_2_0(f)
    return shape, dtype


def _header(path):
    """(shape, dtype) of a .npy (memory-mapped) or of an .npz's one array."""
    try:
        if path.lower().endswith('.npy'):
            array = np.load(path, mmap_mode='r', allow_pickle=False)
            return array.shape, array.dtype
        return _npz_member_header(path)
    except (OSError, EOFError, zipfile.BadZipFile) as e:
        raise ValueError(f'{path}: cannot read the array ({e})') from None
    except ValueError as e:
        if str(e).startswith(path):
            raise
        raise ValueError(f'{path}: cannot read the array ({e})') from None


def check_array(path, num_frames):
    """The shape of the videos of a .npy / .npz file, checked (shape, dtype, length) from
    its header: a large .npz is not read.

    Raises:
      ValueError: naming the file and the problem.
    """
    shape, dtype = _header(path)
    if len(shape) != 5 or shape[-1] != 3:
        raise ValueError(f'{path}: expected videos [N, T, H, W, 3], got shape {shape}')
    if dtype != np.uint8:
        raise ValueError(
            f'{path}: expected uint8 frames in [0, 255], got {dtype} '
            '(convert first, e.g. (x * 255).round().clip(0, 255).astype(np.uint8) for [0, 1])'
        )
    if shape[1] < num_frames:
        raise ValueError(
            f'{path}: videos of {shape[1]} frames, shorter than --num_frames={num_frames}'
        )
    if min(shape[2:4]) < 1:
        raise ValueError(f'{path}: empty frames {shape[2:4]}')
    return shape


def open_array(path, num_frames):
    """The videos of a .npy (memory-mapped) / .npz (read whole) file, checked.

    Raises:
      ValueError: naming the file and the problem.
    """
    check_array(path, num_frames)
    try:
        if path.lower().endswith('.npy'):
            array = np.load(path, mmap_mode='r', allow_pickle=False)
        else:
            with np.load(path, allow_pickle=False) as data:
                array = data[data.files[0]]
    except (OSError, EOFError, ValueError, zipfile.BadZipFile) as e:
        raise ValueError(f'{path}: cannot read the array ({e})') from None
    return ArrayVideos(path, array)
