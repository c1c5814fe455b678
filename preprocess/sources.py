"""Where videos come from: class folders (UCF101, HMDB51, custom), Kinetics CSVs, TFDS.

Each source yields `Item`s (one video each, with its label) and the list of class
names, whose order defines the label indices. Text inputs (split lists, CSVs) may start
with a UTF-8 byte-order mark; folders are walked once each, however symbolic links loop.
"""

import csv
import dataclasses
import glob
import math
import os
import re

from absl import logging

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
    """{path relative to root: path} of every video file below `root`, each file once.

    Symbolic links are followed, but every real folder is walked once and every real
    file listed once (under its first path in sorted order), so link loops terminate
    and linked copies are not duplicated.
    """
    found, seen_dirs, seen_files = {}, set(), set()
    for folder, dirs, names in os.walk(root, followlinks=True):
        real = os.path.realpath(folder)
        if real in seen_dirs:
            dirs[:] = []
            continue
        seen_dirs.add(real)
        dirs[:] = sorted(d for d in dirs if not d.startswith('.'))
        for name in sorted(names):
            path = os.path.join(folder, name)
            if _is_video(name) and os.path.realpath(path) not in seen_files:
                seen_files.add(os.path.realpath(path))
                found[os.path.relpath(path, root)] = path
    return found


def _case_insensitive(names):
    """{lower-case name: name} for names whose lower case is unique."""
    by_lower = {}
    for name in names:
        by_lower.setdefault(name.lower(), []).append(name)
    return {low: group[0] for low, group in by_lower.items() if len(group) == 1}


