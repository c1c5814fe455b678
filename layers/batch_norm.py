"""DeepMind's BatchNorm in Sonnet 2: offset, no scale, eps 1e-3, Sonnet 1's moving averages.

`batch_norm()` builds one as DeepMind's checkpoints lay it out (`batch_norm/offset`,
`batch_norm/moving_mean/...`, `batch_norm/moving_variance/...`). Training mode runs as one
fused kernel, the same function as the unfused ops (see `BatchNorm._fused_training`).
"""

import sonnet as snt
import tensorflow as tf

# Sonnet 1 BatchNorm defaults used by DeepMind's checkpoints (Sonnet 2's eps is 1e-5).
BN_DECAY = 0.999
BN_EPS = 1e-3
# With counter >= this, Sonnet 2's debiasing factor 1 - decay**counter is exactly 1.0 in
# float32 (0.999**1e6 underflows), i.e. its EMA becomes Sonnet 1's plain moving average.
EMA_SETTLED_COUNTER = 10**6


class Sonnet1MovingAverage(snt.ExponentialMovingAverage):
    """Sonnet 2's EMA behaving as Sonnet 1's BatchNorm moving statistics.

    Sonnet 1 starts the moving mean at 0 and the moving variance at 1 and updates them
    without debiasing; Sonnet 2's EMA starts at 0 and debiases with a step counter. Here
    `hidden` and `average` start at `initial` and the counter starts settled, so
    `average == hidden` and each update is `hidden -= (hidden - x) * (1 - decay)`.
    Imported statistics are loaded into `hidden` and `average` (see weights/names.py).
    """

    def __init__(self, decay, initial, name=None):
        super().__init__(decay, name=name)
        self._initial = initial
        self._counter = tf.Variable(
            EMA_SETTLED_COUNTER, trainable=False, dtype=tf.int64, name='counter'
        )

    @snt.once
    def initialize(self, value):
        self._hidden = tf.Variable(
            tf.fill(value.shape, tf.cast(self._initial, value.dtype)),
            trainable=False,
            name='hidden',
        )
        self.average = tf.Variable(self._hidden.read_value(), trainable=False, name='average')

    def load(self, value):
        """Sets the statistic (e.g. from a pretrained checkpoint)."""
        self._hidden.assign(value)
        self.average.assign(value)
        self._counter.assign(EMA_SETTLED_COUNTER)


