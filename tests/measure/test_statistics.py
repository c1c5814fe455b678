"""measure/statistics.py: TF-GAN's Fréchet distance, running moments, KVD, stats files."""

import json

import numpy as np
import pytest
import tensorflow as tf

from measure import sources, statistics

PROTOCOL = {'frames': 16, 'resize': 'legacy bilinear 224x224', 'weights_sha256': 'ab'}


def _tfgan_reference(x, y):
    """TF-GAN's frechet_classifier_distance_from_activations, written out in TensorFlow ops
    (float64, n/(n-1) covariance, SVD square roots with eps 1e-10) as an independent check."""

    def sqrtm(mat):
        s, u, v = tf.linalg.svd(mat)
        si = tf.where(s < 1e-10, s, tf.sqrt(s))
        return u @ tf.linalg.diag(si) @ tf.transpose(v)

    def stats(a):
        a = tf.constant(a, tf.float64)
        n = tf.cast(tf.shape(a)[0], tf.float64)
        m = tf.reduce_mean(a, axis=0)
        c = a - m
        return m, tf.transpose(c) @ c / (n - 1)

    (m1, s1), (m2, s2) = stats(x), stats(y)
    root = sqrtm(s1)
    trace_sqrt = tf.linalg.trace(sqrtm(root @ s2 @ root))
    value = tf.linalg.trace(s1) + tf.linalg.trace(s2) - 2 * trace_sqrt
    return float(value + tf.reduce_sum((m1 - m2) ** 2))


def _moments(x, chunks=1):
    moments = statistics.Moments(x.shape[1])
    for part in np.array_split(x, chunks):
        moments.add(part)
    return moments


def test_frechet_distance_matches_tfgan_written_in_tf():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(40, 6)), rng.normal(1.0, 2.0, size=(30, 6))
    got = statistics.fvd(_moments(x), _moments(y))
    assert got == pytest.approx(_tfgan_reference(x, y), rel=1e-9)


def test_running_moments_equal_the_direct_mean_and_covariance():
    x = np.random.default_rng(1).normal(5.0, 3.0, size=(37, 5))
    moments = _moments(x, chunks=6)  # uneven batches, one of them single rows
    assert moments.n == 37
    np.testing.assert_allclose(moments.mean, x.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(moments.covariance(), np.cov(x, rowvar=False), rtol=1e-10)
    np.testing.assert_allclose(
        moments.covariance(unbiased=False), np.cov(x, rowvar=False, bias=True), rtol=1e-10
    )


def test_fvd_of_a_set_with_itself_is_zero_and_the_distance_is_symmetric():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(50, 8)), rng.normal(0.5, 1.5, size=(45, 8))
    assert abs(statistics.fvd(_moments(x), _moments(x))) < 1e-8
    assert statistics.fvd(_moments(x), _moments(y)) == pytest.approx(
        statistics.fvd(_moments(y), _moments(x)), rel=1e-9
    )


def test_biased_covariance_scales_sigma_by_n_minus_1_over_n():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    a, b = _moments(x), _moments(y)
    expected = statistics.frechet_distance(
        x.mean(0), np.cov(x, rowvar=False, bias=True), y.mean(0), np.cov(y, rowvar=False, bias=True)
    )
    assert statistics.fvd(a, b, unbiased=False) == pytest.approx(expected, rel=1e-10)
    assert statistics.fvd(a, b, unbiased=False) != pytest.approx(statistics.fvd(a, b))


def test_one_video_has_no_covariance():
    with pytest.raises(ValueError, match='1 video.*at least 2'):
        statistics.fvd(_moments(np.zeros((1, 3))), _moments(np.ones((5, 3))))


def test_non_finite_activations_are_refused():
    with pytest.raises(ValueError, match='not finite'):
        statistics.Moments(2).add(np.array([[1.0, np.nan]]))


