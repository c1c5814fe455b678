"""FVD's statistics and distances: running moments, the Fréchet distance, KVD, stats files.

The Fréchet distance is TF-GAN's `frechet_classifier_distance_from_activations`, the one
google-research's `frechet_video_distance.py` calls: float64; covariance with the n/(n-1)
factor; Tr√(Σ₁Σ₂) as the trace of the symmetric square root (by SVD, singular values below
1e-10 kept unrooted) of √Σ₁ Σ₂ √Σ₁. Activations are folded into running float64 moments
(count, mean, centred sum of outer products, merged batch by batch with Chan's update), so
memory does not grow with the number of videos.

KVD is the FVD paper's kernel distance: the unbiased MMD² with the cubic polynomial kernel
k(x, y) = (x·y / d + 1)³, averaged over random subsets as KID does.

A distance that is not a finite number is an error, never a result; so is a statistics
file whose arrays do not fit together (see `load`).
"""

import dataclasses
import json
import math
import zipfile

import numpy as np

SQRT_EPS = 1e-10  # TF-GAN's _symmetric_matrix_square_root: smaller singular values kept as is
KVD_SUBSETS = 100  # as KID (Bińkowski et al. 2018)
KVD_SUBSET_SIZE = 1000
FORMAT_NAME = 'i3d-fvd-stats/'
STATS_FORMAT = FORMAT_NAME + '1'
# A Fréchet distance below 0 is rounding: for identical sets, Tr√(Σ₁Σ₂) comes out above
# Tr Σ by up to ~√eps·λ per rooted rounding-noise eigenvalue (measured: 2.5e-9 of
# Tr Σ₁ + Tr Σ₂ at 16 videos x 400 dimensions). Down to this fraction of the traces it is
# reported as 0; further down it is a bug, not a distance.
NEGATIVE_ROUNDING = 1e-5
# Loading a stats file: Σ's asymmetry and most negative eigenvalue (relative to its largest)
# that rounding explains; the embeddings' own mean and covariance must match μ and Σ to
# this fraction of their scale (float32 rows of float64 moments differ by ~6e-8 of it).
SYMMETRY_TOLERANCE = 1e-9
EIGENVALUE_TOLERANCE = 1e-9
EMBEDDING_TOLERANCE = 1e-5


class Moments:
    """Running count, mean and centred second moment of D-dimensional activations (float64)."""

    def __init__(self, dim):
        self.n = 0
        self.mean = np.zeros(dim, np.float64)
        self.m2 = np.zeros((dim, dim), np.float64)  # sum of (x - mean)(x - mean)^T

    def add(self, activations):
        """Folds a [B, D] batch in (Chan et al.'s parallel update: exact, stable)."""
        x = np.asarray(activations, np.float64)
        if x.ndim != 2 or x.shape[1] != self.mean.shape[0]:
            raise ValueError(f'expected activations [batch, {self.mean.shape[0]}], got {x.shape}')
        if not np.all(np.isfinite(x)):
            raise ValueError('activations are not finite')
        count = x.shape[0]
        if count == 0:
            return self
        mean = x.mean(axis=0)
        centred = x - mean
        m2 = centred.T @ centred
        total = self.n + count
        delta = mean - self.mean
        self.m2 += m2 + np.outer(delta, delta) * (self.n * count / total)
        self.mean += delta * (count / total)
        self.n = total
        return self

    def covariance(self, unbiased=True):
        """Σ: the sample covariance with the n/(n-1) factor (TF-GAN), or biased (/n).

        Raises:
          ValueError: with fewer than 2 activations (no covariance).
        """
        if self.n < 2:
            raise ValueError(f'{self.n} video(s): a covariance needs at least 2')
        return self.m2 / (self.n - 1 if unbiased else self.n)


def symmetric_sqrt(matrix, eps=SQRT_EPS):
    """TF-GAN's symmetric square root: U diag(√s) Vᵀ from the SVD, s < eps kept unrooted."""
    u, s, vh = np.linalg.svd(matrix)
    root = np.where(s < eps, s, np.sqrt(s))
    return (u * root) @ vh


def trace_sqrt_product(sigma1, sigma2):
    """Tr √(Σ₁ Σ₂), computed as TF-GAN does: Tr √(√Σ₁ Σ₂ √Σ₁)."""
    root = symmetric_sqrt(sigma1)
    return np.trace(symmetric_sqrt(root @ sigma2 @ root))


def frechet_distance(mu1, sigma1, mu2, sigma2):
    """‖μ₁ − μ₂‖² + Tr(Σ₁ + Σ₂) − 2 Tr √(Σ₁ Σ₂), in float64."""
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    sigma1, sigma2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
    trace = np.trace(sigma1) + np.trace(sigma2) - 2.0 * trace_sqrt_product(sigma1, sigma2)
    return float(np.sum((mu1 - mu2) ** 2) + trace)


