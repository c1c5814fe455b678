"""weights.inflation: ImageNet 2D -> 3D inflation, the paper's "boring video" check against
a 2D Inception-v1 in TF-slim's checkpoint layout (tf1_checkpoints.slim_arrays), the kernels'
repetition over time and the refusal of checkpoints that do not match."""

import numpy as np
import pytest
import tensorflow as tf
import tf1_checkpoints

import i3d
from weights import inflation

BN_EPS = 1e-3  # slim's inception_arg_scope, as DeepMind's Sonnet 1 BatchNorm


def _inception_v1_2d(image, checkpoint):
    """slim's inception_v1_base as plain TF ops on the checkpoint's tensors.

    Returns:
      {endpoint: activation} for every Mixed block.
    """
    reader = tf.train.load_checkpoint(checkpoint)

    def unit(net, scope, stride=1):
        get = lambda leaf: reader.get_tensor(f'InceptionV1/{scope}/{leaf}')  # noqa: E731
        net = tf.nn.conv2d(net, get('weights'), stride, 'SAME')
        mean, var = get('BatchNorm/moving_mean'), get('BatchNorm/moving_variance')
        net = tf.nn.batch_normalization(net, mean, var, get('BatchNorm/beta'), None, BN_EPS)
        return tf.nn.relu(net)

    def pool(net, size, stride):
        return tf.nn.max_pool2d(net, size, stride, 'SAME')

    net = pool(unit(image, 'Conv2d_1a_7x7', 2), 3, 2)  # MaxPool_2a_3x3
    net = pool(unit(unit(net, 'Conv2d_2b_1x1'), 'Conv2d_2c_3x3'), 3, 2)  # MaxPool_3a_3x3
    end_points = {}
    for block in i3d.MIXED_CHANNELS:
        if block == 'Mixed_4b':
            net = pool(net, 3, 2)  # MaxPool_4a_3x3
        if block == 'Mixed_5b':
            net = pool(net, 2, 2)  # MaxPool_5a_2x2
        b2 = 'Conv2d_0a_3x3' if block == 'Mixed_5b' else 'Conv2d_0b_3x3'
        branches = [
            unit(net, f'{block}/Branch_0/Conv2d_0a_1x1'),
            unit(unit(net, f'{block}/Branch_1/Conv2d_0a_1x1'), f'{block}/Branch_1/Conv2d_0b_3x3'),
            unit(unit(net, f'{block}/Branch_2/Conv2d_0a_1x1'), f'{block}/Branch_2/{b2}'),
            unit(pool(net, 3, 1), f'{block}/Branch_3/Conv2d_0b_1x1'),
        ]
        net = end_points[block] = tf.concat(branches, axis=-1)
    return end_points


