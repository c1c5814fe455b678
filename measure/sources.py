"""What fvd.py reads: video files (folder, .txt list, glob, build_shards shards) decoded as
they are, a .npy/.npz array of videos, or a statistics file; no TensorFlow here (pool
workers import it, and fvd.py checks its sets before loading it).

FVD does not use the paper's 25 fps / short-side-256 pipeline: a file's frames are its
native frames at its native size, the first `num_frames` of them.

A set's kind is decided once, by `classify`, from the file's content (an .npz is a
statistics file or an array of videos by what it holds, not by its name); `open_set`
checks it as far as that is possible without the model.
"""

import dataclasses
import os
import zipfile

import numpy as np

from inference.extract import videos as video_lists
from measure import statistics
from preprocess import video as video_lib

ARRAY_EXTENSIONS = ('.npy', '.npz')
STATISTICS, ARRAY, VIDEOS = 'statistics', 'array', 'videos'


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


def classify(spec):
    """STATISTICS, ARRAY or VIDEOS: what the set `spec` is, from the file's content.

    An .npz holding `statistics.save`'s `format` member is a statistics file; any other
    .npz, and a .npy, is an array of videos; anything else names video files (a folder,
    .txt list, glob, or shards).

    Raises:
      ValueError: for an .npz that cannot be read, or a .npy / .npz that does not exist.
    """
    lower = spec.lower()
    if lower.endswith('.npz') and os.path.isfile(spec):
        if not zipfile.is_zipfile(spec):  # np.load would try it as a pickle
            raise ValueError(f'{spec}: unreadable .npz (not a zip archive)')
        try:
            with np.load(spec, allow_pickle=False) as data:
                return STATISTICS if statistics.holds_statistics(data) else ARRAY
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
            raise ValueError(f'{spec}: unreadable .npz ({e})') from None
    if lower.endswith('.npy') and os.path.isfile(spec):
        return ARRAY
    if lower.endswith(ARRAY_EXTENSIONS) and not os.path.lexists(spec) and not _has_magic(spec):
        raise ValueError(f'{spec}: no such file')
    return VIDEOS


def _has_magic(spec):
    return any(c in spec for c in '*?[')


@dataclasses.dataclass
class VideoSet:
    """A set (`--real`, `--fake`) classified and checked before the model is loaded."""

    spec: str
    kind: str  # STATISTICS, ARRAY or VIDEOS
    count: int
    stats: statistics.Stats | None = None  # STATISTICS: read and checked, protocol aside
    items: list | None = None  # VIDEOS: the listed videos (inference.extract.videos.Video)

    def files(self):
        """The files this set reads: the spec itself if a file, and each listed file."""
        found = [self.spec] if os.path.isfile(self.spec) else []
        found += [item.path for item in self.items or ()]
        return list(dict.fromkeys(found))


def open_set(spec, num_frames):
    """`spec` classified and checked: a statistics file read (arrays checked), an array's
    header checked, video files listed (listing shards reads them with TensorFlow).

    Raises:
      ValueError: naming the file and the problem (missing, empty, fewer than 2 videos,
        damaged statistics, an array of the wrong shape or type, ...).
    """
    kind = classify(spec)
    if kind == STATISTICS:
        stats = statistics.read(spec)
        return VideoSet(spec, kind, stats.moments.n, stats=stats)
    if kind == ARRAY:
        videos = VideoSet(spec, kind, check_array(spec, num_frames)[0])
    else:
        items = video_lists.list_videos(spec)
        videos = VideoSet(spec, kind, len(items), items=items)
    if videos.count < 2:
        raise ValueError(f'{spec}: {videos.count} video(s); FVD needs at least 2 per set')
    return videos