class BatchNorm(snt.BaseBatchNorm):
    """DeepMind's BatchNorm (offset, no scale, eps 1e-3, Sonnet 1 moving averages).

    Called as Sonnet's: `bn(x, is_training, test_local_stats)`. Two additions, both
    chosen by the caller rather than by a second walk of the network:
    - `cross_replica` (fixed when the model is built, as PySlowFast's `get_norm` and
      MoViNet's `use_sync_bn`): in training mode the batch moments are all-reduced
      over the replicas of the current `tf.distribute` replica context, as
      `snt.distribute.CrossReplicaBatchNorm` does, so every replica normalizes with
      (and its moving averages take) the moments of the global batch. Local statistics
      (`test_local_stats`) stay local.
    - `moments`: a list to which the call appends the (mean, variance) it normalized
      with (precise BN collects batch moments this way).
    """

    def __init__(self, moving_mean, moving_variance, cross_replica=False, name='batch_norm'):
        super().__init__(
            create_scale=False,
            create_offset=True,
            moving_mean=moving_mean,
            moving_variance=moving_variance,
            eps=BN_EPS,
            name=name,
        )
        self._cross_replica = cross_replica

    @property
    def cross_replica(self) -> bool:
        return self._cross_replica

    def __call__(self, inputs, is_training, test_local_stats=False, moments=None):
        """Normalizes `inputs` (channels last) in their dtype; the moments, the offset and
        the moving statistics are float32 (bfloat16 activations are normalized in float32).

        Args:
          inputs: the tensor to normalize.
          is_training: Python bool; batch moments, and the moving averages take them.
          test_local_stats: Python bool; batch moments without updating the moving
            averages when not `is_training` (else the moving averages normalize).
          moments: None, or a list to append the (mean, variance) used to.
        """
        if not hasattr(self, 'offset'):  # float32 variables, whatever the compute dtype
            self._initialize(tf.cast(inputs, tf.float32))
        if is_training and moments is None and not self._cross_replica:
            return self._fused_training(inputs)
        dtype, inputs = inputs.dtype, tf.cast(inputs, tf.float32)
        if moments is None and not is_training:
            return tf.cast(super().__call__(inputs, is_training, test_local_stats), dtype)
        if is_training and self._cross_replica:
            mean, variance = _global_moments(inputs, self._axis)
        elif is_training or test_local_stats:
            mean, variance = tf.nn.moments(inputs, self._axis, keepdims=True)
        else:
            mean, variance = self.moving_mean.value, self.moving_variance.value
        if moments is not None:
            moments.append((mean, variance))
        out = tf.nn.batch_normalization(inputs, mean, variance, self.offset, None, self._eps)
        if is_training:
            self._update_statistics(mean, variance)
        return tf.cast(out, dtype)

    def _fused_training(self, inputs):
        """Training mode in one fused kernel (forward and gradient), the same function as
        the unfused path: batch mean and biased variance, no scale, moving averages updated.

        The kernel takes float32 or bfloat16 activations (its moments are float32) and
        returns the variance with Bessel's correction n / (n - 1); DeepMind's BatchNorm
        (`tf.nn.moments`) averages the biased one into the moving variance, so the
        correction is undone here.
        """
        channels = inputs.shape[-1]
        shape = tf.shape(inputs)
        empty = tf.constant([], tf.float32)
        out, mean, variance, *_ = tf.raw_ops.FusedBatchNormV3(
            # As [N * T, H, W, C] images (the same moments): oneDNN's kernel takes 4-D
            # inputs only (`benchmarks.train_profile`: BatchNorm 0.10 s of a 3.4 s step).
            x=tf.reshape(inputs, tf.concat([[-1], shape[2:]], 0)),
            scale=tf.ones([channels], tf.float32),
            offset=tf.reshape(self.offset, [channels]),
            mean=empty,
            variance=empty,
            epsilon=self._eps,
            data_format='NHWC',
            is_training=True,
        )
        out = tf.reshape(out, shape)
        count = tf.cast(tf.size(inputs, out_type=tf.int64) // channels, tf.float32)
        biased = variance * tf.maximum(count - 1.0, 0.0) / tf.maximum(count, 1.0)
        self._update_statistics(tf.reshape(mean, self.shape), tf.reshape(biased, self.shape))
        return out


def _global_moments(x, axes):
    """Mean and variance of `x` over `axes` and over every replica of the replica context
    (equal per-replica batches: the mean of the replicas' E[x] and E[x^2])."""
    local = tf.stack(
        [tf.reduce_mean(x, axes, keepdims=True), tf.reduce_mean(tf.square(x), axes, keepdims=True)]
    )
    context = tf.distribute.get_replica_context()
    mean, square = tf.unstack(context.all_reduce(tf.distribute.ReduceOp.MEAN, local))
    return mean, tf.maximum(square - tf.square(mean), 0.0)


def batch_norm(name='batch_norm', cross_replica=False):
    """DeepMind's BatchNorm (`BatchNorm`), its moving averages nested under its name."""
    with tf.name_scope(name):  # as snt.BatchNorm does, so the EMAs nest under it
        moving_mean = Sonnet1MovingAverage(BN_DECAY, 0.0, name='moving_mean')
        moving_variance = Sonnet1MovingAverage(BN_DECAY, 1.0, name='moving_variance')
    return BatchNorm(moving_mean, moving_variance, cross_replica=cross_replica, name=name)