def _clean_frames(frames):
    """{Mixed block: (first, last)} of its output frames, for `frames` input frames, whose
    inputs never include the temporal zero padding of a 3D convolution (max pools ignore
    their SAME padding, so they only spread what is already affected)."""
    lo, hi, size = 0, frames - 1, frames
    clean = {}
    for endpoint in i3d.VALID_ENDPOINTS[: i3d.VALID_ENDPOINTS.index('Mixed_5c') + 1]:
        if endpoint in i3d.MIXED_CHANNELS:  # a 3x3x3 conv in branches 1 and 2
            lo, hi = lo + 1, hi - 1
            clean[endpoint] = (lo, hi)
            continue
        is_conv = endpoint in i3d.STEM_CONVS
        _, kernel, stride = i3d.STEM_CONVS[endpoint] if is_conv else (None, *i3d.POOLS[endpoint])
        k, s = kernel[0], stride[0]
        out = -(-size // s)
        front = max((out - 1) * s + k - size, 0) // 2
        ok = []
        for i in range(out):
            window = range(i * s - front, i * s - front + k)
            seen = window if is_conv else [t for t in window if 0 <= t < size]
            if all(lo <= t <= hi for t in seen):
                ok.append(i)
        lo, hi, size = ok[0], ok[-1], out
    return clean


@pytest.mark.slow
def test_boring_video_gives_the_2d_activations(slim_checkpoint):
    """Paper section 2.4: on a video of one repeated image, the inflated I3D equals the 2D
    network at every Mixed block, away from the temporal borders."""
    model, count = inflation.inflate_slim_checkpoint(slim_checkpoint)
    assert count == 228  # every slim tensor but the 1001-way classifier (2) and global_step
    image = tf.random.stateless_uniform((1, 64, 64, 3), (7, 8), -1, 1)
    # 128 frames: the temporal zero padding of the 3D convolutions reaches 6 of the 16
    # Mixed_5c frames at each end; the middle ones see only copies of the image.
    video = tf.repeat(image[:, None], 128, axis=1)
    _, end_points = model(video, is_training=False)
    expected = _inception_v1_2d(image, slim_checkpoint)
    clean = _clean_frames(128)
    assert clean['Mixed_3b'] == (3, 59) and clean['Mixed_5c'] == (6, 9)
    for block, want in expected.items():
        got = end_points[block].numpy()
        assert got.shape[2:] == want.shape[1:], block
        scale = float(tf.reduce_max(tf.abs(want)))
        assert scale > 1, block  # a live network, not all zeros after ReLU
        # float32 rounding: the 3D sums have k_t times more terms, each divided by k_t.
        tolerance = 1e-5 * scale
        first, last = clean[block]
        for t in range(first, last + 1):
            error = np.abs(got[:, t] - want).max()
            assert error < tolerance, (block, t, error)
        # At the borders the zero padding breaks the equality (the test can fail).
        for t in (0, got.shape[1] - 1):
            assert np.abs(got[:, t] - want).max() > 10 * tolerance, (block, t)


def test_kernels_are_repeated_over_time_and_divided(slim_checkpoint):
    reader = tf.train.load_checkpoint(slim_checkpoint)
    model, _ = inflation.inflate_slim_checkpoint(slim_checkpoint, num_classes=101)
    units = dict(model.named_units())
    for scope, k_t in (
        ('Conv3d_1a_7x7', 7),
        ('Mixed_5b/Branch_2/Conv3d_0a_3x3', 3),
        ('Mixed_4c/Branch_3/Conv3d_0b_1x1', 1),
    ):
        w2d = reader.get_tensor(f'InceptionV1/{scope.replace("Conv3d_", "Conv2d_")}/weights')
        w3d = units[scope].w.numpy()
        assert w3d.shape == (k_t, *w2d.shape)
        for t in range(k_t):
            np.testing.assert_array_equal(w3d[t], w2d / np.float32(k_t))
    bn = units['Mixed_4e/Branch_1/Conv3d_0a_1x1'].batch_norm
    stats = 'InceptionV1/Mixed_4e/Branch_1/Conv2d_0a_1x1/BatchNorm/'
    np.testing.assert_array_equal(bn.offset, reader.get_tensor(stats + 'beta'))
    np.testing.assert_array_equal(
        bn.moving_variance.value.numpy().reshape(-1), reader.get_tensor(stats + 'moving_variance')
    )
    # The ImageNet classifier is dropped: a new 101-way head of I3D's own shape.
    w, b = model.logits_variables
    assert w.shape == (1, 1, 1, 1024, 101) and b.shape == (101,)


@pytest.mark.slow
def test_mismatched_slim_checkpoints_are_refused(tmp_path):
    arrays = tf1_checkpoints.slim_arrays(seed=1)
    del arrays['InceptionV1/Mixed_4d/Branch_2/Conv2d_0b_3x3/weights']
    arrays['InceptionV1/Mixed_4d/Branch_2/Conv2d_0b_3x3/BatchNorm/gamma'] = np.ones(64, np.float32)
    prefix = tf1_checkpoints.write(str(tmp_path / 'bad.ckpt'), arrays)
    with pytest.raises(ValueError) as info:
        inflation.inflate_slim_checkpoint(prefix)
    message = str(info.value)
    assert message.startswith(f'{prefix}: weights do not match the model')
    assert '1 missing' in message and 'Mixed_4d/Branch_2/Conv3d_0b_3x3/conv_3d/w' in message
    assert '1 unexpected' in message and 'BatchNorm/gamma' in message
    other = tf1_checkpoints.write(str(tmp_path / 'other.ckpt'), {'resnet/conv1/w': np.zeros(3)})
    with pytest.raises(ValueError, match='other.ckpt: not a TF-slim inception_v1 checkpoint'):
        inflation.read_slim_checkpoint(other)
