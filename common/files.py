"""Files: the repository's location, checksums, atomic writes, and raw arrays on disk.

Every tool writes its outputs through `atomic_output` (one file) or `atomic_prefix` (a
TensorFlow checkpoint's several files): the data goes to a temporary name beside the
target, `<path>.tmp-<pid>`, and is renamed into place only when complete, so a final
name never holds a partial file, whatever kills the writer. Paths may be local or any
filesystem `tf.io.gfile` knows (gs://, ...).
"""

import contextlib
import hashlib
import os

import numpy as np

REPO_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TMP_MARK = '.tmp-'  # temporary names are `<final name>.tmp-<pid>`
# build_shards writes, and every reader lists, TFRecord shards by this name ending.
SHARD_EXTENSION = '.tfrecord'
# Read buffer of tf.data.TFRecordDataset: TensorFlow's own default (256 KB), given, since
# TensorFlow 2.21 warns on every dataset that leaves it unspecified.
TFRECORD_BUFFER_BYTES = 256 * 1024


def repo_path(*parts):
    """A path inside this repository, e.g. repo_path('data', 'label_map.txt')."""
    return os.path.join(REPO_DIR, *parts)


def here_or_in_repo(path):
    """`path` as given when it exists here (or is absolute, or names a checkpoint prefix),
    else the same relative path inside the repository: the scripts' default files
    (data/label_map.txt, checkpoints/...) work from any working directory."""
    if os.path.isabs(path) or os.path.exists(path) or os.path.exists(path + '.index'):
        return path
    return repo_path(path)


def sha256(path):
    """Hex SHA-256 of a file, read in blocks."""
    with open(path, 'rb') as f:
        return hashlib.file_digest(f, 'sha256').hexdigest()


def temporary_name(path):
    return f'{path}{TMP_MARK}{os.getpid()}'


def check_folder(path, target=None):
    """Checks, creating nothing, that the folder `path` exists or could be created.

    Args:
      path: the folder.
      target: the output the folder is for, named in messages instead of `path`.

    Raises:
      ValueError: naming the file that is in the way.
    """
    if '://' in path:  # remote paths are left to the writer
        return
    named = target or path
    probe = os.path.abspath(path)
    while not os.path.lexists(probe):
        probe = os.path.dirname(probe)
    if not os.path.isdir(probe):
        is_it = named == path and probe == os.path.abspath(path)
        where = 'is a file' if is_it else f'lies under the file {probe}'
        raise ValueError(f'{named}: {where}, not a folder')


def make_folder(path, target=None):
    """Creates the folder `path` and its parents, or says in one line why it cannot.

    Args: as `check_folder`.

    Raises:
      ValueError: naming the file that is in the way, or the OS's reason.
    """
    check_folder(path, target)
    if '://' in path:
        return path
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as e:
        raise ValueError(
            f'{target or path}: cannot create the folder {path} ({e.strerror or e})'
        ) from None
    return path


