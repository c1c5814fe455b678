"""training.trainer: fine-tuning from a checkpoint, a frozen backbone, checked warm starts."""

import os

import numpy as np
import pytest
import tensorflow as tf

import i3d
import model_io
from preprocess import streams
from training import options
from training.trainer import Trainer, init_from_checkpoint


@pytest.mark.slow
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
    trainer = Trainer(config, streams.RGB, strategy, 3, seed=0)
    messages = []
    with strategy.scope():
        skipped = init_from_checkpoint(trainer.model, rgb_weights, messages.append)
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
    with pytest.raises(
        ValueError, match=r'takes 3-channel input \(for the rgb stream\), but the flow stream'
    ):
        init_from_checkpoint(model, rgb_weights)


@pytest.mark.slow
@pytest.mark.parametrize('damage', ['truncated', 'missing'])
def test_a_damaged_init_checkpoint_is_one_line(tmp_path, damage):
    """train_*.py --init_checkpoint goes through model_io.load, the checked path."""
    source = model_io.save(
        model_io.build(i3d.InceptionI3d(num_classes=3), 3), str(tmp_path / 'init' / 'model')
    )
    [data] = tf.io.gfile.glob(source + '.data-*')
    if damage == 'truncated':
        os.truncate(data, os.path.getsize(data) // 3)
    else:
        os.remove(data)
    model = model_io.build(i3d.InceptionI3d(num_classes=3), 3)
    with pytest.raises(ValueError) as error:
        init_from_checkpoint(model, source)
    assert str(error.value).startswith(f'{source}: damaged checkpoint (')
    assert '\n' not in str(error.value)
