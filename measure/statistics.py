"""FVD's statistics and distances: running moments, the Fréchet distance, KVD, stats files.

The Fréchet distance is TF-GAN's `frechet_classifier_distance_from_activations`, the one
google-research's `frechet_video_distance.py` calls: float64; covariance with the n/(n-1)
factor; Tr√(Σ₁Σ₂) as the trace of the symmetric square root (by SVD, singular values below
1e-10 kept unrooted) of √Σ₁ Σ₂ √Σ₁. Activations are folded into running float64 moments
(count, mean, centred sum of outer products, merged batch by batch with Chan's update), so
memory does not grow with the number of videos.

KVD is the FVD paper's kernel distance: the unbiased MMD² with the cubic polynomial kernel
k(x, y) = (x·y / d + 1)³, averaged over random subsets as KID does.
"""

import dataclasses
import json
import os
import zipfile

import numpy as np

SQRT_EPS = 1e-10  # TF-GAN's _symmetric_matrix_square_root: smaller singular values kept as is
KVD_SUBSETS = 100  # as KID (Bińkowski et al. 2018)
KVD_SUBSET_SIZE = 1000
STATS_FORMAT = 'i3d-fvd-stats/1'


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
    """The Fréchet distance of two `Moments`.

    Raises:
      ValueError: if either has fewer than 2 videos or their dimensions differ.
    """
    if real.mean.shape != fake.mean.shape:
        raise ValueError(f'embeddings of {real.mean.shape[0]} vs {fake.mean.shape[0]} dimensions')
    return frechet_distance(
        real.mean, real.covariance(unbiased), fake.mean, fake.covariance(unbiased)
    )


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
      ValueError: with fewer than 2 rows in either set or mismatched dimensions.
    """
    real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)
    if real.ndim != 2 or fake.ndim != 2 or real.shape[1] != fake.shape[1]:
        raise ValueError(f'KVD needs [n, d] embeddings of one d, got {real.shape}, {fake.shape}')
    size = min(subset_size, len(real), len(fake))
    if size < 2:
        raise ValueError(f'KVD needs at least 2 videos per set, got {len(real)} and {len(fake)}')
    if size == len(real) == len(fake):
        return mmd2_unbiased(real, fake), 0.0
    rng = np.random.default_rng(seed)
    values = [
        mmd2_unbiased(
            real[rng.choice(len(real), size, replace=False)],
            fake[rng.choice(len(fake), size, replace=False)],
        )
        for _ in range(subsets)
    ]
    return float(np.mean(values)), float(np.std(values))


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


def is_stats_file(path):
    """Whether `path` is an .npz written by `save` (not an array of videos)."""
    if not (path.lower().endswith('.npz') and os.path.isfile(path)):
        return False
    try:
        with np.load(path, allow_pickle=False) as data:
            return 'format' in data.files and str(data['format']) == STATS_FORMAT
    except (OSError, ValueError, EOFError, zipfile.BadZipFile):
        return False


def protocol_differences(saved, wanted):
    """['name: saved vs wanted', ...] for every protocol entry that differs."""
    keys = sorted(saved.keys() | wanted.keys())
    return [
        f'{k}: {saved.get(k)!r} vs {wanted.get(k)!r}' for k in keys if saved.get(k) != wanted.get(k)
    ]


def load(path, protocol):
    """Reads a stats file and checks it was made under `protocol`.

    Raises:
      ValueError: naming the file and each protocol difference, or what is damaged.
    """
    try:
        with np.load(path, allow_pickle=False) as data:
            if 'format' not in data.files or str(data['format']) != STATS_FORMAT:
                raise ValueError(f'{path}: not an FVD statistics file (written by --save_stats)')
            saved = json.loads(str(data['protocol']))
            n, mu, sigma = int(data['n']), data['mu'], data['sigma']
            embeddings = data['embeddings'] if 'embeddings' in data.files else None
    except (OSError, KeyError, json.JSONDecodeError, EOFError, zipfile.BadZipFile) as e:
        raise ValueError(f'{path}: unreadable statistics file ({type(e).__name__}: {e})') from None
    except ValueError as e:
        if str(e).startswith(path):
            raise
        raise ValueError(f'{path}: unreadable statistics file ({e})') from None
    differences = protocol_differences(saved, protocol)
    if differences:
        raise ValueError(
            f'{path}: made under another protocol ({"; ".join(differences)}; saved vs now)'
        )
    dim = mu.shape[0] if mu.ndim == 1 else -1
    if n < 2 or mu.ndim != 1 or sigma.shape != (dim, dim) or not np.all(np.isfinite(sigma)):
        raise ValueError(f'{path}: damaged statistics (n={n}, mu {mu.shape}, sigma {sigma.shape})')
    moments = Moments(dim)
    moments.n, moments.mean, moments.m2 = n, mu.astype(np.float64), sigma * (n - 1)
    return Stats(moments, saved, embeddings)