def test_kvd_on_known_cases():
    # d = 1: k(a, b) = (ab + 1)^3. X = {0, 1}, Y = {0, 2}.
    x, y = np.array([[0.0], [1.0]]), np.array([[0.0], [2.0]])
    kxx = 2 * 1.0  # k(0,1) + k(1,0), off-diagonal
    kyy = 2 * 1.0  # k(0,2) + k(2,0)
    kxy = 1.0 + 1.0 + 1.0 + 27.0  # k(0,0) k(0,2) k(1,0) k(1,2)
    expected = kxx / 2 + kyy / 2 - 2 * kxy / 4
    assert statistics.kvd(x, y) == (pytest.approx(expected), 0.0)
    # Subsets of one set against itself: an unbiased estimate of zero.
    z = np.random.default_rng(4).normal(size=(400, 10))
    mean, std = statistics.kvd(z[:200], z[200:], subsets=20, subset_size=100)
    assert abs(mean) < 3 * std + 1e-3 and std > 0
    # A shifted set is far.
    assert statistics.kvd(z[:200], z[200:] + 2.0, subsets=5, subset_size=100)[0] > 1.0
    with pytest.raises(ValueError, match='at least 2 videos'):
        statistics.kvd(x[:1], y)


def test_stats_file_round_trip_gives_the_same_distance(tmp_path):
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(20, 4)), rng.normal(1.0, size=(25, 4))
    path = str(tmp_path / 'real.npz')
    statistics.save(path, statistics.Stats(_moments(x), PROTOCOL, x))
    assert sources.classify(path) == sources.STATISTICS
    loaded = statistics.load(path, PROTOCOL)
    assert loaded.moments.n == 20
    assert statistics.fvd(loaded.moments, _moments(y)) == pytest.approx(
        statistics.fvd(_moments(x), _moments(y)), rel=1e-12
    )
    np.testing.assert_allclose(loaded.embeddings, x.astype(np.float32))


def test_stats_of_another_protocol_are_refused_naming_the_difference(tmp_path):
    path = str(tmp_path / 'real.npz')
    statistics.save(path, statistics.Stats(_moments(np.eye(3)), PROTOCOL))
    other = PROTOCOL | {'resize': 'half_pixel bilinear 224x224', 'frames': 8}
    with pytest.raises(ValueError, match=r'another protocol \(frames: 16 vs 8; resize:'):
        statistics.load(path, other)


def test_damaged_or_foreign_stats_files_are_refused(tmp_path):
    path = tmp_path / 'real.npz'
    statistics.save(str(path), statistics.Stats(_moments(np.eye(3)), PROTOCOL))
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(ValueError, match='unreadable statistics file'):
        statistics.load(str(path), PROTOCOL)
    foreign = tmp_path / 'videos.npz'
    np.savez(foreign, videos=np.zeros((2, 1, 1, 1, 3), np.uint8))
    assert sources.classify(str(foreign)) == sources.ARRAY
    with pytest.raises(ValueError, match='not an FVD statistics file'):
        statistics.load(str(foreign), PROTOCOL)
    tampered = tmp_path / 'tampered.npz'
    np.savez(
        tampered,
        format=np.array(statistics.STATS_FORMAT),
        protocol=np.array(json.dumps(PROTOCOL)),
        n=np.array(1),
        mu=np.zeros(3),
        sigma=np.zeros((3, 3)),
    )
    with pytest.raises(ValueError, match='damaged statistics'):
        statistics.load(str(tampered), PROTOCOL)


def test_identical_sets_give_zero_not_a_rounding_negative():
    # 2 videos x 400 dimensions (rank 1): Tr√(Σ₁Σ₂) rounds above Tr Σ, by 1.6e-8 of it.
    rng = np.random.default_rng(0)
    x = (rng.normal(size=(2, 400)) * rng.uniform(0.1, 1, 400) * 3).astype(np.float32)
    m = _moments(x)
    raw = statistics.frechet_distance(m.mean, m.covariance(), m.mean, m.covariance())
    assert raw < 0  # what the clamp is for
    value = statistics.fvd(m, m)
    assert value == 0.0 and f'{value:.4f}' == '0.0000'
    # A negative beyond rounding is a bug (here: a covariance that is not PSD), not 0.
    broken, fine = statistics.Moments(2), statistics.Moments(2)
    broken.n, broken.m2 = 3, np.diag([-2.0, 2.0])
    fine.n, fine.m2 = 3, np.diag([2.0, 2.0])
    with pytest.raises(ValueError, match=r'FVD is -2, negative beyond rounding \(Tr Σ₁ \+ Tr Σ₂'):
        statistics.fvd(broken, fine)


