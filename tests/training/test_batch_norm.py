"""training.batch_norm: precise BN re-estimation and replica-consistent variables."""

import numpy as np
import pytest
import tensorflow as tf

import i3d
import model_io
from training import batch_norm


@pytest.mark.slow
def test_precise_bn_makes_inference_equal_training_mode_on_that_batch():
    tf.random.set_seed(1)
    strategy = tf.distribute.OneDeviceStrategy('/cpu:0')
    with strategy.scope():
        model = model_io.build(i3d.InceptionI3d(num_classes=4), 2)
    clips = tf.random.stateless_uniform((3, 8, 32, 32, 2), (1, 1), -1, 1)
    training = model(clips, is_training=True)[0].numpy()
    before = model(clips, is_training=False)[0].numpy()
    assert np.abs(before - training).max() > 0.1  # initial statistics (0, 1) do not match
    # Two batches, each this batch: the average of their moments is its moments.
    updated = batch_norm.precise_bn(model, strategy, iter([clips, clips]), 2)
    assert updated == 57
    after = model(clips, is_training=False)[0].numpy()
    np.testing.assert_allclose(after, training, rtol=1e-3, atol=1e-3)


def test_replica_consistent_variables_aggregate_non_trainable_only():
    strategy = tf.distribute.MirroredStrategy(['/cpu:0'])
    with strategy.scope(), batch_norm.replica_consistent_variables():
        statistic = tf.Variable(1.0, trainable=False)
        counter = tf.Variable(0, trainable=False, dtype=tf.int64)
        weight = tf.Variable(1.0)
    assert statistic.aggregation == tf.VariableAggregation.MEAN
    assert counter.aggregation == tf.VariableAggregation.ONLY_FIRST_REPLICA
    assert weight.aggregation == tf.VariableAggregation.NONE
