"""3D max pool whose gradient goes to exactly one input of each window, on every path.

`max_pool` is `tf.nn.max_pool3d` (SAME padding) forward, bit for bit. Its gradient is the
native kernel's where a probe finds that kernel routing each output to one input
(`_native_gradient_routes_once`), else that of `_routed_max_pool`.
"""

import concurrent.futures

import tensorflow as tf


def _routed_max_pool(x, window, stride):
    """The same maximum as a 3D SAME max pool, as pools whose gradient picks one input.

    A 3D window's maximum is the maximum over time of the maxima over (H, W), so the
    pool is two `max_pool_with_argmax` calls: each output records one argmax (the first
    maximum of its window) and its gradient goes there only. Shapes are read with
    `tf.shape` so the gradient also traces with unknown clip lengths.
    """
    (kt, kh, kw), (st, sh, sw) = window, stride
    batch, frames, channels = tf.shape(x)[0], tf.shape(x)[1], tf.shape(x)[4]
    if (kh, kw, sh, sw) != (1, 1, 1, 1):
        images = tf.reshape(x, tf.concat([[-1], tf.shape(x)[2:]], 0))
        images, _ = tf.nn.max_pool_with_argmax(
            images, (kh, kw), (sh, sw), 'SAME', include_batch_in_index=True
        )
        x = tf.reshape(images, tf.concat([[batch, frames], tf.shape(images)[1:]], 0))
    if (kt, st) != (1, 1):
        height, width = tf.shape(x)[2], tf.shape(x)[3]
        series = tf.reshape(x, tf.stack([batch, frames, height * width, channels]))
        series, _ = tf.nn.max_pool_with_argmax(
            series, (kt, 1), (st, 1), 'SAME', include_batch_in_index=True
        )
        x = tf.reshape(series, tf.stack([batch, tf.shape(series)[1], height, width, channels]))
    return x


_ROUTES_ONCE = {}  # dtype -> whether this machine's graph MaxPool3DGrad routes to one input


@tf.autograph.experimental.do_not_convert  # traced inside the model: Future.result is not
def _native_gradient_routes_once(dtype):  # AutoGraph's to convert (it warned on each trace)
    """Whether MaxPool3DGrad, created now for `dtype`, sends each output's gradient to one
    input. Eager ops run Eigen's kernel (to every tied maximum). A graph runs oneDNN's where
    TensorFlow rewrites the op (oneDNN on, and for bfloat16 only on CPUs where oneDNN has
    bfloat16 kernels) or cuDNN's on a GPU, which route to one maximum. Rather than mirror
    TensorFlow's rewrite rules, a 2x2x2 window of equal values asks the kernel once per
    process and dtype: one input gets the gradient, or all eight do."""
    if tf.executing_eagerly():
        return False
    if dtype not in _ROUTES_ONCE:
        # Run now, on a thread of its own: graph building (and a strategy's scope) is
        # per thread, so there the probe runs as a fresh program, not inside this trace.
        with concurrent.futures.ThreadPoolExecutor(1) as thread:
            _ROUTES_ONCE[dtype] = thread.submit(_tie_gradient_sum, dtype).result() == 1.0
    return _ROUTES_ONCE[dtype]


def _tie_gradient_sum(dtype):
    @tf.function(autograph=False)
    def gradient(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            pooled = tf.nn.max_pool3d(x, (1, 2, 2, 2, 1), (1, 2, 2, 2, 1), padding='SAME')
        return tf.reduce_sum(tf.cast(tape.gradient(pooled, x), tf.float32))

    return float(gradient(tf.zeros((1, 2, 2, 2, 1), dtype)))


def _native_max_pool_gradient(inputs, pooled, upstream, window, stride):
    return tf.raw_ops.MaxPool3DGrad(
        orig_input=inputs,
        orig_output=pooled,
        grad=upstream,
        ksize=(1, *window, 1),
        strides=(1, *stride, 1),
        padding='SAME',
    )


def max_pool(x, window, stride):
    """3D max pool, SAME padding, whose gradient goes to exactly one input per output.

    The forward pass is `tf.nn.max_pool3d` itself. Its gradient depends on the kernel:
    TensorFlow's Eigen CPU kernel (MaxPool3DGrad) sends each output's gradient to every
    input within 1e-5 of the window's maximum, and in I3D ties are everywhere (ReLU
    zeros, and a value that one pool repeats meets itself again in the next), so a
    BatchNorm offset's gradient came out several times too large; oneDNN's kernel and
    cuDNN's route each output to one maximum. So where the native gradient routes once
    (`_native_gradient_routes_once`: the training step's graph with oneDNN on, by default)
    it is kept, and every other path (eager, oneDNN off, bfloat16 where oneDNN has no
    bfloat16 kernels) takes the gradient of `_routed_max_pool`: one argmax per output, at
    several times the native gradient's cost (it recomputes the pool with argmax, an Eigen
    kernel).

    Args:
      x: [batch, T, H, W, C].
      window: (T, H, W) window.
      stride: (T, H, W) strides.

    Returns:
      The pooled tensor, bit-identical to `tf.nn.max_pool3d(..., padding='SAME')`.
    """

    @tf.custom_gradient
    def pool(inputs):
        def grad(upstream):
            if _native_gradient_routes_once(inputs.dtype):
                return _native_max_pool_gradient(inputs, pooled, upstream, window, stride)
            with tf.GradientTape() as tape:
                tape.watch(inputs)
                routed = _routed_max_pool(inputs, window, stride)
            return tape.gradient(routed, inputs, output_gradients=upstream)

        pooled = tf.nn.max_pool3d(inputs, (1, *window, 1), (1, *stride, 1), padding='SAME')
        return pooled, grad

    return pool(x)
