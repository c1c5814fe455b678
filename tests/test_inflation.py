"""ImageNet 2D -> 3D inflation (import_weights --source=inception_v1_2d): the paper's
"boring video" check against a 2D Inception-v1 in TF-slim's checkpoint layout, the slim name
map, the flow-stream initialisation and the command line."""

import os
import shutil

import cli
import numpy as np
import pytest
import tensorflow as tf
import tf1_checkpoints

import i3d
import import_weights
import model_io

BN_EPS = 1e-3  # slim's inception_arg_scope, as DeepMind's Sonnet 1 BatchNorm


def _main(*args):
    """import_weights.main in-process: (exit code, stdout, error message)."""
    return cli.call_main(import_weights, *args)


def _slim_units():
    """(slim scope, kernel size, in channels, out channels) of every InceptionV1 conv.

    Built from the channel table I3D uses (i3d.MIXED_CHANNELS), with slim's names: its
    Mixed_5b/Branch_2 says `Conv2d_0a_3x3` where the other blocks say `0b`.
    """
    units = [('Conv2d_1a_7x7', 7, 3, 64), ('Conv2d_2b_1x1', 1, 64, 64)]
    units.append(('Conv2d_2c_3x3', 3, 64, 192))
    cin = 192
    for block, (b0, b1a, b1b, b2a, b2b, b3) in i3d.MIXED_CHANNELS.items():
        b2 = 'Conv2d_0a_3x3' if block == 'Mixed_5b' else 'Conv2d_0b_3x3'
        units += [
            (f'{block}/Branch_0/Conv2d_0a_1x1', 1, cin, b0),
            (f'{block}/Branch_1/Conv2d_0a_1x1', 1, cin, b1a),
            (f'{block}/Branch_1/Conv2d_0b_3x3', 3, b1a, b1b),
            (f'{block}/Branch_2/Conv2d_0a_1x1', 1, cin, b2a),
            (f'{block}/Branch_2/{b2}', 3, b2a, b2b),
            (f'{block}/Branch_3/Conv2d_0b_1x1', 1, cin, b3),
        ]
        cin = b0 + b1b + b2b + b3
    return units


def _slim_arrays(seed=0):
    """Random weights under slim's exact variable names, scaled to keep activations O(1)."""
    rng = np.random.default_rng(seed)
    arrays = {'global_step': np.int64(1000)}
    for scope, k, cin, cout in _slim_units():
        name = f'InceptionV1/{scope}/'
        std = np.sqrt(2.0 / (k * k * cin))
        arrays[name + 'weights'] = rng.normal(0, std, (k, k, cin, cout)).astype(np.float32)
        arrays[name + 'BatchNorm/beta'] = rng.normal(0, 0.1, cout).astype(np.float32)
        arrays[name + 'BatchNorm/moving_mean'] = rng.normal(0, 0.1, cout).astype(np.float32)
        arrays[name + 'BatchNorm/moving_variance'] = rng.uniform(0.5, 2, cout).astype(np.float32)
    logits = 'InceptionV1/Logits/Conv2d_0c_1x1/'
    arrays[logits + 'weights'] = rng.normal(0, 0.03, (1, 1, 1024, 1001)).astype(np.float32)
    arrays[logits + 'biases'] = np.zeros(1001, np.float32)
    return arrays


@pytest.fixture(scope='module')
def slim_checkpoint(tmp_path_factory):
    prefix = str(tmp_path_factory.mktemp('slim') / 'inception_v1.ckpt')
    return tf1_checkpoints.write(prefix, _slim_arrays())


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


def test_boring_video_gives_the_2d_activations(slim_checkpoint):
    """Paper section 2.4: on a video of one repeated image, the inflated I3D equals the 2D
    network at every Mixed block, away from the temporal borders."""
    model, count = import_weights.inflate_slim_checkpoint(slim_checkpoint)
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
    model, _ = import_weights.inflate_slim_checkpoint(slim_checkpoint, num_classes=101)
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


def test_slim_name_map():
    assert import_weights.canonical_from_slim('InceptionV1/Conv2d_1a_7x7/weights') == (
        'Conv3d_1a_7x7/conv_3d/w'
    )
    assert import_weights.canonical_from_slim(
        'InceptionV1/Mixed_3b/Branch_1/Conv2d_0b_3x3/BatchNorm/moving_mean'
    ) == ('Mixed_3b/Branch_1/Conv3d_0b_3x3/batch_norm/moving_mean')
    for dropped in (
        'InceptionV1/Logits/Conv2d_0c_1x1/weights',
        'InceptionV1/Logits/Conv2d_0c_1x1/biases',
        'global_step',
        'InceptionV1/Conv2d_1a_7x7/weights/ExponentialMovingAverage',
    ):
        assert import_weights.canonical_from_slim(dropped) is None, dropped
    # BatchNorm with a scale (gamma) has no I3D counterpart: left as is, reported as unexpected.
    gamma = 'InceptionV1/Conv2d_1a_7x7/BatchNorm/gamma'
    assert import_weights.canonical_from_slim(gamma) == gamma


