"""layers.pooling: the max pool is tf.nn.max_pool3d forward, and its gradient goes to one
input of each window on every path (eager and graph, float32 and bfloat16, oneDNN on and off)."""

import json
import os
import subprocess
import sys

import numpy as np
import pool_gradients
import pytest
import tensorflow as tf

import i3d
from common.files import REPO_DIR
from layers import pooling


def _clip(shape, seed=0):
    return tf.random.stateless_uniform(shape, (seed, 1), -1.0, 1.0)


# The four pools of the network: (window, stride) over (T, H, W).
POOL_SHAPES = [*i3d.POOLS.values(), ((3, 3, 3), (1, 1, 1))]


@pytest.mark.parametrize('window, stride', POOL_SHAPES)
def test_max_pool_forward_is_tf_max_pool3d_bit_for_bit(window, stride):
    pooled = tf.function(pooling.max_pool, reduce_retracing=True)
    for shape, dtype in (((2, 5, 9, 7, 3), tf.float32), ((1, 1, 1, 2, 1), tf.bfloat16)):
        x = tf.cast(tf.nn.relu(_clip(shape)), dtype)  # with ties (zeros)
        expected = tf.nn.max_pool3d(x, (1, *window, 1), (1, *stride, 1), 'SAME').numpy()
        for got in (pooling.max_pool(x, window, stride), pooled(x, window, stride)):
            assert got.dtype == dtype
            np.testing.assert_array_equal(got.numpy(), expected)


def test_max_pool_gradient_traces_with_unknown_shapes():
    @tf.function(input_signature=[tf.TensorSpec([None, None, None, None, 3])])
    def grad(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            total = tf.reduce_sum(pooling.max_pool(x, (3, 3, 3), (2, 2, 2)))
        return tape.gradient(total, x)

    x = _clip((2, 3, 5, 4, 3))  # no ties: the rule for ties does not matter
    with tf.GradientTape() as tape:
        tape.watch(x)
        total = tf.reduce_sum(tf.nn.max_pool3d(x, (1, 3, 3, 3, 1), (1, 2, 2, 2, 1), 'SAME'))
    np.testing.assert_array_equal(grad(x), tape.gradient(total, x))
    assert float(tf.reduce_sum(grad(x))) == 2 * 2 * 3 * 2 * 3  # one input per output


def _other_onednn_setting():
    """pool_gradients.py's JSON in a process with oneDNN the other way round."""
    env = dict(os.environ, TF_ENABLE_ONEDNN_OPTS='0' if pool_gradients.onednn_enabled() else '1')
    result = subprocess.run(
        [sys.executable, os.path.join(REPO_DIR, 'tests', 'pool_gradients.py')],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_the_native_gradient_is_kept_only_where_it_routes_to_one_input(monkeypatch):
    """The probe: a graph with oneDNN on routes once (float32 everywhere oneDNN runs);
    eager never does. Where the probe says no, a graph takes the routed gradient and is
    still exact (forced here; oneDNN off is `test_max_pool_gradient_is_exact_...`)."""
    assert not pooling._native_gradient_routes_once(tf.float32)  # eager: Eigen's kernel
    probe = tf.function(lambda: tf.constant(pooling._native_gradient_routes_once(tf.float32)))
    assert bool(probe()) == pool_gradients.onednn_enabled()
    x = pool_gradients.stack_input()
    expected = pool_gradients.finite_differences(x)
    monkeypatch.setattr(pooling, '_ROUTES_ONCE', {tf.float32: False, tf.bfloat16: False})
    for dtype in (tf.float32, tf.bfloat16):
        found = tf.function(pool_gradients.gradient)(x, dtype)
        np.testing.assert_array_equal(found.numpy(), expected, dtype.name)


@pytest.mark.slow
def test_max_pool_gradient_is_exact_on_every_training_path():
    """Finite differences of a pool stack with ties; oneDNN on and off, eager and graph."""
    x = pool_gradients.stack_input()
    expected = pool_gradients.finite_differences(x)
    # The case has ties: the first pool repeats values, which meet again in the next.
    first = pooling.max_pool(tf.nn.relu(x), *pool_gradients.STACK[0]).numpy()
    assert np.unique(first[first > 0]).size < np.count_nonzero(first)
    np.testing.assert_array_equal(expected, np.round(expected))  # exact by construction
    other = _other_onednn_setting()
    assert other['onednn'] != pool_gradients.onednn_enabled()
    here = pool_gradients.all_paths(x)
    assert (
        set(here)
        == set(other['stack'])
        == {
            'eager float32',
            'function float32',
            'eager bfloat16',
            'function bfloat16',
        }
    )
    for path in here:
        np.testing.assert_array_equal(here[path], expected, f'{path} (this process)')
        np.testing.assert_array_equal(np.array(other['stack'][path]), expected, path)
    # The BatchNorm offset before two stacked pools of a truncated model, against finite
    # differences (float32 forward: a few 1e-2 of noise; the all-maxima rule was off by 0.5-2).
    fd = pool_gradients.offset_finite_differences()
    for name, found in {**pool_gradients.offset_gradients(), **other['offset']}.items():
        np.testing.assert_allclose(found, fd, atol=0.06, err_msg=name)
