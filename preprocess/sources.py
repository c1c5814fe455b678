"""Where videos come from: class folders (UCF101, HMDB51, custom), Kinetics CSVs, TFDS.

Each source yields `Item`s (one video each, with its label) and the list of class
names, whose order defines the label indices.
"""

import csv
import dataclasses
import glob
import os
import re

from preprocess.video import VIDEO_EXTENSIONS

HMDB_SPLIT = re.compile(r'(.+)_test_split(\d+)\.txt$')
HMDB_SUBSETS = {'train': '1', 'test': '2'}  # HMDB51 split files: 1 train, 2 test, 0 unused


@dataclasses.dataclass(frozen=True)
class TfdsExample:
    """One example of a prepared TFDS video dataset (see tfds_source)."""

    name: str  # dataset or dataset/config, e.g. 'ucf101/ucf101_1'
    split: str
    index: int  # position in the split
    data_dir: str | None = None

    def __str__(self):
        return f'tfds:{self.name}/{self.split}[{self.index}]'


@dataclasses.dataclass(frozen=True)
class Item:
    """One video to preprocess: a file (`path`) or a TFDS example (`tfds`)."""

    media_id: str
    path: str  # '' for a TFDS example or a video that was not found
    label_index: int
    label_string: str
    start: float | None = None  # seconds; None = from the beginning
    end: float | None = None  # seconds; None = to the end
    tfds: TfdsExample | None = None

    @property
    def location(self):
        """Where the video comes from, for manifests and `clip/data_path`."""
        return str(self.tfds) if self.tfds else self.path


def _is_video(name):
    return name.lower().endswith(VIDEO_EXTENSIONS) and not name.startswith('.')


def _videos_under(root):
    """{path relative to root: path} of every video file below `root` (links included)."""
    found = {}
    for folder, dirs, files in os.walk(root, followlinks=True):
        dirs[:] = sorted(d for d in dirs if not d.startswith('.'))
        for name in files:
            if _is_video(name):
                path = os.path.join(folder, name)
                found[os.path.relpath(path, root)] = path
    return found


def folder_items(input_dir, split_file=None, split='train'):
    """Videos in `input_dir/<class>/...`; classes are the sorted sub-folder names.

    Args:
      input_dir: one sub-folder per class.
      split_file: optional official split list(s), a path or glob: UCF101's
        `trainlist0N.txt` / `testlist0N.txt` (lines `Class/video.avi [label]`) or HMDB51's
        `<class>_test_splitN.txt` (lines `video.avi 0|1|2`).
      split: with HMDB51 split files, `train` (1) or `test` (2).

    Returns:
      (items, class names).

    Raises:
      ValueError: no class folders, unknown split file contents.
    """
    if not os.path.isdir(input_dir):
        raise ValueError(f'{input_dir}: not a folder')
    classes = sorted(
        d
        for d in os.listdir(input_dir)
        if os.path.isdir(os.path.join(input_dir, d)) and not d.startswith('.')
    )
    if not classes:
        raise ValueError(f'{input_dir}: no class sub-folders')
    index = {c.lower(): i for i, c in enumerate(classes)}
    videos = _videos_under(input_dir)
    by_lower = {rel.lower(): path for rel, path in videos.items()}
    if split_file is None:  # every video inside a class folder
        listed = sorted(r for r in videos if os.sep in r)
    else:
        listed = _read_split_files(split_file, split)

    items = []
    for rel in listed:
        label = rel.replace('\\', '/').split('/')[0]
        if label.lower() not in index:
            raise ValueError(f'{split_file}: {rel!r} is not in a class folder of {input_dir}')
        label_index = index[label.lower()]
        path = by_lower.get(os.path.normpath(rel).lower(), os.path.join(input_dir, rel))
        media_id = os.path.splitext(rel.replace('\\', '/'))[0]
        items.append(Item(media_id, path, label_index, classes[label_index]))
    return items, classes


def _read_split_files(pattern, split):
    paths = sorted(glob.glob(pattern))
    if not paths:
        raise ValueError(f'{pattern}: no split file found')
    listed = []
    for path in paths:
        hmdb = HMDB_SPLIT.search(os.path.basename(path))
        if hmdb and split not in HMDB_SUBSETS:
            raise ValueError(f'{path}: HMDB51 splits are train or test, not {split!r}')
        with open(path, encoding='utf-8') as f:
            for line in f:
                fields = line.split()
                if not fields:
                    continue
                if hmdb:
                    if len(fields) == 2 and fields[1] == HMDB_SUBSETS[split]:
                        listed.append(f'{hmdb.group(1)}/{fields[0]}')
                else:
                    listed.append(fields[0])
    return listed


def kinetics_items(annotations, input_dir, classes=None):
    """Kinetics clips from an annotation CSV (label,youtube_id,time_start,time_end,split).

    A clip's video is `<youtube_id>_<start:06d>_<end:06d>.<ext>` (already trimmed, as the
    usual downloaders save it) or `<youtube_id>.<ext>` (full video, clipped here to
    [time_start, time_end]), anywhere below `input_dir`. Missing videos are kept as
    items with an empty path so that they are reported, not silently dropped.

    Args:
      annotations: the CSV file.
      input_dir: folder holding the downloaded videos.
      classes: class names in index order; default: sorted labels of the CSV.

    Returns:
      (items, class names).

    Raises:
      ValueError: unreadable CSV, missing columns, label not in `classes`.
    """
    try:
        with open(annotations, newline='', encoding='utf-8') as f:
            rows = list(csv.DictReader(f))
    except OSError as e:
        raise ValueError(f'{annotations}: cannot read ({e.strerror})') from None
    required = {'youtube_id', 'time_start', 'time_end'}
    if not rows or not required <= set(rows[0]):
        raise ValueError(f'{annotations}: expected columns {sorted(required)} (+ label, split)')
    if classes is None:
        classes = sorted({r['label'] for r in rows if r.get('label')})
    index = {c: i for i, c in enumerate(classes)}
    stems = {}
    for path in _videos_under(input_dir).values():
        stems.setdefault(os.path.splitext(os.path.basename(path))[0], path)

    items = []
    for line, row in enumerate(rows, start=2):
        try:
            start, end = float(row['time_start']), float(row['time_end'])
        except ValueError:
            raise ValueError(f'{annotations}:{line}: bad time_start/time_end') from None
        media_id = f'{row["youtube_id"]}_{int(start):06d}_{int(end):06d}'
        label = row.get('label') or ''
        if label and label not in index:
            raise ValueError(f'{annotations}:{line}: label {label!r} not in the label map')
        label_index = index.get(label, -1)
        if media_id in stems:
            items.append(Item(media_id, stems[media_id], label_index, label))
        else:
            path = stems.get(row['youtube_id'], '')
            items.append(Item(media_id, path, label_index, label, start, end))
    return items, classes