def test_mismatched_slim_checkpoints_are_refused(tmp_path):
    arrays = _slim_arrays(seed=1)
    del arrays['InceptionV1/Mixed_4d/Branch_2/Conv2d_0b_3x3/weights']
    arrays['InceptionV1/Mixed_4d/Branch_2/Conv2d_0b_3x3/BatchNorm/gamma'] = np.ones(64, np.float32)
    prefix = tf1_checkpoints.write(str(tmp_path / 'bad.ckpt'), arrays)
    with pytest.raises(ValueError) as info:
        import_weights.inflate_slim_checkpoint(prefix)
    message = str(info.value)
    assert message.startswith(f'{prefix}: weights do not match the model')
    assert '1 missing' in message and 'Mixed_4d/Branch_2/Conv3d_0b_3x3/conv_3d/w' in message
    assert '1 unexpected' in message and 'BatchNorm/gamma' in message
    other = tf1_checkpoints.write(str(tmp_path / 'other.ckpt'), {'resnet/conv1/w': np.zeros(3)})
    with pytest.raises(ValueError, match='other.ckpt: not a TF-slim inception_v1 checkpoint'):
        import_weights.read_slim_checkpoint(other)


def test_command_line_inflates_a_flow_stream(tmp_path, slim_checkpoint):
    """`--in_channels=2`: the first kernel averaged over RGB, repeated over the flow channels;
    the result loads like any other checkpoint (e.g. as a training --init_checkpoint)."""
    output = str(tmp_path / 'flow_inflated' / 'model')
    code, out, error = _main(
        '--source=inception_v1_2d',
        f'--slim_checkpoint={slim_checkpoint}',
        '--in_channels=2',
        f'--output={output}',
    )
    assert code == 0, error
    assert (
        out == f'Inflated 228 tensors to 2-channel I3D with a new 400-class head; wrote {output}\n'
    )
    model, channels = model_io.load(output)
    assert channels == 2 and model.num_classes == 400
    w2d = tf.train.load_checkpoint(slim_checkpoint).get_tensor('InceptionV1/Conv2d_1a_7x7/weights')
    w3d = model.layers['Conv3d_1a_7x7'].w.numpy()
    assert w3d.shape == (7, 7, 7, 2, 64)
    for channel in range(2):
        np.testing.assert_allclose(w3d[3, :, :, channel], w2d.mean(axis=2) / 7, atol=1e-8)


def test_command_line_needs_the_slim_checkpoint():
    assert _main('--source=inception_v1_2d') == (
        1,
        '',
        'error: --source=inception_v1_2d needs --slim_checkpoint (inception_v1.ckpt)',
    )


def test_in_channels_other_than_rgb_or_flow_and_damaged_slim_checkpoints_are_refused(
    tmp_path, slim_checkpoint
):
    output = f'--output={tmp_path}/out/model'
    for channels in ('1', '4'):  # would write a checkpoint no tool takes
        code, _, error = _main(
            '--source=inception_v1_2d',
            f'--slim_checkpoint={slim_checkpoint}',
            f'--in_channels={channels}',
            output,
        )
        assert (code, error) == (
            1,
            f'error: --in_channels={channels}: 3 (RGB) or 2 (flow), the two streams',
        )
    assert not os.path.exists(tmp_path / 'out')
    folder = tmp_path / 'truncated'
    folder.mkdir()
    for name in os.listdir(os.path.dirname(slim_checkpoint)):
        shutil.copy(os.path.join(os.path.dirname(slim_checkpoint), name), folder)
    truncated = str(folder / 'inception_v1.ckpt')
    data = truncated + '.data-00000-of-00001'
    os.truncate(data, os.path.getsize(data) // 2)
    code, _, error = _main('--source=inception_v1_2d', f'--slim_checkpoint={truncated}', output)
    assert code == 1
    assert error.startswith(f'error: {truncated}: damaged checkpoint (Read less bytes than')
    deepmind = tf1_checkpoints.write(
        str(tmp_path / 'dm' / 'model.ckpt'), {'RGB/inception_i3d/Conv3d_1a_7x7/conv_3d/w': [1.0]}
    )
    code, _, error = _main('--source=inception_v1_2d', f'--slim_checkpoint={deepmind}', output)
    assert code == 1 and 'it is a DeepMind I3D checkpoint (use --source=deepmind)' in error
