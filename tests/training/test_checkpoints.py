"""training.checkpoints: the run's seed, the step of a checkpoint, and the Saver's keep/rotate,
its refusal to save non-finite weights and to resume from other settings (a small stand-in
trainer, no network)."""

import os

import numpy as np
import pytest
import tensorflow as tf

import model_io
from preprocess import streams
from training import checkpoints, options


class _Trainer:
    """What a Saver asks of a trainer: a model, the optimizer's state, finite weights."""

    def __init__(self, units=3):
        self.model = tf.Module()
        self.model.w = tf.Variable(tf.ones([units]))
        self.optimizer = tf.Module()
        self.optimizer.iterations = tf.Variable(0, dtype=tf.int64)

    def optimizer_state(self):
        return self.optimizer

    def weights_finite(self):
        return bool(np.all(np.isfinite(self.model.w.numpy())))


def _files(folder):
    return sorted(p for p in os.listdir(folder) if p.startswith('ckpt-'))


def test_the_saver_keeps_the_newest_and_numbers_them_by_step(tmp_path):
    trainer = _Trainer()
    saver = checkpoints.Saver(trainer, str(tmp_path), seed=11, keep=2)
    for step in (10, 20, 30):
        trainer.model.w.assign_add(tf.ones([3]))
        trainer.optimizer.iterations.assign(step)
        assert saver.save(step) == str(tmp_path / f'ckpt-{step}') == saver.last_good
    assert {p.split('.')[0] for p in _files(tmp_path)} == {'ckpt-20', 'ckpt-30'}
    assert model_io.latest_intact(str(tmp_path)) == str(tmp_path / 'ckpt-30')
    assert checkpoints.step_of(saver.last_good) == 30 and checkpoints.step_of(None) == 0
    other = _Trainer()
    checkpoints.Saver(other, str(tmp_path / 'x'), seed=0, keep=1).restore(str(tmp_path / 'ckpt-20'))
    np.testing.assert_array_equal(other.model.w.numpy(), [3, 3, 3])
    assert int(other.optimizer.iterations.numpy()) == 20
    config = options.Config('x', 'y')
    assert checkpoints.seed_of(config, str(tmp_path / 'ckpt-30')) == 11


def test_non_finite_weights_are_never_saved_and_the_last_good_is_named(tmp_path):
    trainer = _Trainer()
    saver = checkpoints.Saver(trainer, str(tmp_path), seed=1, keep=3)
    saver.save(5)
    trainer.model.w.assign([1.0, np.nan, 0.0])
    with pytest.raises(ValueError) as error:
        saver.save(6)
    assert str(error.value) == (
        f'non-finite weights at step 6 (not saved); the last good checkpoint is {tmp_path}/ckpt-5'
    )
    assert saver.last_good == str(tmp_path / 'ckpt-5')
    assert not [p for p in _files(tmp_path) if p.startswith('ckpt-6')]
    fresh = checkpoints.Saver(trainer, str(tmp_path / 'fresh'), seed=1, keep=3)
    with pytest.raises(ValueError, match='the last good checkpoint is none'):
        fresh.save(1)


def test_a_checkpoint_of_other_settings_cannot_be_resumed(tmp_path):
    saver = checkpoints.Saver(_Trainer(units=3), str(tmp_path), seed=1, keep=1)
    saved = saver.save(1)
    other = checkpoints.Saver(_Trainer(units=4), str(tmp_path / 'other'), seed=1, keep=1)
    with pytest.raises(ValueError) as error:
        other.restore(saved)
    message = str(error.value)
    assert message.startswith(f'{saved}: cannot resume: it was written with other settings (')
    assert '\n' not in message


def test_the_seed_is_the_checkpoints_else_the_flag_else_a_fresh_one(tmp_path):
    saved = checkpoints.Saver(_Trainer(), str(tmp_path), seed=42, keep=1).save(3)
    assert checkpoints.seed_of(options.Config('x', 'y', seed=42), saved) == 42
    with pytest.raises(ValueError) as error:
        checkpoints.seed_of(options.Config('x', 'y', seed=7), saved)
    assert str(error.value) == (
        f'{saved}: cannot resume with another --seed (42 there, 7 now); use the settings of the '
        'run that wrote it, or another --model_dir'
    )
    assert checkpoints.seed_of(options.Config('x', 'y', seed=7), None) == 7
    fresh = {checkpoints.seed_of(options.Config('x', 'y'), None) for _ in range(5)}
    assert len(fresh) > 1 and all(0 <= s < 2**31 for s in fresh)


def test_resume_point_cleans_leftovers_records_the_settings_and_refuses_fewer_steps(tmp_path):
    shard = tmp_path / 'train-0.tfrecord'
    shard.write_bytes(b'')
    model_dir = tmp_path / 'run'
    config = options.Config(str(shard), str(model_dir), train_steps=5)
    classes = (3, ['a', 'b', 'c'])
    lines = []
    os.makedirs(model_dir / 'ckpt-9_temp')  # what a killed save leaves
    start = checkpoints.resume_point(
        config, streams.RGB, str(model_dir), classes, [str(shard)], True, lines.append
    )
    assert start[0] is None and isinstance(start[1], int)
    assert os.listdir(model_dir) == [model_io.SETTINGS_NAME]
    assert model_io.read_settings(str(model_dir))['class_names'] == ['a', 'b', 'c']
    checkpoints.Saver(_Trainer(), str(model_dir), seed=start[1], keep=1).save(8)
    with pytest.raises(ValueError) as error:
        checkpoints.resume_point(
            config, streams.RGB, str(model_dir), classes, [str(shard)], True, lines.append
        )
    assert str(error.value) == (
        f'{model_dir}/ckpt-8: already at step 8, beyond --train_steps=5; give --train_steps >= '
        '8 (or another --model_dir)'
    )
    config.train_steps = 10
    latest, seed = checkpoints.resume_point(
        config, streams.RGB, str(model_dir), classes, [str(shard)], True, lines.append
    )
    assert (latest, seed) == (str(model_dir / 'ckpt-8'), start[1]) and lines == []
