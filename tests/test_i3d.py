"""Tests of the InceptionI3d module: structure, shapes, modes, gradients."""

import numpy as np
import pytest
import tensorflow as tf

import i3d

RGB_PARAMS = 12_689_984  # DeepMind's RGB Kinetics-400 model (230 checkpoint tensors).


def _clip(shape, seed=0):
    return tf.random.stateless_uniform(shape, (seed, 1), -1.0, 1.0)


@pytest.fixture(scope='module')
def full_224():
    model = i3d.InceptionI3d(final_endpoint='Predictions')
    output, end_points = model(_clip((1, 16, 224, 224, 3)), is_training=False)
    return model, output, end_points


def test_valid_endpoints_are_the_originals_in_order():
    original = """Conv3d_1a_7x7 MaxPool3d_2a_3x3 Conv3d_2b_1x1 Conv3d_2c_3x3 MaxPool3d_3a_3x3
        Mixed_3b Mixed_3c MaxPool3d_4a_3x3 Mixed_4b Mixed_4c Mixed_4d Mixed_4e Mixed_4f
        MaxPool3d_5a_2x2 Mixed_5b Mixed_5c Logits Predictions"""
    assert i3d.VALID_ENDPOINTS == tuple(original.split())
    assert i3d.InceptionI3d.VALID_ENDPOINTS == i3d.VALID_ENDPOINTS


def test_unknown_endpoint_raises():
    with pytest.raises(ValueError, match="Unknown final endpoint 'Mixed_6a'"):
        i3d.InceptionI3d(final_endpoint='Mixed_6a')