def remove_stale_temporaries(path, suffix=''):
    """Removes `<path>.tmp-<pid><suffix>` files or folders whose writer (process `pid`) is
    dead.

    A killed writer leaves its temporary name behind; a live one (another run writing the
    same output right now) keeps it. Local paths only.

    Args:
      path: the final name.
      suffix: what follows the pid in the temporary names (e.g. '.mp4', for writers that
        pick the format by the extension).
    """
    import glob
    import shutil

    for tmp in glob.glob(glob.escape(path) + TMP_MARK + '*' + glob.escape(suffix)):
        pid = tmp[len(path) + len(TMP_MARK) : len(tmp) - len(suffix)]
        if not pid.isdigit() or _alive(int(pid)):
            continue
        if os.path.isdir(tmp) and not os.path.islink(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                os.remove(tmp)


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def _gfile():
    import tensorflow as tf  # only where a write needs it: keeps light tools light

    return tf.io.gfile


@contextlib.contextmanager
def atomic_output(path):
    """Yields a temporary path to write; renames it to `path` if the block succeeds.

    On an exception the temporary file is removed and `path` is left as it was.
    """
    tmp = temporary_name(path)
    gfile = _gfile()
    try:
        yield tmp
        gfile.rename(tmp, path, overwrite=True)
    finally:
        if gfile.exists(tmp):
            gfile.remove(tmp)


def write_atomic(path, data):
    """Writes `data` (str or bytes) to `path` atomically."""
    with (
        atomic_output(path) as tmp,
        _gfile().GFile(tmp, 'wb' if isinstance(data, bytes) else 'w') as f,
    ):
        f.write(data)
    return path


@contextlib.contextmanager
def atomic_prefix(prefix):
    """Like `atomic_output` for a checkpoint prefix (`<prefix>.index`, `.data-*`).

    Yields a temporary prefix; when the block succeeds, its files are renamed to
    `prefix` with the index last, so an existing `<prefix>.index` means a complete
    checkpoint.
    """
    tmp = temporary_name(prefix)
    gfile = _gfile()
    if '://' not in prefix:
        make_folder(os.path.dirname(os.path.abspath(prefix)), target=prefix)
    try:
        yield tmp
        written = sorted(gfile.glob(tmp + '.*'), key=lambda p: p.endswith('.index'))
        for path in written:
            gfile.rename(path, prefix + path[len(tmp) :], overwrite=True)
    finally:
        for path in gfile.glob(tmp + '.*'):
            gfile.remove(path)


class LockedError(ValueError):
    """Another process holds the lock."""


@contextlib.contextmanager
def exclusive_lock(path, holder='another process'):
    """Holds an exclusive advisory lock on the file `path` (created if needed).

    The kernel releases it when the process dies, even by kill -9, so a stale lock file
    never blocks a later run. Remote paths (gs://...) are not locked.

    Raises:
      LockedError: naming `path` and `holder`, if another process holds it.
    """
    if '://' in path:
        yield
        return
    import fcntl

    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LockedError(f'{path}: held by {holder}') from None
        yield
    finally:
        os.close(fd)


class RawArray:
    """An array [N, ...] of `dtype` in a raw (header-less) local file, read and written by
    rows: `a[i]`, `a[start:stop]` (contiguous), `a[start:stop] = rows`.

    Nothing is memory-mapped: a read copies its rows into a new array, so the file's pages
    belong to the page cache, not to the process's resident memory (a mapping's touched
    pages would count as memory growing with a long video's length).

    Args:
      path: the file.
      shape: [N, ...] of the whole array.
      dtype: its element type.
      create: make the file (N rows of zeros, replacing any) and allow writes; else open
        an existing one for reading.
    """

    def __init__(self, path, shape, dtype=np.float32, create=False):
        self.shape = tuple(int(n) for n in shape)
        self.dtype = np.dtype(dtype)
        self._row = int(np.prod(self.shape[1:], dtype=np.int64))
        self._file = open(path, 'w+b' if create else 'rb')  # noqa: SIM115 - closed by close()
        if create:
            self._file.truncate(self.dtype.itemsize * self._row * self.shape[0])

    def __len__(self):
        return self.shape[0]

    def _rows(self, index):
        start, stop, step = index.indices(len(self))
        if step != 1:
            raise IndexError('RawArray: contiguous row slices only')
        return start, max(start, stop)

    def _seek(self, row):
        self._file.seek(self.dtype.itemsize * self._row * row)

    def __getitem__(self, index):
        if not isinstance(index, slice):
            row = range(len(self))[index]  # an int, negative ones too; IndexError outside
            return self[row : row + 1][0]
        start, stop = self._rows(index)
        self._seek(start)
        data = np.fromfile(self._file, self.dtype, (stop - start) * self._row)
        return data.reshape(stop - start, *self.shape[1:])

    def __setitem__(self, index, values):
        start, stop = self._rows(index)
        values = np.ascontiguousarray(values, self.dtype)
        if values.shape != (stop - start, *self.shape[1:]):
            raise ValueError(f'RawArray: rows of {values.shape}, not {self.shape[1:]}')
        self._seek(start)
        self._file.write(values.tobytes())

    def frames(self, block=32):
        """Yields the rows one by one, reading `block` of them at a time."""
        for start in range(0, len(self), block):
            yield from self[start : start + block]

    def close(self):
        self._file.close()


def check_saved_model_output(output, overwrite=False):
    """Fails before any work on a SavedModel --output that could not be (re)placed, and
    removes the temporary folders of killed exports to it (export_saved_model.py calls it
    first, before TensorFlow loads).

    Raises:
      ValueError: `output` exists (without `overwrite`), is a file, is a folder that is
        not a SavedModel (never deleted, even with `overwrite`), or lies under a file.
    """
    output = output.rstrip('/') or output
    if os.path.isfile(output) or (os.path.exists(output) and not os.path.isdir(output)):
        raise ValueError(f'{output}: a file, not a SavedModel folder; remove it or choose another')
    if os.path.isdir(output):
        if not overwrite:
            raise ValueError(f'{output}: exists (pass --overwrite to replace it)')
        if os.listdir(output) and not os.path.exists(os.path.join(output, 'saved_model.pb')):
            raise ValueError(
                f'{output}: a folder that is not a SavedModel; --overwrite replaces only '
                'SavedModels: remove it yourself or choose another --output'
            )
    check_folder(os.path.dirname(os.path.abspath(output)), target=output)
    remove_stale_temporaries(output)
