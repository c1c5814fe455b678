"""training.loop in one process: L2, schedule, fine-tuning, freezing, and every refusal
that comes before the first step (flags, label maps, resume settings, locks, folders)."""

import os
from unittest import mock

import numpy as np
import pytest
import tensorflow as tf

import i3d
import model_io
from common import files, label_map
from preprocess import streams
from training import evaluation, loop, options, run_dir


@pytest.fixture
def dataset(tmp_path):
    """Train/test shard folders of 3 classes with label maps (no video decoding)."""
    from motion_videos import CLASSES, write_shard

    for split in ('train', 'test'):
        (tmp_path / split).mkdir()
        write_shard(
            tmp_path / split / 's-0.tfrecord', [(f'{split}{i}', i, 4, (40, 40)) for i in range(3)]
        )
        label_map.write(str(tmp_path / split / 'label_map.txt'), CLASSES)
    return tmp_path


def _config(dataset, **flags):
    values = {
        'train_data': str(dataset / 'train' / '*.tfrecord'),
        'model_dir': str(dataset / 'run'),
        'num_frames': 4,
        'crop_size': 32,
        'batch_size': 2,
        'seed': 1,
    } | flags
    return options.Config(**values)


def test_label_maps_and_num_classes_must_agree_before_any_step(dataset):
    other = dataset / 'other'
    other.mkdir()
    (other / 's-0.tfrecord').write_bytes((dataset / 'test' / 's-0.tfrecord').read_bytes())
    label_map.write(str(other / 'label_map.txt'), ['a', 'b', 'c'])
    eval_other = _config(dataset, eval_data=str(other / '*.tfrecord'))
    with pytest.raises(ValueError, match=r'other/label_map.txt: other classes than .*train/label'):
        loop.run(eval_other, streams.RGB)
    two_sets = _config(dataset, train_data=f'{dataset}/train/*.tfrecord,{other}/*.tfrecord')
    with pytest.raises(ValueError, match=r"other/label_map.txt: other classes .*class 0 is 'a'"):
        loop.run(two_sets, streams.RGB)
    with pytest.raises(ValueError, match=r'3 classes, but --num_classes has 2'):
        loop.run(_config(dataset, num_classes=2), streams.RGB)
    assert not os.path.exists(dataset / 'run' / 'ckpt-1.index')


def _fake_run(dataset, step=2, **flags):
    """A --model_dir as a run of `flags` leaves it at `step`: settings and a checkpoint."""
    config = _config(dataset, **flags)
    model_dir = config.model_dir
    os.makedirs(model_dir, exist_ok=True)
    train_files = sorted(str(p) for p in (dataset / 'train').glob('*.tfrecord'))
    settings = run_dir.settings(
        config, streams.RGB, 3, ['horizontal', 'still', 'vertical'], train_files, config.seed
    )
    run_dir.write_settings(model_dir, settings)
    model = model_io.build(i3d.InceptionI3d(num_classes=3, final_endpoint='Logits'), 3)
    seed = tf.Variable(config.seed, dtype=tf.int64)
    tf.train.Checkpoint(model=model, seed=seed).write(os.path.join(model_dir, f'ckpt-{step}'))
    return model_dir


@pytest.mark.parametrize(
    'changed, message',
    [
        ({'batch_size': 4}, r'cannot resume with another --batch_size \(2 there, 4 now\)'),
        ({'optimizer': 'sgd'}, r'another --optimizer \("adam" there, "sgd" now\)'),
        ({'seed': 5}, r'another --seed'),
        ({'crop_size': 36}, r'another --crop_size'),
        ({'freeze_bn': True}, r'another --freeze_bn'),
        ({'train_steps': 1}, r'already at step 2, beyond --train_steps=1'),
    ],
)
@pytest.mark.slow
def test_a_resume_that_changes_what_matters_is_refused_naming_it(dataset, changed, message):
    model_dir = _fake_run(dataset)
    with pytest.raises(ValueError, match=message):
        loop.run(_config(dataset, **changed), streams.RGB)
    assert not os.path.exists(os.path.join(model_dir, 'ckpt-3.index'))


def test_a_resume_of_another_stream_or_class_count_is_refused(dataset):
    _fake_run(dataset)
    with pytest.raises(
        ValueError, match=r'cannot resume with another stream \("rgb" there, "flow" now'
    ):
        loop.run(_config(dataset), streams.FLOW)
    os.remove(dataset / 'run' / run_dir.SETTINGS_NAME)  # a folder from before the settings file
    with pytest.raises(ValueError) as error:
        loop.run(_config(dataset), streams.FLOW)
    assert str(error.value).endswith(
        'ckpt-2: takes 3-channel input (for the rgb stream), but the flow stream has 2: '
        'cannot resume the flow stream from it'
    )


def test_one_run_per_model_dir(dataset):
    model_dir = _fake_run(dataset)
    with files.exclusive_lock(os.path.join(model_dir, run_dir.LOCK_NAME)):
        with pytest.raises(ValueError, match=r'held by another training run .* one run per'):
            loop.run(_config(dataset), streams.RGB)


def test_model_dir_that_is_a_file_or_under_one(dataset):
    (dataset / 'file').write_text('x')
    with pytest.raises(ValueError, match=r'file: --model_dir is a file'):
        loop.run(_config(dataset, model_dir=str(dataset / 'file')), streams.RGB)
    with pytest.raises(ValueError, match=r'--model_dir lies under a file'):
        loop.run(_config(dataset, model_dir=str(dataset / 'file' / 'run')), streams.RGB)


def test_deterministic_without_a_seed_is_refused_before_anything_runs(tmp_path):
    config = options.Config('none-*.tfrecord', str(tmp_path / 'run'), deterministic=True)
    with pytest.raises(ValueError, match='--deterministic needs --seed'):
        loop.run(config, streams.RGB)
    assert not (tmp_path / 'run').exists()


@pytest.mark.slow
def test_each_evaluation_writes_its_confusion_matrix_into_tensorboard(dataset):
    """The evaluations' predictions are given (the model's would cost minutes here)."""
    config = _config(
        dataset,
        eval_data=str(dataset / 'test' / '*.tfrecord'),
        train_steps=2,
        eval_every=1,
        freeze_backbone=True,
    )
    predicted = (['a', 'b', 'c'], np.array([0, 1, 2]), np.eye(3, dtype=np.float32)[[0, 2, 2]])
    with mock.patch.object(evaluation, 'predict', return_value=predicted) as predict:
        loop.run(config, streams.RGB, log=lambda _: None)
    assert predict.call_count == 2
    images = {}
    for path in tf.io.gfile.glob(str(dataset / 'run' / 'events.out.tfevents.*')):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                if value.tag == 'eval/confusion':
                    assert value.metadata.plugin_data.plugin_name == 'images'
                    images[event.step] = tf.make_ndarray(value.tensor)
    assert sorted(images) == [1, 2]  # the scheduled evaluation and the final one
    for width, height, png in images.values():
        decoded = tf.io.decode_png(png).numpy()
        assert decoded.shape[:2] == (int(height), int(width)) and int(width) > 300