def test_endpoint_shapes_at_224(full_224):
    _, output, end_points = full_224
    t = 16
    expected = {
        'Conv3d_1a_7x7': (1, t // 2, 112, 112, 64),
        'MaxPool3d_2a_3x3': (1, t // 2, 56, 56, 64),
        'Conv3d_2b_1x1': (1, t // 2, 56, 56, 64),
        'Conv3d_2c_3x3': (1, t // 2, 56, 56, 192),
        'MaxPool3d_3a_3x3': (1, t // 2, 28, 28, 192),
        'Mixed_3b': (1, t // 2, 28, 28, 256),
        'Mixed_3c': (1, t // 2, 28, 28, 480),
        'MaxPool3d_4a_3x3': (1, t // 4, 14, 14, 480),
        'Mixed_4b': (1, t // 4, 14, 14, 512),
        'Mixed_4c': (1, t // 4, 14, 14, 512),
        'Mixed_4d': (1, t // 4, 14, 14, 512),
        'Mixed_4e': (1, t // 4, 14, 14, 528),
        'Mixed_4f': (1, t // 4, 14, 14, 832),
        'MaxPool3d_5a_2x2': (1, t // 8, 7, 7, 832),
        'Mixed_5b': (1, t // 8, 7, 7, 832),
        'Mixed_5c': (1, t // 8, 7, 7, 1024),
        'Logits': (1, 400),
        'Predictions': (1, 400),
    }
    assert list(end_points) == list(i3d.VALID_ENDPOINTS)
    assert {k: tuple(v.shape) for k, v in end_points.items()} == expected
    assert output is end_points['Predictions']
    np.testing.assert_allclose(tf.reduce_sum(output, -1), [1.0], rtol=1e-5)


def test_parameter_counts(full_224):
    model = full_224[0]
    count = sum(int(np.prod(v.shape)) for v in model.trainable_variables)
    assert count == RGB_PARAMS
    assert len(model.trainable_variables) == 116  # 57 convs + 57 BN offsets + logits w, b
    flow = i3d.InceptionI3d()
    flow(_clip((1, 2, 32, 32, 2)), is_training=False)
    flow_count = sum(int(np.prod(v.shape)) for v in flow.trainable_variables)
    assert flow_count == RGB_PARAMS - 7 * 7 * 7 * 64  # first conv sees 2 channels


def test_variable_names_follow_deepmind_layout(full_224):
    names = {v.name for v in full_224[0].variables}
    for name in (
        'inception_i3d/Conv3d_1a_7x7/conv_3d/w:0',
        'inception_i3d/Conv3d_1a_7x7/batch_norm/offset:0',
        'inception_i3d/Mixed_4b/Branch_1/Conv3d_0b_3x3/conv_3d/w:0',
        'inception_i3d/Mixed_4b/Branch_3/Conv3d_0b_1x1/batch_norm/moving_mean/average:0',
        'inception_i3d/Mixed_5b/Branch_2/Conv3d_0a_3x3/conv_3d/w:0',  # the kept typo
        'inception_i3d/Mixed_5c/Branch_2/Conv3d_0b_3x3/conv_3d/w:0',
        'inception_i3d/Logits/Conv3d_0c_1x1/conv_3d/w:0',
        'inception_i3d/Logits/Conv3d_0c_1x1/conv_3d/b:0',
    ):
        assert name in names
    assert 'inception_i3d/Mixed_5b/Branch_2/Conv3d_0b_3x3/conv_3d/w:0' not in names
    # BatchNorm has no trainable scale, like Sonnet 1's default.
    assert not any('scale' in v.name for v in full_224[0].trainable_variables)


def test_batch_norm_settings(full_224):
    bns = [m for m in full_224[0].submodules if isinstance(m, i3d.snt.BaseBatchNorm)]
    assert len(bns) == 57
    for bn in bns:
        assert bn._eps == 1e-3 and not bn._create_scale and bn._create_offset
        assert bn.moving_mean._decay == 0.999 and bn.moving_variance._decay == 0.999
        # Sonnet 1's starting statistics: mean 0, variance 1.
        np.testing.assert_array_equal(bn.moving_mean.value, np.zeros(bn.moving_mean.value.shape))
        np.testing.assert_array_equal(bn.moving_variance.value, np.ones(bn.moving_mean.value.shape))


@pytest.mark.parametrize('final', ['Conv3d_1a_7x7', 'MaxPool3d_3a_3x3', 'Mixed_4c', 'Mixed_5c'])
def test_truncation_returns_exactly_endpoints_up_to_final(final):
    model = i3d.InceptionI3d(final_endpoint=final)
    out, end_points = model(_clip((1, 8, 32, 32, 3)), is_training=False)
    assert tuple(end_points) == i3d.VALID_ENDPOINTS[: i3d.VALID_ENDPOINTS.index(final) + 1]
    assert out is end_points[final]
    assert 'Logits' not in model.layers
    created = {v.name.split('/')[1] for v in model.variables}
    assert created == {e for e in end_points if e in model.layers}


@pytest.mark.slow
def test_spatial_squeeze_off_keeps_singleton_axes():
    model = i3d.InceptionI3d(num_classes=7, spatial_squeeze=False)
    out, _ = model(_clip((2, 16, 224, 224, 3)), is_training=False)
    assert out.shape == (2, 1, 1, 7)
    squeezed = i3d.InceptionI3d(num_classes=7)
    squeezed(_clip((1, 2, 32, 32, 3)), is_training=False)
    for a, b in zip(squeezed.variables, model.variables, strict=True):
        a.assign(b)
    out2, _ = squeezed(_clip((2, 16, 224, 224, 3)), is_training=False)
    np.testing.assert_allclose(out2, tf.squeeze(out, (1, 2)), atol=1e-5)


def test_logits_are_time_averaged_pool_of_mixed_5c_when_original_works(full_224):
    """With >= 2 feature frames the clamped pool is DeepMind's [2,7,7] VALID pool."""
    model, _, end_points = full_224
    logits_layer = model.layers['Logits']
    pooled = tf.nn.avg_pool3d(end_points['Mixed_5c'], (1, 2, 7, 7, 1), (1,) * 5, 'VALID')
    conv = logits_layer.conv
    manual = tf.nn.conv3d(pooled, conv.w, (1,) * 5, 'SAME') + conv.b
    manual = tf.reduce_mean(tf.squeeze(manual, (2, 3)), axis=1)
    np.testing.assert_allclose(end_points['Logits'], manual, rtol=1e-5, atol=1e-5)


def test_pool_weights_are_the_mean_of_the_valid_windows():
    # 4 positions, window 2: windows (0,1) (1,2) (2,3) -> weights 1, 2, 2, 1 over 6.
    np.testing.assert_allclose(i3d.pool_weights(4, 2), [1 / 6, 2 / 6, 2 / 6, 1 / 6])
    np.testing.assert_allclose(i3d.pool_weights(3, 7), [1 / 3] * 3)  # clamped to the length
    np.testing.assert_allclose(i3d.pool_weights(1, 2), [1.0])


def test_classifier_input_is_what_the_classifier_sees(full_224):
    """features @ w + b == logits (the 1x1x1 conv is affine, Logits ends with a mean), and
    the features are the [2,7,7] VALID pool averaged over time, also where the static shape
    is unknown (tf.function), for clips of one Mixed_5c step and for maps above 7x7."""
    model, _, end_points = full_224
    w, b = model.logits_variables
    w = tf.reshape(w, (1024, 400))
    features = i3d.classifier_input(end_points['Mixed_5c'])
    pooled = tf.nn.avg_pool3d(end_points['Mixed_5c'], (1, 2, 7, 7, 1), (1,) * 5, 'VALID')
    np.testing.assert_allclose(features, tf.reduce_mean(pooled, axis=(1, 2, 3)), atol=1e-6)
    np.testing.assert_allclose(features @ w + b, end_points['Logits'], rtol=1e-5, atol=1e-5)
    dynamic = tf.function(
        i3d.classifier_input, input_signature=[tf.TensorSpec([None] * 4 + [1024], tf.float32)]
    )
    np.testing.assert_allclose(dynamic(end_points['Mixed_5c']), features, atol=1e-6)
    for shape in ((1, 1, 7, 7, 1024), (2, 3, 8, 9, 1024)):  # 1 step; a 2x3 pooled map
        mixed_5c = tf.nn.relu(_clip(shape, seed=3))
        head = i3d.Logits(400, spatial_squeeze=False)
        head(mixed_5c, is_training=False)  # creates its variables; then the model's values
        head.conv.w.assign(model.logits_variables[0])
        head.conv.b.assign(b)
        per_position = head(mixed_5c, is_training=False)
        expected = tf.reduce_mean(per_position, axis=(1, 2))
        np.testing.assert_allclose(
            i3d.classifier_input(mixed_5c) @ w + b, expected, rtol=1e-5, atol=1e-5
        )
        np.testing.assert_allclose(dynamic(mixed_5c), i3d.classifier_input(mixed_5c), atol=1e-6)


@pytest.mark.parametrize('shape', [(1, 1, 224, 224, 3), (1, 4, 224, 224, 3), (2, 8, 64, 80, 3)])
def test_short_or_small_clips_still_give_logits(shape):
    model = i3d.InceptionI3d()
    logits, end_points = model(_clip(shape), is_training=False)
    assert logits.shape == (shape[0], 400)
    assert np.all(np.isfinite(logits))
    assert end_points['Mixed_5c'].shape[1] == -(-shape[1] // 8)


def _clamped_pool(net):
    """The clamped pool computed from static shapes (eager reference)."""
    window = [min(w, s) for w, s in zip(i3d.LOGITS_POOL, net.shape[1:4], strict=True)]
    return tf.nn.avg_pool3d(net, (1, *window, 1), (1,) * 5, 'VALID')


def test_logits_pool_is_the_clamped_pool_with_or_without_static_shapes():
    traced = tf.function(
        i3d.logits_pool, input_signature=[tf.TensorSpec([None, None, None, None, 4])]
    )
    for t, h, w in [(1, 1, 1), (1, 7, 7), (2, 7, 7), (3, 2, 9), (9, 8, 6), (5, 1, 12)]:
        net = _clip((2, t, h, w, 4), seed=t * 100 + h * 10 + w)
        expected = _clamped_pool(net)
        for got in (i3d.logits_pool(net), traced(net)):
            assert got.shape == expected.shape
            np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)


@pytest.fixture(scope='module')
def small_model():
    model = i3d.InceptionI3d(num_classes=5)
    spec = tf.TensorSpec([None, None, None, None, 3])
    traced = tf.function(lambda v: model(v, is_training=False)[0], input_signature=[spec])
    retraced = tf.function(lambda v: model(v, is_training=False)[0], reduce_retracing=True)
    return model, traced, retraced


@pytest.mark.slow
@pytest.mark.parametrize('frames', [1, 2, 7, 8, 9, 16])
def test_traced_with_unknown_dimensions_equals_eager_for_every_clip_length(small_model, frames):
    """`tf.function` with None dims (and retraced ones) used to pool an empty map: NaN."""
    model, traced, retraced = small_model
    x = _clip((2, frames, 40, 48, 3), seed=frames)
    eager, end_points = model(x, is_training=False)
    conv = model.layers['Logits'].conv
    manual = tf.nn.conv3d(_clamped_pool(end_points['Mixed_5c']), conv.w, (1,) * 5, 'SAME')
    manual = tf.reduce_mean(tf.squeeze(manual + conv.b, (2, 3)), axis=1)
    np.testing.assert_allclose(eager, manual, rtol=1e-5, atol=1e-5)
    retraced(_clip((1, 3, 32, 32, 3)))  # a first trace of another shape: the next is relaxed
    for fn in (traced, retraced):
        got = fn(x)
        assert got.shape == (2, 5) and np.all(np.isfinite(got))
        np.testing.assert_allclose(got, eager, rtol=1e-5, atol=1e-5)


def test_dropout_only_in_training():
    model = i3d.InceptionI3d(num_classes=10)
    x = _clip((2, 8, 32, 32, 3))
    eval_full, _ = model(x, is_training=False, dropout_keep_prob=1.0)
    eval_half, _ = model(x, is_training=False, dropout_keep_prob=0.5)
    np.testing.assert_array_equal(eval_full, eval_half)
    tf.random.set_seed(1)
    train_full, _ = model(x, is_training=True, dropout_keep_prob=1.0)
    train_a, _ = model(x, is_training=True, dropout_keep_prob=0.5)
    train_b, _ = model(x, is_training=True, dropout_keep_prob=0.5)
    assert not np.allclose(train_a, train_full)
    assert not np.allclose(train_a, train_b)


def _moving(model):
    return [v.numpy().copy() for v in model.variables if 'moving' in v.name]


def test_frozen_batch_norm_uses_and_keeps_the_moving_statistics_with_dropout_on():
    # --freeze_bn / --freeze_backbone: dropout as in training, BatchNorm as in inference.
    model = i3d.InceptionI3d(num_classes=5)
    x = _clip((2, 8, 32, 32, 3), seed=2)
    inference, _ = model(x, is_training=False)
    before = _moving(model)
    frozen, _ = model(x, is_training=True, freeze_batch_norm=True)
    np.testing.assert_array_equal(frozen, inference)  # keep 1.0: no dropout either
    for a, b in zip(before, _moving(model), strict=True):
        np.testing.assert_array_equal(a, b)
    seed = tf.constant([4, 2], tf.int64)
    dropped, _ = model(x, True, 0.5, freeze_batch_norm=True, dropout_seed=seed)
    scale = np.abs(inference).max()  # small: the initial moving statistics are (0, 1)
    assert np.abs(dropped - inference).max() > 0.1 * scale
    training, _ = model(x, is_training=True)
    assert np.abs(training - inference).max() > 10 * scale  # the modes differ


def test_stateless_dropout_depends_only_on_its_seed():
    model = i3d.InceptionI3d(num_classes=5)
    x = _clip((2, 8, 32, 32, 3), seed=3)

    def run(seed):
        out, _ = model(x, True, 0.5, freeze_batch_norm=True, dropout_seed=tf.constant(seed))
        return out.numpy()

    tf.random.set_seed(1)
    first = run([7, 1])
    tf.random.set_seed(2)  # the global seed does not matter
    np.testing.assert_array_equal(run([7, 1]), first)
    assert np.abs(run([7, 2]) - first).max() > 1e-4
    no_dropout, _ = model(x, False, 0.5, dropout_seed=tf.constant([7, 1]))
    np.testing.assert_array_equal(no_dropout, model(x, is_training=False)[0])


def test_local_statistics_normalize_with_the_batch_and_collect_its_moments():
    # Precise BN's mode: training-mode outputs, moving statistics untouched, moments given.
    model = i3d.InceptionI3d(final_endpoint='Mixed_3b')
    x = _clip((2, 4, 32, 32, 3), seed=4) * 2.0 + 0.3
    model(x, is_training=False)
    before = _moving(model)
    found = []
    local, _ = model(x, False, test_local_stats=True, batch_norm_moments=found)
    for a, b in zip(before, _moving(model), strict=True):
        np.testing.assert_array_equal(a, b)
    assert len(found) == len(model.batch_norms) == 9
    training, _ = model(x, is_training=True)
    np.testing.assert_allclose(local, training, atol=1e-5)
    unit = model.layers['Conv3d_1a_7x7']
    pre = tf.nn.conv3d(x, unit.w, (1, 2, 2, 2, 1), 'SAME')
    mean, variance = tf.nn.moments(pre, (0, 1, 2, 3), keepdims=True)
    np.testing.assert_allclose(found[0][0], mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(found[0][1], variance, rtol=1e-5, atol=1e-6)


def test_activation_fn_and_spatial_squeeze_are_honoured_in_training_mode():
    unit = i3d.Unit3D(4, activation_fn=tf.nn.tanh, name='u')
    x = _clip((2, 2, 4, 4, 3), seed=5)
    out = unit(x, is_training=True)
    assert float(tf.reduce_min(out)) < -0.1  # tanh, not ReLU
    normalized = unit.batch_norm(tf.nn.conv3d(x, unit.w, (1,) * 5, 'SAME'), False, True)
    np.testing.assert_allclose(out, tf.nn.tanh(normalized), atol=1e-6)
    model = i3d.InceptionI3d(num_classes=5, spatial_squeeze=False)
    logits, _ = model(_clip((2, 8, 32, 32, 3)), is_training=True, dropout_keep_prob=0.5)
    assert logits.shape == (2, 1, 1, 5)


def test_bfloat16_training_keeps_variables_gradients_and_statistics_float32():
    model = i3d.InceptionI3d(num_classes=5, compute_dtype=tf.bfloat16)
    x = _clip((2, 8, 32, 32, 3), seed=6)
    model(x, is_training=False)
    unit = model.layers['Conv3d_1a_7x7']
    before = unit.batch_norm.moving_mean.value.numpy().copy()
    seed = tf.constant([1, 2], tf.int64)
    with tf.GradientTape() as tape:
        logits, _ = model(x, True, 0.5, dropout_seed=seed)
        loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits([1, 3], logits))
    grads = tape.gradient(loss, model.trainable_variables)
    assert logits.dtype == tf.float32
    assert all(v.dtype == tf.float32 for v in model.variables if v.dtype.is_floating)
    assert all(g is not None and g.dtype == tf.float32 for g in grads)
    after = unit.batch_norm.moving_mean.value
    assert after.dtype == tf.float32 and not np.allclose(after.numpy(), before)


def test_sync_batch_norm_is_plain_batch_norm_on_one_replica_and_not_in_the_variables():
    x = _clip((2, 4, 32, 32, 3), seed=7)
    plain = i3d.InceptionI3d(final_endpoint='Mixed_3b')
    synced = i3d.InceptionI3d(final_endpoint='Mixed_3b', sync_batch_norm=True)
    plain(x, is_training=False)
    synced(x, is_training=False)
    assert [v.name for v in synced.variables] == [v.name for v in plain.variables]
    for a, b in zip(synced.variables, plain.variables, strict=True):
        a.assign(b)
    assert synced.sync_batch_norm and all(bn.cross_replica for bn in synced.batch_norms)
    # One replica: the global moments are the batch's (E[x^2] - E[x]^2 rounds differently).
    np.testing.assert_allclose(synced(x, True)[0], plain(x, True)[0], rtol=1e-4, atol=1e-4)
    for a, b in zip(_moving(synced), _moving(plain), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_every_trainable_variable_gets_a_gradient():
    model = i3d.InceptionI3d(num_classes=5)
    x = _clip((2, 16, 64, 64, 3))
    with tf.GradientTape() as tape:
        logits, _ = model(x, is_training=True, dropout_keep_prob=0.5)
        loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits([1, 3], logits))
    grads = tape.gradient(loss, model.trainable_variables)
    assert len(grads) == 116
    for var, grad in zip(model.trainable_variables, grads, strict=True):
        assert grad is not None, var.name
        assert float(tf.reduce_max(tf.abs(grad))) > 0, var.name


@pytest.mark.slow
def test_eager_equals_tf_function():
    model = i3d.InceptionI3d(num_classes=10)
    x = _clip((1, 9, 48, 48, 2))
    eager, eager_points = model(x, is_training=False)
    graph_fn = tf.function(lambda v: model(v, is_training=False))
    graph, graph_points = graph_fn(x)
    np.testing.assert_allclose(eager, graph, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(eager_points['Mixed_4f'], graph_points['Mixed_4f'], atol=1e-5)


@pytest.mark.slow
def test_bfloat16_compute_casts_activations_and_keeps_float32_variables():
    # How close the numbers are is tested with real weights on the cricket clip
    # (test_evaluate_sample.py): a random network's logits (~1e-3) are all rounding error.
    tf.random.set_seed(0)
    model = i3d.InceptionI3d(num_classes=10)
    x = _clip((1, 8, 64, 64, 3))
    fp32, _ = model(x, is_training=False)
    bf16_model = i3d.InceptionI3d(num_classes=10, compute_dtype=tf.bfloat16)
    bf16_model(x, is_training=False)
    for a, b in zip(bf16_model.variables, model.variables, strict=True):
        a.assign(b)
    bf16, end_points = bf16_model(x, is_training=False)
    assert bf16.dtype == tf.float32 and end_points['Mixed_5c'].dtype == tf.bfloat16
    assert all(v.dtype == tf.float32 for v in bf16_model.trainable_variables)
    assert np.all(np.isfinite(bf16)) and bf16.shape == fp32.shape
    assert np.linalg.norm(bf16 - fp32) < 0.2 * np.linalg.norm(fp32)  # measured: 3-8%
