"""What an fvd.py set is: video files (folder, .txt list, glob, build_shards shards) decoded as
they are, a .npy/.npz array of videos (both read by preprocess.video_sets), or a statistics
file; no TensorFlow here (fvd.py checks its sets before loading it).

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

from measure import statistics
from preprocess import video_sets

ARRAY_EXTENSIONS = ('.npy', '.npz')
STATISTICS, ARRAY, VIDEOS = 'statistics', 'array', 'videos'


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
    items: list | None = None  # VIDEOS: the listed videos (preprocess.video_sets.Video)

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
        videos = VideoSet(spec, kind, video_sets.check_array(spec, num_frames)[0])
    else:
        items = video_sets.list_videos(spec)
        videos = VideoSet(spec, kind, len(items), items=items)
    if videos.count < 2:
        raise ValueError(f'{spec}: {videos.count} video(s); FVD needs at least 2 per set')
    return videos
