"""layers.conv: `tf.nn.conv3d`, with the bfloat16 filter gradient in float32 on inputs
shorter than the kernel."""

import numpy as np
import pytest
import tensorflow as tf

from layers.conv import conv3d


def _clip(shape, seed=0):
    return tf.random.stateless_uniform(shape, (seed, 1), -1.0, 1.0)


def _conv_and_gradients(conv, x, w, stride, upstream):
    with tf.GradientTape() as tape:
        tape.watch([x, w])
        out = conv(x, w, stride)
    return [out, *tape.gradient(out, [x, w], output_gradients=upstream)]


def _tf_conv3d(x, w, stride):
    return tf.nn.conv3d(x, w, (1, *stride, 1), padding='SAME')


@pytest.mark.parametrize('dtype', [tf.float32, tf.bfloat16])
@pytest.mark.parametrize('frames, stride', [(3, (1, 1, 1)), (4, (2, 2, 2)), (7, (2, 1, 1))])
def test_forward_and_gradients_are_tf_conv3d_s_where_the_input_covers_the_kernel(
    dtype, frames, stride
):
    """Bit for bit: float32 is `tf.nn.conv3d` itself; bfloat16 keeps its kernels (forward,
    input and filter gradient) whenever the input has at least the kernel's frames."""
    x = tf.cast(_clip((1, frames, 5, 4, 8), seed=1), dtype)
    w = tf.cast(tf.random.stateless_normal((3, 3, 3, 8, 6), (1, 2)) * 0.1, dtype)
    out_shape = _tf_conv3d(x, w, stride).shape
    upstream = tf.cast(tf.random.stateless_normal(out_shape, (3, 4)), dtype)
    found = _conv_and_gradients(conv3d, x, w, stride, upstream)
    expected = _conv_and_gradients(_tf_conv3d, x, w, stride, upstream)
    for name, got, want in zip(
        ('output', 'input gradient', 'filter gradient'), found, expected, strict=True
    ):
        assert got.dtype == dtype, name
        np.testing.assert_array_equal(got.numpy(), want.numpy(), name)


@pytest.mark.parametrize('frames', [2, 3, 8])
def test_bfloat16_gradients_are_float32_s_within_rounding_on_short_inputs(frames):
    """oneDNN's bfloat16 filter gradient of a 3-frame kernel over 2 frames was wrong by
    more than its size (or inf); `conv3d` takes it in float32 there, and traced and eager
    agree."""
    x = _clip((1, frames, 3, 3, 64), seed=9)
    w = tf.random.stateless_normal((3, 3, 3, 64, 64), (3, 4)) * 0.05
    upstream = tf.random.stateless_normal((1, frames, 3, 3, 64), (5, 6))

    def grads(dtype):
        xd, wd = tf.cast(x, dtype), tf.cast(w, dtype)
        with tf.GradientTape() as tape:
            tape.watch([xd, wd])
            out = conv3d(xd, wd, (1, 1, 1))
        found = tape.gradient(out, [xd, wd], output_gradients=tf.cast(upstream, dtype))
        return [tf.cast(g, tf.float32) for g in found]

    expected = [g.numpy() for g in grads(tf.float32)]
    traced = tf.function(grads)
    for found in (grads(tf.bfloat16), traced(tf.bfloat16)):
        for got, want in zip((g.numpy() for g in found), expected, strict=True):
            assert np.all(np.isfinite(got))
            np.testing.assert_allclose(got, want, atol=0.02 * np.abs(want).max())