def fvd(real, fake, unbiased=True):
    """The Fréchet distance of two `Moments`; a tiny negative (rounding) is reported as 0.

    Raises:
      ValueError: if either has fewer than 2 videos, their dimensions differ, or the
        distance is not finite or negative beyond rounding.
    """
    if real.mean.shape != fake.mean.shape:
        raise ValueError(f'embeddings of {real.mean.shape[0]} vs {fake.mean.shape[0]} dimensions')
    sigma1, sigma2 = real.covariance(unbiased), fake.covariance(unbiased)
    with np.errstate(over='ignore', invalid='ignore'):  # checked below, in one line
        value = frechet_distance(real.mean, sigma1, fake.mean, sigma2)
        traces = float(np.trace(sigma1) + np.trace(sigma2))
    if not math.isfinite(value):
        raise ValueError(f'FVD is {value}, not a number: the statistics exceed float64')
    if value < -NEGATIVE_ROUNDING * traces:
        raise ValueError(
            f'FVD is {value:.6g}, negative beyond rounding (Tr Σ₁ + Tr Σ₂ = {traces:.6g})'
        )
    return max(value, 0.0) + 0.0  # + 0.0: never -0.0


def _polynomial_kernel(x, y):
    return (x @ y.T / x.shape[1] + 1.0) ** 3


def mmd2_unbiased(x, y):
    """Unbiased MMD² of two samples (each at least 2 rows) under the cubic polynomial kernel."""
    m, n = x.shape[0], y.shape[0]
    kxx, kyy, kxy = _polynomial_kernel(x, x), _polynomial_kernel(y, y), _polynomial_kernel(x, y)
    within_x = (kxx.sum() - np.trace(kxx)) / (m * (m - 1))
    within_y = (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
    return float(within_x + within_y - 2.0 * kxy.mean())


def kvd(real, fake, subsets=KVD_SUBSETS, subset_size=KVD_SUBSET_SIZE, seed=0):
    """(mean, std) of the unbiased MMD² over `subsets` random subsets, as KID computes it.

    Each subset draws min(subset_size, n_real, n_fake) rows from each set without
    replacement; when that is every row of both sets, one exact value is returned (std 0).

    Raises:
      ValueError: with fewer than 2 rows in either set, mismatched dimensions, or a
        result that is not finite.
    """
    real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)
    if real.ndim != 2 or fake.ndim != 2 or real.shape[1] != fake.shape[1]:
        raise ValueError(f'KVD needs [n, d] embeddings of one d, got {real.shape}, {fake.shape}')
    size = min(subset_size, len(real), len(fake))
    if size < 2:
        raise ValueError(f'KVD needs at least 2 videos per set, got {len(real)} and {len(fake)}')
    rng = np.random.default_rng(seed)
    with np.errstate(over='ignore', invalid='ignore'):  # checked below, in one line
        if size == len(real) == len(fake):
            values = [mmd2_unbiased(real, fake)]
        else:
            values = [
                mmd2_unbiased(
                    real[rng.choice(len(real), size, replace=False)],
                    fake[rng.choice(len(fake), size, replace=False)],
                )
                for _ in range(subsets)
            ]
        mean, std = float(np.mean(values)), float(np.std(values))
    if not (math.isfinite(mean) and math.isfinite(std)):
        raise ValueError(f'KVD is {mean}, not a number: the embeddings exceed float64')
    return mean, std


@dataclasses.dataclass
class Stats:
    """A set's statistics, the protocol that made them and (for KVD) its embeddings."""

    moments: Moments
    protocol: dict
    embeddings: np.ndarray | None = None


def save(path, stats):
    """Writes μ, Σ (unbiased), n, the protocol and any embeddings to `path` (.npz), atomically.

    Raises:
      ValueError: with fewer than 2 videos.
    """
    from common import files

    moments = stats.moments
    arrays = {
        'format': np.array(STATS_FORMAT),
        'protocol': np.array(json.dumps(stats.protocol, sort_keys=True)),
        'n': np.array(moments.n, np.int64),
        'mu': moments.mean,
        'sigma': moments.covariance(unbiased=True),
    }
    if stats.embeddings is not None:
        arrays['embeddings'] = np.asarray(stats.embeddings, np.float32)
    with files.atomic_output(path) as tmp, open(tmp, 'wb') as f:
        np.savez(f, **arrays)
    return path


def holds_statistics(data):
    """Whether an open .npz (`np.load`) is a statistics file, by its `format` member."""
    if 'format' not in data.files:
        return False
    name = data['format']
    return name.ndim == 0 and name.dtype.kind == 'U' and str(name).startswith(FORMAT_NAME)


def protocol_differences(saved, wanted):
    """['name: saved vs wanted', ...] for every protocol entry that differs."""
    keys = sorted(saved.keys() | wanted.keys())
    return [
        f'{k}: {saved.get(k)!r} vs {wanted.get(k)!r}' for k in keys if saved.get(k) != wanted.get(k)
    ]


def check_protocol(path, stats, protocol):
    """Refuses `stats` (read from `path`) unless they were made under `protocol`.

    Raises:
      ValueError: naming the file and each difference.
    """
    differences = protocol_differences(stats.protocol, protocol)
    if differences:
        raise ValueError(
            f'{path}: made under another protocol ({"; ".join(differences)}; saved vs now)'
        )
    return stats


