"""3D convolution whose bfloat16 filter gradient is right on inputs shorter than the kernel.

`conv3d` is `tf.nn.conv3d` (SAME padding) forward; only the bfloat16 filter gradient
changes, and only where oneDNN's kernel gets it wrong.
"""

import tensorflow as tf


def conv3d(inputs, kernel, stride):
    """`tf.nn.conv3d` (SAME padding), whose bfloat16 filter gradient is computed in float32
    where oneDNN's bfloat16 kernel gets it wrong.

    Measured with TensorFlow 2.21 on an AVX512_BF16 CPU (`benchmarks.bf16_filter_gradient`):
    Conv3DBackpropFilter in bfloat16 with a 3-frame kernel over a 2-frame input returns
    garbage (e.g. Mixed_5c's 3x3x3 convolutions on 16-frame clips, or Mixed_4x's on 8-frame
    ones), while the input gradient is right (rounding only; tests/layers/test_conv.py).
    Inputs with fewer frames than the kernel take a float32 filter gradient (those layers are
    small); every other case keeps the bfloat16 kernel.
    """
    strides = (1, *stride, 1)
    if inputs.dtype != tf.bfloat16:
        return tf.nn.conv3d(inputs, kernel, strides, padding='SAME')

    @tf.custom_gradient
    def conv(x, w):
        def grad(upstream):
            dx = tf.raw_ops.Conv3DBackpropInputV2(
                input_sizes=tf.shape(x),
                filter=w,
                out_backprop=upstream,
                strides=strides,
                padding='SAME',
            )

            def filter_gradient(dtype):
                return lambda: tf.cast(
                    tf.raw_ops.Conv3DBackpropFilterV2(
                        input=tf.cast(x, dtype),
                        filter_sizes=tf.shape(w),
                        out_backprop=tf.cast(upstream, dtype),
                        strides=strides,
                        padding='SAME',
                    ),
                    w.dtype,
                )

            short = tf.shape(x)[1] < w.shape[0]
            dw = tf.cond(short, filter_gradient(tf.float32), filter_gradient(w.dtype))
            return dx, dw

        return tf.nn.conv3d(x, w, strides, padding='SAME'), grad

    return conv(inputs, kernel)
