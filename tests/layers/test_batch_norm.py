"""layers.batch_norm: DeepMind's BatchNorm (Sonnet 1's settings and moving averages) in
Sonnet 2, alone and in the model (the fused training kernel is the unfused function)."""

import numpy as np
import pytest
import tensorflow as tf

import i3d
from layers import batch_norm


def _clip(shape, seed=0):
    return tf.random.stateless_uniform(shape, (seed, 1), -1.0, 1.0)


def _moving(model):
    return [v.numpy().copy() for v in model.variables if 'moving' in v.name]


def test_variables_nest_as_in_deepmind_s_checkpoints_and_start_as_sonnet_1_s():
    """offset (no trainable scale), each moving statistic as Sonnet 2's EMA under its
    name, starting at Sonnet 1's mean 0 and variance 1 with the counter settled."""
    bn = batch_norm.batch_norm()
    bn(_clip((2, 3, 4, 4, 5)), is_training=False)
    assert [(v.name, v.trainable) for v in bn.variables] == [
        ('batch_norm/offset:0', True),
        ('batch_norm/scale:0', False),
        ('batch_norm/moving_mean/counter:0', False),
        ('batch_norm/moving_mean/hidden:0', False),
        ('batch_norm/moving_mean/average:0', False),
        ('batch_norm/moving_variance/counter:0', False),
        ('batch_norm/moving_variance/hidden:0', False),
        ('batch_norm/moving_variance/average:0', False),
    ]
    assert bn._eps == batch_norm.BN_EPS == 1e-3
    for ema, initial in ((bn.moving_mean, 0.0), (bn.moving_variance, 1.0)):
        assert ema._decay == batch_norm.BN_DECAY == 0.999
        assert int(ema._counter) == batch_norm.EMA_SETTLED_COUNTER
        np.testing.assert_array_equal(ema.value, np.full((1, 1, 1, 1, 5), initial, np.float32))


def test_moving_average_is_sonnet_1_s_update_without_debiasing_and_load_sets_it():
    ema = batch_norm.Sonnet1MovingAverage(0.9, 1.0, name='statistic')
    ema.initialize(tf.zeros(3))
    ema(tf.constant([1.0, 3.0, -1.0]))
    np.testing.assert_allclose(ema.value, [1.0, 1.2, 0.8], rtol=1e-6)  # 1 - (1 - x) * 0.1
    ema.load(tf.constant([2.0, 4.0, 6.0]))
    np.testing.assert_array_equal(ema.value, [2.0, 4.0, 6.0])
    ema(tf.zeros(3))
    np.testing.assert_allclose(ema.value, [1.8, 3.6, 5.4], rtol=1e-6)


# (is_training, test_local_stats, collect moments) -> normalized by the batch's moments
# (else the moving ones), moving averages updated.
MODES = {
    'training (fused)': ((True, False, False), True, True),
    'training, moments collected': ((True, False, True), True, True),
    'local statistics': ((False, True, True), True, False),
    'inference': ((False, False, True), False, False),
}


