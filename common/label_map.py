"""Label maps: class names, one per line, in label-index order.

`build_shards` writes one beside its shards (`<folder>/label_map.txt`); the Kinetics-400
map ships as `data/label_map.txt`. Every tool reads them through `read`.
"""

import os

from common import files

FILENAME = 'label_map.txt'


def read(path):
    """Class names, one per line (blank lines and surrounding spaces ignored).

    Raises:
      ValueError: naming the file: unreadable, not UTF-8, empty, or a name given twice
        (two indices with one name would make predictions and metrics ambiguous).
    """
    try:
        with open(path, encoding='utf-8-sig') as f:
            text = f.read()
    except UnicodeDecodeError as e:
        line = text_line(path, e.start)
        raise ValueError(f'{path}:{line}: not UTF-8 text (byte {e.start})') from None
    except OSError as e:
        raise ValueError(f'{path}: cannot read label map ({e.strerror or e})') from None
    names = [line.strip() for line in text.splitlines() if line.strip()]
    if not names:
        raise ValueError(f'{path}: empty label map')
    seen = {}
    for index, name in enumerate(names):
        if name in seen:
            raise ValueError(
                f'{path}: class {name!r} is listed twice (indices {seen[name]}, {index})'
            )
        seen[name] = index
    return names


def text_line(path, offset):
    """1-based line number of byte `offset` in a file."""
    with open(path, 'rb') as f:
        return f.read(offset).count(b'\n') + 1


def write(path, classes):
    """Writes class names atomically, one per line."""
    return files.write_atomic(path, ''.join(f'{c}\n' for c in classes))


def beside(path_or_pattern):
    """The label map in the folder of a file or glob (e.g. 'data/ucf101/train-*.tfrecord')."""
    return os.path.join(os.path.dirname(os.path.abspath(path_or_pattern)), FILENAME)
