"""training.forward walks the same network as InceptionI3d.__call__."""

import numpy as np
import tensorflow as tf

import i3d
import model_io
from training import forward


def _model():
    tf.random.set_seed(0)
    return model_io.build(i3d.InceptionI3d(num_classes=5), 3)


def test_matches_the_model_in_both_batch_norm_modes():
    model = _model()
    clips = tf.random.stateless_uniform((2, 8, 32, 32, 3), (1, 2), -1, 1)
    inference, _ = model(clips, is_training=False)
    np.testing.assert_allclose(forward.logits(model, clips, forward.FROZEN), inference, atol=1e-5)
    training_mode = tf.function(lambda x: model(x, is_training=True)[0])(clips)
    ours = tf.function(lambda x: forward.logits(model, x, forward.TRAIN))(clips)
    np.testing.assert_allclose(ours, training_mode, atol=1e-4)
    assert float(tf.reduce_max(tf.abs(training_mode - inference))) > 1e-3  # modes differ


def test_dropout_depends_only_on_its_seed():
    model = _model()
    clips = tf.random.stateless_uniform((2, 8, 32, 32, 3), (3, 4), -1, 1)
    run = lambda seed: forward.logits(model, clips, forward.FROZEN, 0.5, seed).numpy()  # noqa: E731
    np.testing.assert_array_equal(run((7, 1)), run((7, 1)))
    assert np.abs(run((7, 1)) - run((7, 2))).max() > 1e-4


def test_bfloat16_compute_keeps_variables_gradients_and_statistics_float32():
    tf.random.set_seed(0)
    model = model_io.build(i3d.InceptionI3d(num_classes=5, compute_dtype=tf.bfloat16), 3)
    clips = tf.random.stateless_uniform((2, 8, 32, 32, 3), (5, 6), -1, 1)
    unit = model.layers['Conv3d_1a_7x7']
    before = unit.batch_norm.moving_mean.value.numpy().copy()
    with tf.GradientTape() as tape:
        logits = forward.logits(model, clips, forward.TRAIN)
        loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits([1, 3], logits))
    grads = tape.gradient(loss, model.trainable_variables)
    assert logits.dtype == tf.float32
    assert all(v.dtype == tf.float32 for v in model.variables if v.dtype.is_floating)
    assert all(g is not None and g.dtype == tf.float32 for g in grads)
    after = unit.batch_norm.moving_mean.value
    assert after.dtype == tf.float32 and not np.allclose(after.numpy(), before)
