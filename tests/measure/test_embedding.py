"""measure/embedding.py: the legacy resize rule, the embedding = the model's time-averaged
logits of the reference preprocessing, batch independence, input checks."""

import numpy as np
import pytest
import tensorflow as tf

import i3d
import model_io
from measure import embedding


def test_legacy_resize_is_tf1s_rule_by_hand():
    # 2x2 -> 4x4. Legacy: source = output x 0.5 -> 0, 0.5, 1, 1.5 (clamped to 1), so each axis
    # weighs the second pixel 0, 0.5, 1, 1. Half-pixel: source = (x + 0.5) x 0.5 - 0.5 ->
    # -0.25 (clamped), 0.25, 0.75, 1.25 (clamped): weights 0, 0.25, 0.75, 1.
    image = np.array([[0.0, 4.0], [8.0, 12.0]])[..., None]  # value = 4 col + 8 row

    def expected(w):
        w = np.array(w)
        return (8 * w[:, None] + 4 * w[None, :])[..., None]

    legacy = embedding.resize(image, 'legacy', size=4).numpy()
    np.testing.assert_allclose(legacy, expected([0, 0.5, 1, 1]), atol=1e-6)
    half = embedding.resize(image, 'half_pixel', size=4).numpy()
    np.testing.assert_allclose(half, expected([0, 0.25, 0.75, 1]), atol=1e-6)
    # TF 2's tf.image.resize (the half-pixel rule) is not the reference's.
    np.testing.assert_allclose(tf.image.resize(image, [4, 4]).numpy(), half, atol=1e-6)


def test_legacy_resize_equals_tf1_resize_bilinear_on_a_video():
    frames = np.random.default_rng(0).integers(0, 256, (2, 3, 37, 50, 3), dtype=np.uint8)
    ours = embedding.resize(frames, 'legacy').numpy()
    tf1 = tf.compat.v1.image.resize_bilinear(frames.reshape(6, 37, 50, 3), [224, 224])
    np.testing.assert_array_equal(ours, tf1.numpy().reshape(2, 3, 224, 224, 3))


@pytest.fixture(scope='module')
def embedder(rgb_weights):
    return embedding.Embedder(rgb_weights, num_frames=1)


def test_embedding_is_the_time_averaged_logits_of_the_reference_preprocessing(
    embedder, rgb_weights
):
    video = np.random.default_rng(1).integers(0, 256, (3, 40, 30, 3), dtype=np.uint8)
    got = embedder([embedder.check(video, 'v')])
    model, _ = model_io.load(rgb_weights)
    x = tf.compat.v1.image.resize_bilinear(video[:1], [224, 224]) * 2.0 / 255.0 - 1.0
    logits = model(x[None], is_training=False)[0].numpy()
    np.testing.assert_allclose(got, logits, rtol=1e-5, atol=1e-5)
    assert got.dtype == np.float64 and got.shape == (1, 400)


def test_batched_embeddings_equal_one_at_a_time(embedder):
    rng = np.random.default_rng(2)
    videos = [rng.integers(0, 256, (1, h, w, 3), dtype=np.uint8) for h, w in ((20, 30), (7, 9))]
    together = embedder(videos)
    alone = np.concatenate([embedder([v]) for v in videos])
    np.testing.assert_allclose(together, alone, rtol=1e-5, atol=1e-5)


def test_bad_videos_are_refused_naming_them(rgb_weights):
    embedder = embedding.Embedder(rgb_weights, num_frames=4)
    with pytest.raises(ValueError, match=r'clip\.mp4: 3 frames, shorter than --num_frames=4'):
        embedder.check(np.zeros((3, 8, 8, 3), np.uint8), 'clip.mp4')
    with pytest.raises(ValueError, match='clip: expected uint8 RGB frames'):
        embedder.check(np.zeros((4, 8, 8, 3), np.float32), 'clip')
    assert embedder.check(np.zeros((9, 8, 8, 3), np.uint8), 'clip').shape == (4, 8, 8, 3)
    assert embedder.protocol['frames'] == 4
    assert embedder.protocol['resize'] == 'legacy bilinear 224x224'


def test_weights_digest_follows_the_values(rgb_weights):
    model, _ = model_io.load(rgb_weights, final_endpoint='Conv3d_1a_7x7')
    before = embedding.weights_digest(model)
    assert before == embedding.weights_digest(model)
    unit = model.layers['Conv3d_1a_7x7']
    unit.w.assign_add(tf.ones_like(unit.w) * 1e-3)
    assert embedding.weights_digest(model) != before


@pytest.mark.slow
def test_input_range_of_the_reference_example(rgb_weights):
    """google-research's example.py (0 vs 255, 15 x 64x64): 133.91 with the reference's
    2x/255 - 1; TF's tutorial range [0, 1] (x/255) gives 162.72; the export's former
    `default`, which rescaled [0, 1] inputs, fed FVD's [-1, 1] (so 4x/255 - 3) gave 10301."""
    model, _ = model_io.load(rgb_weights)
    videos = np.stack(
        [np.zeros((15, 64, 64, 3), np.uint8), np.full((15, 64, 64, 3), 255, np.uint8)]
    )
    resized = embedding.resize(videos, 'legacy')
    got = {}
    for name, scale, shift in (
        ('reference', 2 / 255, -1),
        ('tutorial', 1 / 255, 0),
        ('old', 4 / 255, -3),
    ):
        zero, full = model(resized * scale + shift, is_training=False)[0].numpy().astype(np.float64)
        got[name] = np.sum((zero - full) ** 2)  # both sets have zero covariance
    assert got['reference'] == pytest.approx(133.908, abs=2e-3)  # Eigen .9082, oneDNN .9089
    assert got['tutorial'] == pytest.approx(162.720, abs=1e-2)
    assert got['old'] == pytest.approx(10301.4, abs=0.5)


def test_a_flow_checkpoint_is_refused_before_its_weights_are_read(tmp_path):
    model = model_io.build(i3d.InceptionI3d(final_endpoint='Conv3d_1a_7x7'), 2)
    prefix = model_io.save(model, str(tmp_path / 'flow'))
    with pytest.raises(ValueError, match=r'flow: takes 2-channel input \(for the flow stream\)'):
        embedding.Embedder(prefix)