@pytest.mark.parametrize('dtype, rtol', [(tf.float32, 1e-5), (tf.bfloat16, 3e-2)])
@pytest.mark.parametrize('mode', MODES)
def test_each_mode_normalizes_with_its_moments_in_the_input_dtype(mode, dtype, rtol):
    """On the BatchNorm alone: (x - mean) / sqrt(variance + 1e-3) + offset, the moments
    handed to `moments`, and in training the moving averages take the batch mean and biased
    variance (from the moving statistics 0.25 and 4: 0.001 of the way, no debiasing)."""
    (is_training, local, collect), batch, updated = MODES[mode]
    x = tf.cast(_clip((2, 3, 4, 4, 5), seed=1) * 2.0 + 0.5, dtype)
    offset = tf.constant([0.1, -0.2, 0.3, 0.0, 0.5])
    bn = batch_norm.batch_norm()
    bn(x, is_training=False)
    bn.offset.assign(tf.reshape(offset, bn.offset.shape))
    bn.moving_mean.load(tf.fill(bn.moving_mean.value.shape, 0.25))
    bn.moving_variance.load(tf.fill(bn.moving_variance.value.shape, 4.0))
    found = [] if collect else None
    out = bn(x, is_training, local, found)
    x32 = tf.cast(x, tf.float32)
    mean, variance = (
        tf.nn.moments(x32, (0, 1, 2, 3)) if batch else (tf.fill([5], 0.25), tf.fill([5], 4.0))
    )
    expected = (x32 - mean) / tf.sqrt(variance + 1e-3) + offset
    assert out.dtype == dtype
    scale = float(tf.reduce_max(tf.abs(expected)))  # relative to the largest output
    np.testing.assert_allclose(tf.cast(out, tf.float32), expected, atol=rtol * scale)
    if collect:
        assert len(found) == 1
        np.testing.assert_allclose(tf.reshape(found[0][0], [-1]), mean, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(tf.reshape(found[0][1], [-1]), variance, rtol=1e-5)
    moving = [tf.reshape(bn.moving_mean.value, [-1]), tf.reshape(bn.moving_variance.value, [-1])]
    if updated:
        np.testing.assert_allclose(moving[0], 0.25 + (mean - 0.25) * 0.001, rtol=1e-6)
        np.testing.assert_allclose(moving[1], 4.0 + (variance - 4.0) * 0.001, rtol=1e-6)
    else:
        np.testing.assert_array_equal(moving[0], np.full(5, 0.25, np.float32))
        np.testing.assert_array_equal(moving[1], np.full(5, 4.0, np.float32))


def test_batch_norm_train_uses_batch_statistics_and_updates_moving_averages():
    model = i3d.InceptionI3d(final_endpoint='Conv3d_1a_7x7')
    x = _clip((2, 4, 16, 16, 3)) * 3.0 + 0.5
    model(x, is_training=False)  # create variables
    unit = model.layers['Conv3d_1a_7x7']
    unit.batch_norm.offset.assign(tf.fill([64], 0.25))
    before = unit.batch_norm.moving_mean.value.numpy().copy()
    out_train, _ = model(x, is_training=True)
    # Batch statistics: before ReLU each channel is standardized, then offset by 0.25.
    pre = tf.nn.conv3d(x, unit.w, (1, 2, 2, 2, 1), 'SAME')
    mean, var = tf.nn.moments(pre, (0, 1, 2, 3))
    expected = tf.nn.relu((pre - mean) / tf.sqrt(var + 1e-3) + 0.25)
    np.testing.assert_allclose(out_train, expected, atol=1e-4)
    after = unit.batch_norm.moving_mean.value.numpy()
    assert not np.allclose(before, after)
    # Sonnet 1's update from the initial 0: not debiased, one step of (1 - 0.999).
    np.testing.assert_allclose(after.reshape(-1), mean * (1 - 0.999), rtol=1e-4, atol=1e-7)
    # Inference uses the moving statistics and leaves them alone.
    out_eval, _ = model(x, is_training=False)
    np.testing.assert_array_equal(unit.batch_norm.moving_mean.value.numpy(), after)
    moving_var = unit.batch_norm.moving_variance.value.numpy().reshape(-1)
    expected_eval = tf.nn.relu((pre - after.reshape(-1)) / np.sqrt(moving_var + 1e-3) + 0.25)
    np.testing.assert_allclose(out_eval, expected_eval, atol=1e-4)


def _training_step(model, x, weights, unfused):
    """(outputs, gradients, moving statistics) of one training-mode call, traced.

    `unfused`: collect the batch moments, which takes `BatchNorm`'s unfused path (the
    moments of `tf.nn.moments`), instead of the fused kernel the training step uses.
    """

    @tf.function(autograph=False)
    def step():
        with tf.GradientTape() as tape:
            out, _ = model(x, is_training=True, batch_norm_moments=[] if unfused else None)
            loss = tf.reduce_sum(tf.cast(out, tf.float32) * weights)
        return tf.cast(out, tf.float32), tape.gradient(loss, model.trainable_variables)

    out, grads = step()
    return out.numpy(), [g.numpy() for g in grads], _moving(model)


@pytest.mark.parametrize('dtype, rtol', [(tf.float32, 2e-5), (tf.bfloat16, 3e-2)])
def test_fused_training_batch_norm_is_the_unfused_function(dtype, rtol):
    """Outputs, every gradient and the moving averages (which take the biased variance,
    as DeepMind's `tf.nn.moments`, not the kernel's Bessel-corrected one)."""
    x = _clip((2, 8, 32, 32, 3), seed=8) * 2.0 + 0.3
    found = []
    for unfused in (True, False):
        tf.random.set_seed(0)
        model = i3d.InceptionI3d(final_endpoint='Conv3d_2c_3x3', compute_dtype=dtype)
        out, _ = model(x, is_training=False)
        for bn in model.batch_norms:  # zero: the update is then exactly 0.001 x moment
            bn.moving_mean.load(tf.zeros_like(bn.moving_mean.value))
            bn.moving_variance.load(tf.zeros_like(bn.moving_variance.value))
        weights = tf.random.stateless_uniform(out.shape, (3, 4))
        found.append(_training_step(model, x, weights, unfused))
        assert all(v.dtype == tf.float32 for v in model.variables if v.dtype.is_floating)
    (out_a, grads_a, stats_a), (out_b, grads_b, stats_b) = found
    scale = np.abs(out_a).max()
    np.testing.assert_allclose(out_b, out_a, atol=rtol * scale)
    assert len(grads_a) == len(grads_b) == 6
    for a, b in zip(grads_a, grads_b, strict=True):
        np.testing.assert_allclose(b, a, atol=rtol * np.abs(a).max())
    for a, b in zip(stats_a, stats_b, strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-9)
    # Conv3d_1a's moving variance is 0.001 x the biased variance (n = 2 x 4 x 16 x 16).
    model_input = tf.cast(tf.cast(x, dtype), tf.float32)
    unit_w = model.layers['Conv3d_1a_7x7'].w
    pre = tf.nn.conv3d(
        model_input, tf.cast(tf.cast(unit_w, dtype), tf.float32), (1, 2, 2, 2, 1), 'SAME'
    )
    _, variance = tf.nn.moments(tf.cast(tf.cast(pre, dtype), tf.float32), (0, 1, 2, 3))
    moving = model.layers['Conv3d_1a_7x7'].batch_norm.moving_variance.value.numpy().reshape(-1)
    np.testing.assert_allclose(
        moving, 0.001 * variance.numpy(), rtol=1e-4 if dtype == tf.float32 else 2e-2
    )
