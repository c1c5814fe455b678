"""training.options: the Config fields, the flags made from them, and the refusals of
settings that contradict each other (before any work)."""

import dataclasses

import pytest
from absl import app, flags

from common import kernels
from preprocess import streams
from training import options


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
        ({'num_frames': 5}, "--num_frames=5: TensorFlow's oneDNN filter gradient"),
    ],
)
def test_flags_that_would_cancel_each_other_are_refused(flags, message):
    with pytest.raises(ValueError, match=message):
        options.Config('x', 'y', **flags).validate()


def test_flags_are_made_from_the_config_fields():
    """One declaration: every Config field is a flag with the field's default (the stream's
    schedule for the fields that take it from the stream)."""
    import dataclasses

    for stream in (streams.RGB, streams.FLOW):
        values = flags.FlagValues()
        options.define_flags(stream, values)
        fields = {f.name: f for f in dataclasses.fields(options.Config)}
        assert set(values) == set(fields)
        assert values['train_steps'].default == stream.train_steps
        assert values['batch_size'].default == fields['batch_size'].default == 6
        assert values['dropout_keep_prob'].parser.upper_bound == 1


def test_defaults_are_the_papers_clip_and_regularization_and_they_validate():
    config = options.Config('shards/*.tfrecord', 'runs/x')
    assert (config.network, config.num_frames, config.crop_size) == ('i3d', 64, 224)
    assert (config.weight_decay, config.dropout_keep_prob) == (1e-7, 0.5)
    assert (config.batch_size, config.optimizer, config.strategy) == (6, 'adam', 'mirrored')
    assert config.seed is None and config.eval_data is None and config.init_checkpoint is None
    assert config.lr_boundaries == () and config.lr_values == ()
    config.validate()
    assert config.schedule() == ((), (1e-4,))


def test_the_schedule_divides_by_ten_at_each_boundary_unless_values_are_given():
    sgd = options.Config('x', 'y', optimizer='sgd', lr_boundaries=(10, 20))
    boundaries, values = sgd.schedule()
    assert boundaries == (10, 20) and values == pytest.approx((0.1, 0.01, 0.001))
    mine = options.Config('x', 'y', learning_rate=0.5, lr_boundaries=(5,))
    assert mine.schedule() == ((5,), pytest.approx((0.5, 0.05)))
    given = options.Config('x', 'y', lr_boundaries=(5,), lr_values=(0.3, 0.2))
    assert given.schedule() == ((5,), (0.3, 0.2))


@pytest.mark.parametrize(
    'values, message',
    [
        ({'network': 'nope'}, '--network=nope: not in zoo.py (i3d'),
        ({'deterministic': True}, '--deterministic needs --seed (a run without one draws its own)'),
        ({'lr_boundaries': (20, 10)}, '--lr_boundaries must increase: (20, 10)'),
        ({'lr_boundaries': (10, 10)}, '--lr_boundaries must increase: (10, 10)'),
        (
            {'lr_boundaries': (10,), 'lr_values': (1.0, 2.0, 3.0)},
            '--lr_values needs 2 values for 1 --lr_boundaries, got 3',
        ),
    ],
)
def test_validate_refuses_naming_the_flags(values, message):
    with pytest.raises(ValueError) as error:
        options.Config('x', 'y', **values).validate()
    assert str(error.value).startswith(message)
    assert '\n' not in str(error.value)


def test_the_onednn_crashing_clip_length_is_allowed_with_eigens_kernels(monkeypatch):
    monkeypatch.setenv(kernels.VARIABLE, '0')
    options.Config('x', 'y', num_frames=5).validate()
    options.Config('x', 'y', deterministic=True, seed=3, strategy='multi_worker').validate()


def test_every_flag_has_its_fields_help_default_kind_and_bounds():
    values = flags.FlagValues()
    options.define_flags(streams.FLOW, values)
    for field in dataclasses.fields(options.Config):
        flag = values[field.name]
        meta = field.metadata
        choices = f'<{"|".join(meta["choices"])}>: ' if meta['choices'] else ''
        assert flag.help == choices + meta['help'], field.name
        if meta['stream'] is None:
            default = None if field.default is dataclasses.MISSING else field.default
            if isinstance(default, tuple):
                default = [str(v) for v in default]
            assert flag.default == default, field.name
    assert values['optimizer'].flag_type() == 'string enum'
    assert values['optimizer'].parser.enum_values == list(options.OPTIMIZERS)
    assert values['freeze_bn'].flag_type() == 'bool'
    assert values['num_classes'].parser.lower_bound == 0
    assert values['batch_size'].parser.lower_bound == 1
    assert values['dropout_keep_prob'].parser.lower_bound == 0
    assert values['learning_rate'].flag_type() == 'float'
    assert values['lr_boundaries'].flag_type() == 'comma separated list of strings'
    assert values['lr_boundaries'].default == [str(b) for b in streams.FLOW.lr_boundaries]
    with pytest.raises(flags.IllegalFlagValueError, match='batch_size'):
        values(['train', '--train_data=x', '--model_dir=y', '--batch_size=0'])


def _parsed(*args):
    values = flags.FlagValues()
    options.define_flags(streams.RGB, values)
    return values(['train', *args]), values


def test_train_data_and_model_dir_are_required():
    with pytest.raises(flags.IllegalFlagValueError, match='--model_dir must have a value'):
        _parsed('--train_data=x')


def test_from_flags_reads_lists_as_numbers_and_refuses_stray_arguments():
    argv, values = _parsed('--train_data=x', '--model_dir=y', '--lr_boundaries=10,20')
    config = options.from_flags(argv, values)
    assert config.lr_boundaries == (10, 20) and config.lr_values == ()
    assert config.train_steps == streams.RGB.train_steps
    argv, values = _parsed('--train_data=x', '--model_dir=y', '--lr_values=0.1,0.01')
    assert options.from_flags(argv, values).lr_values == (0.1, 0.01)
    argv, values = _parsed('--train_data=x', '--model_dir=y', '--deterministic', 'false')
    with pytest.raises(app.UsageError, match=r"Unexpected arguments: \['false'\]"):
        options.from_flags(argv, values)
    argv, values = _parsed('--train_data=x', '--model_dir=y', '--lr_boundaries=1k')
    with pytest.raises(app.UsageError, match='--lr_boundaries/--lr_values: invalid literal'):
        options.from_flags(argv, values)


def test_check_exits_with_one_error_line_before_any_work(tmp_path):
    (tmp_path / 'a.tfrecord').write_bytes(b'')
    argv, values = _parsed(f'--train_data={tmp_path}/*.tfrecord', '--model_dir=y')
    options.check(argv, values)  # nothing to refuse
    argv, values = _parsed(
        f'--train_data={tmp_path}/*.tfrecord', '--model_dir=y', '--deterministic'
    )
    with pytest.raises(SystemExit) as exit:
        options.check(argv, values)
    assert (
        exit.value.code == 'error: --deterministic needs --seed (a run without one draws its own)'
    )
    argv, values = _parsed(
        f'--train_data={tmp_path}/*.tfrecord', '--model_dir=y', f'--eval_data={tmp_path}/e-*'
    )
    with pytest.raises(SystemExit) as exit:
        options.check(argv, values)
    assert exit.value.code == f'error: {tmp_path}/e-*: no files match'