def folder_items(input_dir, split_file=None, split='train'):
    """Videos in `input_dir/<class>/...`; classes are the sorted sub-folder names.

    Class folders are matched exactly (`Run` and `run` are two classes); a split list
    that spells a class or file in another case (UCF101 lists `HandStandPushups` for the
    folder `HandstandPushups`) is matched case-insensitively when that is unambiguous.

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
    index = {c: i for i, c in enumerate(classes)}
    class_by_lower = _case_insensitive(classes)
    videos = _videos_under(input_dir)
    video_by_lower = _case_insensitive(videos)
    if split_file is None:  # every video inside a class folder
        listed = sorted(r for r in videos if os.sep in r)
    else:
        listed = _read_split_files(split_file, split)

    items = []
    for rel in listed:
        rel = os.path.normpath(rel.replace('\\', '/'))
        label = rel.split(os.sep)[0]
        label = label if label in index else class_by_lower.get(label.lower())
        if label is None:
            raise ValueError(f'{split_file}: {rel!r} is not in a class folder of {input_dir}')
        found = rel if rel in videos else video_by_lower.get(rel.lower())
        path = videos[found] if found else os.path.join(input_dir, rel)
        media_id = os.path.splitext(rel.replace(os.sep, '/'))[0]
        items.append(Item(media_id, path, index[label], label))
    return _unique_media_ids(items), classes


def _unique_media_ids(items):
    """Keeps the extension in the media id of videos that differ only by it (a/x.avi,
    a/x.mp4), so that no two videos share an id in shards, manifests or predictions."""
    counts = {}
    for item in items:
        counts[item.media_id] = counts.get(item.media_id, 0) + 1
    return [
        dataclasses.replace(item, media_id=item.media_id + os.path.splitext(item.path)[1])
        if counts[item.media_id] > 1
        else item
        for item in items
    ]


def _read_split_files(pattern, split):
    paths = sorted(glob.glob(pattern))
    if not paths:
        raise ValueError(f'{pattern}: no split file found')
    listed = []
    for path in paths:
        hmdb = HMDB_SPLIT.search(os.path.basename(path))
        if hmdb and split not in HMDB_SUBSETS:
            raise ValueError(f'{path}: HMDB51 splits are train or test, not {split!r}')
        for fields in (line.split() for line in _read_lines(path)):
            if not fields:
                continue
            if hmdb:
                if len(fields) == 2 and fields[1] == HMDB_SUBSETS[split]:
                    listed.append(f'{hmdb.group(1)}/{fields[0]}')
            else:
                listed.append(fields[0])
    return listed


def _read_lines(path):
    """Lines of a UTF-8 text file (a byte-order mark is dropped); errors name the file."""
    try:
        with open(path, encoding='utf-8-sig', newline='') as f:
            return f.read().splitlines()
    except UnicodeDecodeError as e:
        raise ValueError(f'{path}: not UTF-8 text (byte {e.start})') from None
    except OSError as e:
        raise ValueError(f'{path}: cannot read ({e.strerror or e})') from None


def _clip_time(value, what, where):
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise ValueError(f'{where}: {what} {value!r} is not a number') from None
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f'{where}: {what} {value!r} must be a finite number >= 0')
    return seconds


def kinetics_items(annotations, input_dir, classes=None):
    """Kinetics clips from an annotation CSV (label,youtube_id,time_start,time_end,split).

    A clip's video is `<youtube_id>_<start:06d>_<end:06d>.<ext>` (already trimmed, as the
    usual downloaders save it) or `<youtube_id>.<ext>` (full video, clipped here to
    [time_start, time_end]), anywhere below `input_dir`. Missing videos are kept as
    items with an empty path so that they are reported, not silently dropped. A row that
    repeats an earlier clip with the same label is dropped with a warning (each clip is
    processed once); with another label it is an error.

    Args:
      annotations: the CSV file.
      input_dir: folder holding the downloaded videos.
      classes: class names in index order; default: sorted labels of the CSV.

    Returns:
      (items, class names).

    Raises:
      ValueError: unreadable CSV, missing columns or fields, times that are not finite,
        negative or out of order, a label not in `classes`, conflicting duplicates;
        `file:line` names the row.
    """
    rows = []
    reader = csv.DictReader(_read_lines(annotations))
    for row in reader:
        rows.append((reader.line_num, row))
    required = {'youtube_id', 'time_start', 'time_end'}
    if not rows or not required <= set(reader.fieldnames or ()):
        raise ValueError(f'{annotations}: expected columns {sorted(required)} (+ label, split)')
    for line, row in rows:
        if None in row.values() or None in row:
            raise ValueError(
                f'{annotations}:{line}: expected {len(reader.fieldnames)} fields '
                f'({",".join(reader.fieldnames)})'
            )
    if classes is None:
        classes = sorted({row['label'] for _, row in rows if row.get('label')})
    index = {c: i for i, c in enumerate(classes)}
    stems = {}
    for path in _videos_under(input_dir).values():
        stems.setdefault(os.path.splitext(os.path.basename(path))[0], path)

    items, first_seen, repeats = [], {}, 0
    for line, row in rows:
        where = f'{annotations}:{line}'
        start = _clip_time(row['time_start'], 'time_start', where)
        end = _clip_time(row['time_end'], 'time_end', where)
        if end <= start:
            raise ValueError(f'{where}: time_end {end:g} is not after time_start {start:g}')
        youtube_id = row['youtube_id'].strip()
        if not youtube_id:
            raise ValueError(f'{where}: empty youtube_id')
        media_id = f'{youtube_id}_{int(start):06d}_{int(end):06d}'
        label = row.get('label') or ''
        if label and label not in index:
            raise ValueError(f'{where}: label {label!r} not in the label map')
        if media_id in first_seen:
            earlier_line, earlier_label, earlier_times = first_seen[media_id]
            if earlier_times != (start, end):
                raise ValueError(
                    f'{where}: clip {media_id} differs from line {earlier_line} only in '
                    'fractions of a second; the two would share one media id'
                )
            if earlier_label != label:
                raise ValueError(
                    f'{where}: clip {media_id} has label {label!r} but line {earlier_line} '
                    f'gives it {earlier_label!r}'
                )
            repeats += 1
            continue  # the same clip twice: keep one
        first_seen[media_id] = (line, label, (start, end))
        label_index = index.get(label, -1)
        if media_id in stems:
            items.append(Item(media_id, stems[media_id], label_index, label))
        else:
            path = stems.get(youtube_id, '')
            items.append(Item(media_id, path, label_index, label, start, end))
    if repeats:
        logging.warning(
            '%s: %d rows repeat an earlier clip; each clip is kept once', annotations, repeats
        )
    return items, classes