def test_distances_that_are_not_numbers_are_errors():
    far = _moments(np.eye(3))
    far.mean = np.full(3, 1e200)
    with pytest.raises(ValueError, match='FVD is inf, not a number'):
        statistics.fvd(far, _moments(np.eye(3)))
    x = np.random.default_rng(6).normal(size=(4, 3))
    with pytest.raises(ValueError, match='KVD is nan, not a number'):
        statistics.kvd(x * 1e110, x)


def _saved_arrays(tmp_path, rows):
    """The arrays `save` writes for `rows` (embeddings kept)."""
    path = str(tmp_path / 'saved.npz')
    statistics.save(path, statistics.Stats(_moments(rows), PROTOCOL, rows))
    with np.load(path) as data:
        return dict(data)


ROWS = np.random.default_rng(8).normal(3.0, 2.0, size=(4, 3))
MU = ROWS.mean(axis=0)
SIGMA = np.cov(ROWS, rowvar=False)


@pytest.mark.parametrize(
    'changes, problem',
    [
        (dict(mu=np.array([np.nan, 0.0, 0.0])), 'mu is not finite'),
        (dict(sigma=np.full((3, 3), np.inf)), 'sigma is not finite'),
        (dict(embeddings=np.where(np.eye(4, 3) > 0, np.nan, ROWS)), 'embeddings is not finite'),
        (dict(embeddings=ROWS[:2]), 'n=4 but 2 embeddings'),
        (dict(n=np.array(1_000_000)), 'n=1000000 but 4 embeddings'),
        (dict(n=np.array(4.5)), r'n is float64 \(\), not an integer'),
        (dict(n=np.array(1)), 'n=1: at least 2 videos'),
        (dict(mu=np.zeros((1, 3))), r'mu is float64 \(1, 3\), not a vector'),
        (dict(sigma=np.eye(4)), r'sigma is float64 \(4, 4\) for mu \(3,\)'),
        (dict(sigma=SIGMA + np.triu(np.ones((3, 3)), 1)), 'sigma is not symmetric'),
        (dict(sigma=SIGMA - 10 * np.eye(3)), 'sigma is not positive semi-definite'),
        (dict(mu=MU + 0.1), 'mu is not the mean of the embeddings'),
        (dict(sigma=SIGMA * 1.01), 'sigma is not the covariance of the embeddings'),
        (dict(embeddings=ROWS[:, :2]), r'embeddings are float64 \(4, 2\) for mu \(3,\)'),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_stats_files_whose_arrays_disagree_are_refused(tmp_path, changes, problem):
    arrays = _saved_arrays(tmp_path, ROWS)
    np.savez(tmp_path / 'edited.npz', **arrays | changes)
    with pytest.raises(ValueError, match=rf'edited\.npz: damaged statistics \({problem}'):
        statistics.load(str(tmp_path / 'edited.npz'), PROTOCOL)


def test_legitimate_stats_files_load(tmp_path):
    # Rank-deficient (2 videos, 400 dimensions), far from 0 relative to their spread,
    # float64 rows saved as float32 embeddings, batches folded one at a time: all
    # rounding, none of it damage.
    rng = np.random.default_rng(9)
    cases = [
        (rng.normal(size=(2, 400)) * 5).astype(np.float32),
        rng.normal(1000.0, 1e-3, size=(5, 8)),
        rng.normal(size=(300, 400)),
    ]
    for number, rows in enumerate(cases):
        path = str(tmp_path / f'{number}.npz')
        moments = _moments(rows, chunks=max(1, len(rows) // 7))
        statistics.save(path, statistics.Stats(moments, PROTOCOL, rows))
        loaded = statistics.load(path, PROTOCOL)
        assert loaded.moments.n == len(rows)
        np.testing.assert_array_equal(loaded.moments.mean, moments.mean)
        statistics.save(path, statistics.Stats(moments, PROTOCOL))  # without embeddings
        assert statistics.load(path, PROTOCOL).embeddings is None
