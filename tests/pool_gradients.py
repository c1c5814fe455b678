"""Gradients through I3D's max pools, for tests/layers/test_pooling.py.

    python tests/pool_gradients.py

prints one JSON line: whether oneDNN is on, the gradient of `stack_loss` on each path
the project trains with (eager and tf.function, float32 and bfloat16 compute), and a
BatchNorm offset's gradient in a truncated model (eager and tf.function).
A script, because TF_ENABLE_ONEDNN_OPTS is read when TensorFlow is imported: the test
runs it with the setting this process does not have.

The input holds distinct non-zero integers (exact in bfloat16, 1 apart), so the loss
is linear in each input over a step of 1/4 (exact in float32): central differences
are the exact gradient, and every gradient entry is a sum of the integer weights,
exact in bfloat16 too. Ties still abound: ReLU zeros, and each value the first pool repeats
meets its own copies in the second pool's windows.
"""

import json
import os
import sys

import numpy as np
import tensorflow as tf

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import i3d  # noqa: E402
from layers import pooling  # noqa: E402

SHAPE = (1, 4, 7, 7, 2)
# 2a's window, then an Inception branch's stride-1 pool, then 4a's: as in the network.
STACK = (((1, 3, 3), (1, 2, 2)), ((3, 3, 3), (1, 1, 1)), ((3, 3, 3), (2, 2, 2)))


def stack_input():
    """Distinct non-zero integers, half negative (ReLU zeros), in a fixed random order."""
    size = int(np.prod(SHAPE))
    values = np.random.default_rng(0).permutation(size) - size // 2
    values[values >= 0] += 1  # no input at ReLU's kink
    return values.reshape(SHAPE).astype(np.float32)


def _weights(shape):
    return tf.constant(np.random.default_rng(1).integers(1, 4, shape), tf.float32)


def stack_loss(x, pool=pooling.max_pool):
    """sum(w * pools(relu(x))) with integer weights w, in float64 (exact for the test)."""
    net = tf.nn.relu(x)
    for window, stride in STACK:
        net = pool(net, window, stride)
    net = tf.cast(net, tf.float64)
    return tf.reduce_sum(net * tf.cast(_weights(net.shape), tf.float64))


def gradient(x, dtype=tf.float32, pool=pooling.max_pool):
    x = tf.cast(x, dtype)
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = stack_loss(x, pool)
    return tf.cast(tape.gradient(loss, x), tf.float32)


def finite_differences(x, step=0.25):
    """Central differences of `stack_loss`, one input element at a time."""
    flat = x.reshape(-1)
    probes = np.repeat(flat[None], 2 * flat.size, axis=0)
    index = np.arange(flat.size)
    probes[2 * index, index] += step
    probes[2 * index + 1, index] -= step
    loss = tf.function(lambda p: tf.map_fn(stack_loss, p, fn_output_signature=tf.float64))
    values = loss(tf.constant(probes.reshape(-1, *SHAPE))).numpy()
    return ((values[0::2] - values[1::2]) / (2 * step)).reshape(SHAPE)


def all_paths(x):
    """{path: gradient} for eager / tf.function and float32 / bfloat16 compute."""
    compiled = tf.function(gradient)
    found = {}
    for dtype in (tf.float32, tf.bfloat16):
        found[f'eager {dtype.name}'] = gradient(x, dtype).numpy()
        found[f'function {dtype.name}'] = compiled(x, dtype).numpy()
    return found


OFFSET_UNIT = 'Conv3d_2c_3x3'  # its output goes through MaxPool3d_3a, then a branch pool


def truncated_model():
    """InceptionI3d up to Mixed_3b (seeded), an input clip and the output weights."""
    tf.random.set_seed(0)
    model = i3d.InceptionI3d(final_endpoint='Mixed_3b')
    clip = tf.random.stateless_uniform((1, 8, 32, 32, 3), (0, 1), -1, 1)
    out, _ = model(clip, is_training=False)
    weights = tf.random.stateless_uniform(out.shape, (2, 3), -1, 1, dtype=tf.float64)
    return model, clip, weights


def model_loss(model, clip, weights):
    out, _ = model(clip, is_training=False)
    return tf.reduce_sum(tf.cast(out, tf.float64) * weights)


def offset_gradients(channels=4):
    """{'eager'|'function': d model_loss / d offset[:channels]} of OFFSET_UNIT."""
    model, clip, weights = truncated_model()
    offset = model.layers[OFFSET_UNIT].batch_norm.offset

    def grad():
        with tf.GradientTape() as tape:
            loss = model_loss(model, clip, weights)
        return tape.gradient(loss, offset)[:channels]

    return {'eager': grad().numpy(), 'function': tf.function(grad)().numpy()}


def offset_finite_differences(channels=4, step=1e-3):
    model, clip, weights = truncated_model()
    offset = model.layers[OFFSET_UNIT].batch_norm.offset
    loss = tf.function(lambda: model_loss(model, clip, weights))
    base = offset.numpy()
    found = []
    for channel in range(channels):
        values = []
        for sign in (1, -1):
            moved = base.copy()
            moved[channel] += sign * step
            offset.assign(moved)
            values.append(float(loss()))
        found.append((values[0] - values[1]) / (2 * step))
    offset.assign(base)
    return np.array(found)


def onednn_enabled():
    from tensorflow.python.util import _pywrap_util_port

    return bool(_pywrap_util_port.IsMklEnabled())


if __name__ == '__main__':
    stack = {k: v.tolist() for k, v in all_paths(stack_input()).items()}
    offsets = {k: v.tolist() for k, v in offset_gradients().items()}
    print(json.dumps({'onednn': onednn_enabled(), 'stack': stack, 'offset': offsets}))
