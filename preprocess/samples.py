"""DeepMind's cricket sample clip: fetched once with a fixed checksum, then cached.

Resolution order for a sample file:
  1. `$I3D_SAMPLE_DIR/<file>` when that variable is set (a local copy, e.g. a clone of
     kinetics-i3d's `data/` folder);
  2. the cache `data/samples/<file>` in this repository (git-ignored);
  3. a download from `$I3D_SAMPLE_URL` (default: the kinetics-i3d repository on GitHub),
     accepted only if its SHA-256 matches.
"""

import os
import urllib.error
import urllib.request

from common import files

CACHE_DIR = files.repo_path('data', 'samples')
DEFAULT_URL = 'https://raw.githubusercontent.com/google-deepmind/kinetics-i3d/master/data/'
SAMPLES = {
    'rgb': (
        'v_CricketShot_g04_c01_rgb.gif',
        '26502e0daa557579befad05035d4f37c8ee59a7f963e9e06be32477303a23f89',
    ),
    'flow': (
        'v_CricketShot_g04_c01_flow.gif',
        '26ed79904ed0b937aaa321150b19ab08507a4ab47be0305a0a40e613384f2381',
    ),
}
TIMEOUT_S = 30


class SampleError(ValueError):
    """The sample clip could not be found or fetched; the message says what to do."""


def download(url, dest, expected_sha256):
    """Downloads `url` to `dest` atomically, keeping it only if the checksum matches.

    Raises:
      SampleError: on network failure or checksum mismatch (nothing is left at `dest`).
    """
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    try:
        with files.atomic_output(dest) as tmp:
            with open(tmp, 'wb') as out, urllib.request.urlopen(url, timeout=TIMEOUT_S) as r:
                while block := r.read(1 << 16):
                    out.write(block)
            actual = files.sha256(tmp)
            if actual != expected_sha256:
                raise SampleError(
                    f'{url}: checksum mismatch (sha256 {actual}, expected {expected_sha256}); '
                    'refusing the file'
                )
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, 'reason', e)
        raise SampleError(
            f'{url}: download failed ({reason}); set I3D_SAMPLE_DIR to a folder holding '
            f'{os.path.basename(dest)} or pass --video'
        ) from None
    return dest


def sample_path(stream):
    """Local path of the sample clip of `stream` ('rgb' or 'flow'), fetching it if needed.

    Raises:
      SampleError: if it is neither available locally nor downloadable.
    """
    name, expected = SAMPLES[stream]
    local_dir = os.environ.get('I3D_SAMPLE_DIR')
    if local_dir:
        path = os.path.join(local_dir, name)
        if not os.path.isfile(path):
            raise SampleError(f'{path}: not found (I3D_SAMPLE_DIR={local_dir})')
        return path
    path = os.path.join(CACHE_DIR, name)
    if os.path.isfile(path) and files.sha256(path) == expected:
        return path
    base = os.environ.get('I3D_SAMPLE_URL', DEFAULT_URL)
    return download(base.rstrip('/') + '/' + name, path, expected)
