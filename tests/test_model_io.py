"""model_io: checkpoint round trips, the on-disk key layout, resolution and errors."""

import os
from unittest import mock

import numpy as np
import pytest
import tensorflow as tf

import i3d
import model_io


def _model(num_classes=5, channels=3, seed=0):
    model = model_io.build(i3d.InceptionI3d(num_classes=num_classes), channels)
    rng = np.random.default_rng(seed)
    for v in model.variables:
        v.assign(rng.normal(size=v.shape).astype(v.dtype.as_numpy_dtype))
    return model


def test_save_then_load_restores_every_variable_and_the_spec(tmp_path):
    model = _model(num_classes=7, channels=2)
    prefix = model_io.save(model, str(tmp_path / 'run' / 'model'))
    assert sorted(os.listdir(tmp_path / 'run')) == ['model.data-00000-of-00001', 'model.index']
    assert model_io.read_spec(prefix) == (i3d.InceptionI3d, 7, 2)
    loaded, channels = model_io.load(str(tmp_path / 'run'))  # a folder works too
    assert channels == 2 and loaded.num_classes == 7
    for a, b in zip(model.variables, loaded.variables, strict=True):
        assert a.name == b.name
        np.testing.assert_array_equal(a, b)


def test_checkpoint_keys_are_the_pinned_format(tmp_path):
    """Renaming a tracked attribute of the model would orphan every saved checkpoint."""
    prefix = model_io.save(_model(), str(tmp_path / 'model'))
    keys = {name for name, _ in tf.train.list_variables(prefix)}
    for key in (
        'model/layers/Logits/_conv/w/.ATTRIBUTES/VARIABLE_VALUE',
        'model/layers/Logits/_conv/b/.ATTRIBUTES/VARIABLE_VALUE',
        'model/layers/Conv3d_1a_7x7/w/.ATTRIBUTES/VARIABLE_VALUE',
        'model/layers/Conv3d_1a_7x7/_bn/offset/.ATTRIBUTES/VARIABLE_VALUE',
        'model/layers/Mixed_4b/_branches/1/_units/1/w/.ATTRIBUTES/VARIABLE_VALUE',
        'model/layers/Mixed_4b/_branches/1/_units/1/_bn/moving_mean/average/.ATTRIBUTES/VARIABLE_VALUE',
    ):
        assert key in keys, key
    assert f'{model_io.MODEL_KEY}/{i3d.Logits.KERNEL_KEY}/.ATTRIBUTES/VARIABLE_VALUE' in keys
    assert (
        f'{model_io.MODEL_KEY}/{i3d.InceptionI3d.FIRST_KERNEL_KEY}/.ATTRIBUTES/VARIABLE_VALUE'
        in keys
    )


@pytest.mark.slow
def test_truncated_load_gives_the_full_models_features(tmp_path):
    full = _model(num_classes=3)
    prefix = model_io.save(full, str(tmp_path / 'model'))
    extractor, _ = model_io.load(prefix, final_endpoint='Mixed_5c')
    assert 'Logits' not in extractor.layers
    clip = tf.random.stateless_uniform((1, 16, 64, 64, 3), (5, 6), -1, 1)
    features, _ = extractor(clip, is_training=False)
    _, end_points = full(clip, is_training=False)
    assert features.shape == (1, 2, 2, 2, 1024)
    np.testing.assert_array_equal(features, end_points['Mixed_5c'])


def test_a_truncated_checkpoint_serves_features_but_not_logits(tmp_path):
    trunk = model_io.build(i3d.InceptionI3d(final_endpoint='Mixed_5c'), 3)
    prefix = model_io.save(trunk, str(tmp_path / 'trunk'))
    assert model_io.read_spec(prefix) == (i3d.InceptionI3d, None, 3)
    model_io.load(prefix, final_endpoint='Mixed_4f')
    with pytest.raises(ValueError, match='trunk: checkpoint has no Logits layer'):
        model_io.load(prefix)


def test_a_failed_save_leaves_the_previous_checkpoint_intact(tmp_path):
    prefix = str(tmp_path / 'model')
    first = _model(seed=1)
    model_io.save(first, prefix)
    with (
        mock.patch.object(tf.train.Checkpoint, 'write', side_effect=OSError('disk full')),
        pytest.raises(OSError, match='disk full'),
    ):
        model_io.save(_model(seed=2), prefix)
    assert sorted(os.listdir(tmp_path)) == ['model.data-00000-of-00001', 'model.index']
    loaded, _ = model_io.load(prefix)
    np.testing.assert_array_equal(loaded.logits_variables[0], first.logits_variables[0])


def test_resolve_accepts_prefix_index_and_folder(tmp_path):
    prefix = model_io.save(_model(), str(tmp_path / 'model'))
    assert model_io.resolve(prefix) == prefix
    assert model_io.resolve(prefix + '.index') == prefix
    assert model_io.resolve(str(tmp_path)) == prefix


def test_loading_something_else_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match=r'nothing/model: no checkpoint found .*import_weights'):
        model_io.load(str(tmp_path / 'nothing' / 'model'))
    other = str(tmp_path / 'other' / 'ckpt')
    tf.train.Checkpoint(v=tf.Variable(1.0)).write(other)
    with pytest.raises(ValueError, match='other/ckpt: not an InceptionI3d checkpoint'):
        model_io.load(other)


