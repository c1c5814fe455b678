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
