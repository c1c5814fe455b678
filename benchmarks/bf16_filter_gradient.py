"""How far the bfloat16 filter gradient of a 3x3x3 convolution is from float32's, by frames.

    python -m benchmarks.bf16_filter_gradient

For inputs of 1, 2, 3 and 8 frames (3x3 pixels, 64 channels in and out, SAME padding),
prints the largest difference from float32's filter gradient, relative to float32's
largest value, of TensorFlow's own bfloat16 kernel (`Conv3DBackpropFilterV2`) and of
`layers.conv.conv3d`'s gradient (float32 where the input has fewer frames than the kernel).
Rounding alone gives a few 1e-3; the reason `conv3d` exists is the 2-frame row.
"""

import numpy as np
import tensorflow as tf
from absl import app

from common import cli
from layers import conv

FRAMES = (1, 2, 3, 8)


def filter_gradients(frames):
    """{name: float32 [3, 3, 3, 64, 64]}: float32's, bfloat16's and conv.conv3d's."""
    x = tf.random.stateless_uniform((1, frames, 3, 3, 64), (1, 2))
    w = tf.random.stateless_normal((3, 3, 3, 64, 64), (3, 4)) * 0.05
    upstream = tf.random.stateless_normal((1, frames, 3, 3, 64), (5, 6))
    found = {}
    for dtype in (tf.float32, tf.bfloat16):
        found[dtype.name] = tf.raw_ops.Conv3DBackpropFilterV2(
            input=tf.cast(x, dtype),
            filter_sizes=w.shape,
            out_backprop=tf.cast(upstream, dtype),
            strides=(1,) * 5,
            padding='SAME',
        )
    wb = tf.cast(w, tf.bfloat16)
    with tf.GradientTape() as tape:
        tape.watch(wb)
        out = conv.conv3d(tf.cast(x, tf.bfloat16), wb, (1, 1, 1))
    found['conv.conv3d'] = tape.gradient(out, wb, output_gradients=tf.cast(upstream, tf.bfloat16))
    return {k: tf.cast(v, tf.float32).numpy() for k, v in found.items()}


def main(argv):
    cli.reject_stray_arguments(argv)
    print('frames  bfloat16 kernel  conv.conv3d  (max |difference| / max |float32|)')
    for frames in FRAMES:
        found = filter_gradients(frames)
        scale = np.abs(found['float32']).max()
        errors = [
            np.abs(found[k] - found['float32']).max() / scale for k in ('bfloat16', 'conv.conv3d')
        ]
        print(f'{frames:6d}  {errors[0]:15.4g}  {errors[1]:11.4g}')


if __name__ == '__main__':
    app.run(main)
