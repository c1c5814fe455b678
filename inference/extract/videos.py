"""What extract_features reads: a folder, a list file, or build_shards shards -> Videos,
and the manifest record of each.

Output names follow the input: `<folder>/a/b.mp4` -> `a/b` (sub-folders kept, so equal
file names in two folders do not collide), a listed file -> its base name, a shard
example -> its media id (e.g. `ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01`).
"""

import dataclasses
import glob
import os

from common.files import SHARD_EXTENSION, TFRECORD_BUFFER_BYTES
from preprocess.video import VIDEO_EXTENSIONS


@dataclasses.dataclass(frozen=True)
class Video:
    """One video to extract: a file, or an example (`media_id`) of a build_shards shard."""

    name: str  # output name below --output_dir, e.g. 'class/clip' -> class/clip_rgb.npy
    path: str
    media_id: str | None = None


def record(item, status, **fields):
    """The manifest record of a video (one JSON line of manifest.jsonl)."""
    identity = {'video': item.name, 'path': item.path, 'media_id': item.media_id}
    return identity | {'status': status} | fields


def _is_input(name):
    return not name.startswith('.') and name.lower().endswith((*VIDEO_EXTENSIONS, SHARD_EXTENSION))


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
