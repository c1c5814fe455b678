"""The optimizer of a run: the learning-rate schedule, Adam or SGD, and the L2 term."""

import keras
import tensorflow as tf

SGD_MOMENTUM = 0.9  # paper
# TF1's tf.train.AdamOptimizer default, which the released TF1 training code used
# (Keras' default is 1e-7).
ADAM_EPSILON = 1e-8


class PiecewiseConstant(keras.optimizers.schedules.LearningRateSchedule):
    """values[k] for steps in (boundaries[k-1], boundaries[k]], as TF1's piecewise_constant.

    `step` is the number of updates already made, as TF1's global_step when its
    optimizer reads the rate: the update made at step 97000 still uses the first rate.
    """

    def __init__(self, boundaries, values):
        self.boundaries = list(boundaries)
        self.values = list(values)

    def __call__(self, step):
        index = (
            tf.reduce_sum(
                tf.cast(tf.cast(step, tf.int64) > tf.constant(self.boundaries, tf.int64), tf.int32)
            )
            if self.boundaries
            else 0
        )
        return tf.gather(tf.constant(self.values, tf.float32), index)

    def get_config(self):
        return {'boundaries': self.boundaries, 'values': self.values}


def make_optimizer(name, schedule):
    if name == 'sgd':
        return keras.optimizers.SGD(learning_rate=schedule, momentum=SGD_MOMENTUM)
    return keras.optimizers.Adam(learning_rate=schedule, epsilon=ADAM_EPSILON)


def conv_weights(model, variables):
    """The conv kernels among `variables` (no biases, no BatchNorm offsets)."""
    ids = {id(v) for v in variables}
    return [unit.w for _, unit in model.named_units() if id(unit.w) in ids]


def l2_term(weights, weight_decay):
    """weight_decay * sum(w^2) / 2 over the kernels (TF's l2_regularizer convention)."""
    if not weights or not weight_decay:
        return tf.constant(0.0)
    return weight_decay * tf.add_n([tf.nn.l2_loss(w) for w in weights])
