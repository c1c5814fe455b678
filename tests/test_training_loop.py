"""training.loop in one process: L2, schedule, fine-tuning, freezing, and every refusal
that comes before the first step (flags, label maps, resume settings, locks, folders)."""

import os
from unittest import mock

import numpy as np
import pytest
import tensorflow as tf

import i3d
import model_io
from common import files, label_map, streams
from training import evaluation, loop, options, run_dir


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
    # TF1's piecewise_constant: the rate of step 97000 (updates made so far) is still 0.1.
    rates = {s: float(schedule(s)) for s in (0, 97_000, 97_001, 108_000, 108_001, 114_999)}
    assert rates == pytest.approx(
        {0: 0.1, 97_000: 0.1, 97_001: 0.01, 108_000: 0.01, 108_001: 0.001, 114_999: 0.001}
    )
    custom = options.Config('x', 'y', lr_boundaries=(10,), lr_values=(0.5, 0.2))
    assert float(loop.PiecewiseConstant(*custom.schedule())(10)) == pytest.approx(0.5)
    assert float(loop.PiecewiseConstant(*custom.schedule())(11)) == pytest.approx(0.2)
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
    with pytest.raises(
        ValueError, match=r'takes 3-channel input \(for the rgb stream\), but the flow stream'
    ):
        loop.init_from_checkpoint(model, rgb_weights)


def test_adam_epsilon_is_tf1s():
    assert loop.make_optimizer('adam', 1e-3).epsilon == 1e-8


@pytest.mark.parametrize(
    'flags, message',
    [
        ({'sync_batch_norm': True, 'freeze_bn': True}, '--sync_batch_norm contradicts --freeze_bn'),
        (
            {'sync_batch_norm': True, 'freeze_backbone': True},
            '--sync_batch_norm contradicts --freeze_backbone',
        ),
        ({'precise_bn_batches': 4, 'freeze_bn': True}, 'keeps fixed'),
        ({'precise_bn_batches': 4, 'freeze_backbone': True}, 'keeps fixed'),
        ({'strategy': 'multi_worker'}, '--strategy=multi_worker needs --seed'),
    ],
)
def test_flags_that_would_cancel_each_other_are_refused(flags, message):
    with pytest.raises(ValueError, match=message):
        options.Config('x', 'y', **flags).validate()


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
    with pytest.raises(ValueError, match=r'ckpt-2: a 3-channel checkpoint; cannot resume'):
        loop.run(_config(dataset), streams.FLOW)


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


@pytest.mark.parametrize(
    'value, message',
    [
        ("{'cluster': 1}", 'TF_CONFIG: not valid JSON'),
        ('{"task": {"type": "worker", "index": 0}}', 'TF_CONFIG: no "cluster"'),
        (
            '{"cluster": {"worker": ["localhost:1"]}, "task": {"type": "worker", "index": 3}}',
            'TF_CONFIG: task .worker. index 3 is not in the cluster',
        ),
    ],
)
def test_malformed_tf_config_is_named(monkeypatch, value, message):
    monkeypatch.setenv('TF_CONFIG', value)
    with pytest.raises(ValueError, match=message):
        loop.check_tf_config()


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
        loop.init_from_checkpoint(model, source)
    assert str(error.value).startswith(f'{source}: damaged checkpoint (')
    assert '\n' not in str(error.value)


def test_deterministic_without_a_seed_is_refused_before_anything_runs(tmp_path):
    config = options.Config('none-*.tfrecord', str(tmp_path / 'run'), deterministic=True)
    with pytest.raises(ValueError, match='--deterministic needs --seed'):
        loop.run(config, streams.RGB)
    assert not (tmp_path / 'run').exists()


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