def test_restore_requires_every_variable_of_the_model(tmp_path):
    trunk = model_io.build(i3d.InceptionI3d(final_endpoint='Mixed_3b'), 3)
    prefix = model_io.save(trunk, str(tmp_path / 'short'))
    deeper = model_io.build(i3d.InceptionI3d(final_endpoint='Mixed_3c'), 3)
    with pytest.raises(ValueError, match='short: does not hold every variable of the model'):
        model_io.restore(deeper, prefix)


def _damage(prefix, how):
    """Damages the data file of a checkpoint as a crash, a bad disk or a user would."""
    [data] = tf.io.gfile.glob(prefix + '.data-*')
    size = os.path.getsize(data)
    if how == 'truncated':
        os.truncate(data, size // 2)
    elif how == 'one byte short':
        os.truncate(data, size - 1)
    elif how == 'flipped':
        with open(data, 'r+b') as f:
            f.seek(size // 2)
            byte = f.read(1)
            f.seek(size // 2)
            f.write(bytes([byte[0] ^ 1]))
    elif how == 'garbage':
        with open(data, 'wb') as f:
            f.write(os.urandom(size))
    else:
        os.remove(data)


@pytest.mark.parametrize('how', ['truncated', 'one byte short', 'flipped', 'garbage', 'missing'])
def test_load_is_the_checked_path_for_every_kind_of_damage(tmp_path, how):
    """One read of the weights finds the damage (each tensor's CRC32C), as verify does."""
    trunk = model_io.build(i3d.InceptionI3d(final_endpoint='Mixed_3b'), 3)
    prefix = model_io.save(trunk, str(tmp_path / 'ckpt' / 'model'))
    _damage(prefix, how)
    with pytest.raises(ValueError) as restored:
        model_io.load(prefix, final_endpoint='Mixed_3b')
    message = str(restored.value)
    assert message.startswith(f'{prefix}: damaged checkpoint (') and '\n' not in message
    assert '{{' not in message and len(message) < 500
    with pytest.raises(ValueError, match='damaged checkpoint'):
        model_io.verify(prefix)


def test_load_refuses_the_other_streams_checkpoint_before_reading_it(tmp_path):
    prefix = model_io.save(
        model_io.build(i3d.InceptionI3d(final_endpoint='Mixed_3b'), 3), str(tmp_path / 'm')
    )
    with (
        mock.patch.object(model_io, 'restore', side_effect=AssertionError('read')),
        pytest.raises(ValueError, match=r'm: takes 3-channel input \(for the rgb stream\), but '),
    ):
        model_io.load(prefix, final_endpoint='Mixed_3b', stream='flow')
    model, channels = model_io.load(prefix, final_endpoint='Mixed_3b', stream='rgb')
    assert channels == model.input_channels == 3
    with pytest.raises(ValueError, match=r'takes 4-channel input \(for no stream\)'):
        model_io.check_stream(prefix, 4, 'rgb')


def _run_dir(tmp_path, steps):
    """A training-like folder: CheckpointManager's ckpt-N files and `checkpoint` state."""
    variable = tf.Variable(tf.zeros([1000]))
    manager = tf.train.CheckpointManager(tf.train.Checkpoint(v=variable), str(tmp_path), 5)
    for step in steps:
        variable.assign_add(tf.ones([1000]))
        manager.save(checkpoint_number=step)
    return str(tmp_path)


def test_latest_intact_names_the_damage_and_the_newest_intact_older_checkpoint(tmp_path):
    assert model_io.latest_intact(str(tmp_path)) is None  # nothing recorded yet
    model_dir = _run_dir(tmp_path, [2, 4, 6])
    assert model_io.latest_intact(model_dir) == f'{model_dir}/ckpt-6'
    _damage(f'{model_dir}/ckpt-6', 'truncated')
    with pytest.raises(ValueError) as damaged:
        model_io.latest_intact(model_dir)
    message = str(damaged.value)
    assert message.startswith(f'{model_dir}/ckpt-6: damaged checkpoint (')
    assert f'the newest intact one is {model_dir}/ckpt-4: delete {model_dir}/ckpt-6.*' in message
    # Deleting it, as the message says, resumes from the older one.
    for name in os.listdir(model_dir):
        if name.startswith('ckpt-6.'):
            os.remove(os.path.join(model_dir, name))
    assert model_io.latest_intact(model_dir) == f'{model_dir}/ckpt-4'
    assert model_io.resolve(model_dir) == f'{model_dir}/ckpt-4'  # evaluate.py takes it too
    os.remove(f'{model_dir}/ckpt-4.index')  # only the index lost: damaged, not deleted
    _damage(f'{model_dir}/ckpt-2', 'flipped')
    with pytest.raises(ValueError, match=r'ckpt-4.index is missing\); cannot resume: no intact'):
        model_io.latest_intact(model_dir)


def test_restoring_into_a_model_of_another_shape_is_not_called_damage(tmp_path):
    prefix = model_io.save(_model(num_classes=5), str(tmp_path / 'model'))
    other = model_io.build(i3d.InceptionI3d(num_classes=7), 3)
    with pytest.raises(ValueError) as error:
        model_io.restore(other, prefix)
    message = str(error.value)
    assert message.startswith(f'{prefix}: does not fit the model (') and '\n' not in message
