"""training.loop pieces in one process: L2, learning-rate schedule, fine-tuning, freezing."""

import numpy as np
import pytest
import tensorflow as tf

import i3d
import model_io
from training import loop, options, streams


def test_l2_term_is_half_the_sum_of_squared_conv_kernels():
    model = model_io.build(i3d.InceptionI3d(num_classes=4), 2)
    kernels = loop.conv_weights(model, model.trainable_variables)
    assert len(kernels) == len(list(model.named_units())) == 58  # 57 units + logits
    assert all(k.name.endswith('/w:0') for k in kernels)  # no biases, no BN offsets
    by_hand = sum(float(np.sum(np.square(k.numpy().astype(np.float64)))) for k in kernels) / 2
    assert float(loop.l2_term(kernels, 1e-7)) == pytest.approx(1e-7 * by_hand, rel=1e-5)
    w, b = model.logits_variables
    assert loop.conv_weights(model, [w, b]) == [w]


def test_learning_rate_just_before_and_after_each_boundary():
    config = options.Config('x', 'y', optimizer='sgd', lr_boundaries=(97_000, 108_000))
    schedule = loop.PiecewiseConstant(*config.schedule())
    rates = {s: float(schedule(s)) for s in (0, 96_999, 97_000, 107_999, 108_000, 114_999)}
    assert rates == pytest.approx(
        {0: 0.1, 96_999: 0.1, 97_000: 0.01, 107_999: 0.01, 108_000: 0.001, 114_999: 0.001}
    )
    custom = options.Config('x', 'y', lr_boundaries=(10,), lr_values=(0.5, 0.2))
    assert float(loop.PiecewiseConstant(*custom.schedule())(10)) == pytest.approx(0.2)
    assert float(loop.PiecewiseConstant((), (3e-4,))(10**6)) == pytest.approx(3e-4)
    with pytest.raises(ValueError, match='needs 2 values'):
        options.Config('x', 'y', lr_boundaries=(10,), lr_values=(0.5,)).schedule()


def test_fine_tune_rgb_scratch_to_three_classes_with_a_frozen_backbone(rgb_weights):
    config = options.Config(
        'x',
        'y',
        num_classes=3,
        batch_size=2,
        optimizer='sgd',
        learning_rate=0.5,
        freeze_backbone=True,
        dropout_keep_prob=1.0,
    )
    strategy = tf.distribute.OneDeviceStrategy('/cpu:0')
    trainer = loop.Trainer(config, streams.RGB, strategy, 3, seed=0)
    messages = []
    with strategy.scope():
        skipped = loop.init_from_checkpoint(trainer.model, rgb_weights, messages.append)
    logits_names = {v.name for v in trainer.model.logits_variables}
    assert set(skipped) == logits_names and 'not restored' in messages[0]
    reference, _ = model_io.load(rgb_weights)
    ref = {v.name: v.numpy() for v in reference.variables}
    before = {v.name: v.numpy() for v in trainer.model.variables}
    for name, value in before.items():
        if name not in logits_names:
            np.testing.assert_array_equal(value, ref[name])
    clips = tf.random.stateless_uniform((2, 8, 32, 32, 3), (0, 1), -1, 1)
    for _ in range(2):
        metrics = trainer.train_step((clips, tf.constant([0, 2], tf.int64)))
    assert np.isfinite(metrics['loss']) and trainer.step == 2
    for variable in trainer.model.variables:
        if variable.name in logits_names:
            assert np.abs(variable.numpy() - before[variable.name]).max() > 0
        else:  # weights, offsets and BatchNorm statistics: bit-identical
            np.testing.assert_array_equal(variable.numpy(), before[variable.name], variable.name)


def test_init_checkpoint_of_another_stream_is_refused(rgb_weights):
    model = model_io.build(i3d.InceptionI3d(num_classes=3), 2)
    with pytest.raises(ValueError, match='3-channel checkpoint for another stream'):
        loop.init_from_checkpoint(model, rgb_weights)


def test_deterministic_without_a_seed_is_refused_before_anything_runs(tmp_path):
    config = options.Config('none-*.tfrecord', str(tmp_path / 'run'), deterministic=True)
    with pytest.raises(ValueError, match='--deterministic needs --seed'):
        loop.run(config, streams.RGB)
    assert not (tmp_path / 'run').exists()
