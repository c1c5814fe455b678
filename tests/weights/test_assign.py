"""weights.assign: canonical arrays into a model, one to one, BatchNorm statistics into
Sonnet 2's moving averages."""

import numpy as np
import pytest
import tensorflow as tf
import tf1_checkpoints

import i3d
import model_io
from weights import assign, names


def test_name_map_rejects_missing_unexpected_and_misshaped_tensors():
    arrays = tf1_checkpoints.canonical_arrays()
    model = model_io.build(i3d.InceptionI3d(), 3)
    broken = dict(arrays)
    del broken['Mixed_3c/Branch_0/Conv3d_0a_1x1/conv_3d/w']
    broken['Mixed_3c/Branch_9/extra/conv_3d/w'] = np.zeros(3)
    broken['Conv3d_2b_1x1/conv_3d/w'] = np.zeros((1, 1, 1, 64, 65), np.float32)
    with pytest.raises(ValueError) as info:
        assign.assign_weights(model, broken, 'src.ckpt')
    message = str(info.value)
    assert message.startswith('src.ckpt: weights do not match the model')
    assert '1 missing' in message and 'Mixed_3c/Branch_0/Conv3d_0a_1x1/conv_3d/w' in message
    assert '1 unexpected' in message and 'Branch_9' in message
    assert 'Conv3d_2b_1x1/conv_3d/w: shape (1, 1, 1, 64, 65)' in message


def test_the_model_is_shaped_like_the_arrays_and_needs_a_whole_i3d():
    arrays = tf1_checkpoints.canonical_arrays(num_classes=7, channels=2)
    model, count = assign.import_arrays(arrays, 'mem')
    assert (model.num_classes, count) == (7, 230)
    assert model.input_channels == 2
    for name in (names.DEEPMIND_FIRST_W, names.DEEPMIND_LOGITS_W):
        partial = {n: a for n, a in arrays.items() if n != name}
        with pytest.raises(ValueError, match=f'mem: no {name}: not a complete I3D checkpoint'):
            assign.import_arrays(partial, 'mem')


def test_imported_statistics_drive_inference_and_continue_in_training():
    arrays = tf1_checkpoints.canonical_arrays()
    model, _ = assign.import_arrays(arrays, 'mem')
    unit = model.layers['Conv3d_1a_7x7']
    bn = unit.batch_norm
    mean = arrays['Conv3d_1a_7x7/batch_norm/moving_mean'].reshape(-1)
    var = arrays['Conv3d_1a_7x7/batch_norm/moving_variance'].reshape(-1)
    beta = arrays['Conv3d_1a_7x7/batch_norm/beta']
    x = tf.random.stateless_uniform((2, 4, 16, 16, 3), (3, 4), -1, 1)
    pre = tf.nn.conv3d(x, unit.w, (1, 2, 2, 2, 1), 'SAME')
    out = unit(x, is_training=False)
    np.testing.assert_allclose(
        out, tf.nn.relu((pre - mean) / np.sqrt(var + 1e-3) + beta), atol=1e-4
    )
    # One training step moves the statistic by (1 - 0.999) towards the batch mean,
    # exactly Sonnet 1's non-debiased update from the imported value.
    batch_mean = tf.reduce_mean(pre, (0, 1, 2, 3)).numpy()
    unit(x, is_training=True)
    expected = mean - (mean - batch_mean) * (1 - 0.999)
    np.testing.assert_allclose(bn.moving_mean.value.numpy().reshape(-1), expected, rtol=1e-5)