def read(path):
    """Reads a stats file and checks that its arrays fit together (see `check_arrays`);
    the protocol is checked by `check_protocol` (it needs the model's weights).

    Raises:
      ValueError: naming the file and what is damaged.
    """
    try:
        with np.load(path, allow_pickle=False) as data:
            if not holds_statistics(data):
                raise ValueError(f'{path}: not an FVD statistics file (written by --save_stats)')
            if str(data['format']) != STATS_FORMAT:
                raise ValueError(
                    f'{path}: statistics of format {data["format"]}; this version reads '
                    f'{STATS_FORMAT}'
                )
            saved = json.loads(str(data['protocol']))
            n, mu, sigma = data['n'], data['mu'], data['sigma']
            embeddings = data['embeddings'] if 'embeddings' in data.files else None
    except (OSError, KeyError, json.JSONDecodeError, EOFError, zipfile.BadZipFile) as e:
        raise ValueError(f'{path}: unreadable statistics file ({type(e).__name__}: {e})') from None
    except ValueError as e:
        if str(e).startswith(path):
            raise
        raise ValueError(f'{path}: unreadable statistics file ({e})') from None
    if not isinstance(saved, dict):
        raise ValueError(f'{path}: damaged statistics (protocol is not a mapping)')
    try:
        moments = check_arrays(n, mu, sigma, embeddings)
    except ValueError as e:
        raise ValueError(f'{path}: damaged statistics ({e})') from None
    return Stats(moments, saved, embeddings)


def load(path, protocol):
    """Reads a stats file, checks its arrays and that it was made under `protocol`.

    Raises:
      ValueError: naming the file and each protocol difference, or what is damaged.
    """
    return check_protocol(path, read(path), protocol)


def _is_float_array(a, ndim):
    return a.ndim == ndim and a.dtype.kind == 'f'


def check_arrays(n, mu, sigma, embeddings=None):
    """The `Moments` of a stats file's arrays, if they can be what `save` wrote.

    Checks: n an integer >= 2; μ [d] and Σ [d, d] finite floats; Σ symmetric and positive
    semi-definite up to rounding; embeddings (if any) [n, d] finite, their own mean and
    covariance μ and Σ (which is what ties n to the data: an edited n no longer matches).

    Raises:
      ValueError: saying which check failed.
    """
    if n.ndim != 0 or n.dtype.kind not in 'iu':
        raise ValueError(f'n is {n.dtype} {n.shape}, not an integer')
    n = int(n)
    if n < 2:
        raise ValueError(f'n={n}: at least 2 videos')
    if not _is_float_array(mu, 1) or mu.shape[0] < 1:
        raise ValueError(f'mu is {mu.dtype} {mu.shape}, not a vector')
    dim = mu.shape[0]
    if not _is_float_array(sigma, 2) or sigma.shape != (dim, dim):
        raise ValueError(f'sigma is {sigma.dtype} {sigma.shape} for mu {mu.shape}')
    for name, array in (('mu', mu), ('sigma', sigma), ('embeddings', embeddings)):
        if array is not None and not np.all(np.isfinite(array)):
            raise ValueError(f'{name} is not finite')
    mu, sigma = mu.astype(np.float64), sigma.astype(np.float64)
    _check_covariance(sigma)
    if embeddings is not None:
        _check_embeddings(n, mu, sigma, embeddings)
    moments = Moments(dim)
    moments.n, moments.mean, moments.m2 = n, mu, sigma * (n - 1)
    return moments


def _check_covariance(sigma):
    scale = float(np.max(np.abs(sigma)))
    if np.max(np.abs(sigma - sigma.T)) > SYMMETRY_TOLERANCE * scale:
        raise ValueError('sigma is not symmetric')
    eigenvalues = np.linalg.eigvalsh(sigma)  # ascending
    if eigenvalues[0] < -EIGENVALUE_TOLERANCE * max(eigenvalues[-1], 0.0):
        raise ValueError(
            f'sigma is not positive semi-definite (eigenvalue {eigenvalues[0]:.3g}, '
            f'largest {eigenvalues[-1]:.3g})'
        )


def _check_embeddings(n, mu, sigma, embeddings):
    if not _is_float_array(embeddings, 2) or embeddings.shape[1:] != mu.shape:
        raise ValueError(f'embeddings are {embeddings.dtype} {embeddings.shape} for mu {mu.shape}')
    if embeddings.shape[0] != n:
        raise ValueError(f'n={n} but {embeddings.shape[0]} embeddings')
    rows = embeddings.astype(np.float64)
    mean = rows.mean(axis=0)
    centred = rows - mean
    size, spread = float(np.max(np.abs(rows))), float(np.max(np.abs(centred)))
    if np.max(np.abs(mean - mu)) > EMBEDDING_TOLERANCE * size:
        raise ValueError('mu is not the mean of the embeddings')
    covariance = centred.T @ centred / (n - 1)
    if np.max(np.abs(covariance - sigma)) > EMBEDDING_TOLERANCE * size * spread:
        raise ValueError('sigma is not the covariance of the embeddings')
