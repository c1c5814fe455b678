"""training.run_dir: the run folder's checkpoints, temporaries, settings and log."""

import json
import os

from training import run_dir


def test_clean_temporaries_removes_what_a_killed_save_left(tmp_path):
    (tmp_path / 'ckpt-3_temp').mkdir()
    (tmp_path / 'ckpt-3_temp' / 'part-00000-of-00001.index').write_text('x')
    (tmp_path / 'run_settings.json.tmp-123').write_text('x')
    (tmp_path / 'ckpt-2.index').write_text('kept')
    removed = run_dir.clean_temporaries(str(tmp_path))
    assert len(removed) == 2 and sorted(os.listdir(tmp_path)) == ['ckpt-2.index']


def test_restart_log_keeps_one_line_per_step_up_to_the_checkpoint(tmp_path):
    for step in (1, 2, 3, 4):
        run_dir.append_log(str(tmp_path), step, {'loss': float(step)})
    with open(tmp_path / run_dir.LOG_NAME, 'a') as f:
        f.write('{"step": 5, "lo')  # cut by kill -9
    run_dir.restart_log(str(tmp_path), 2)
    run_dir.append_log(str(tmp_path), 3, {'loss': 30.0})
    with open(tmp_path / run_dir.LOG_NAME) as f:
        records = [json.loads(line) for line in f]
    assert [(r['step'], r['loss']) for r in records] == [(1, 1.0), (2, 2.0), (3, 30.0)]


def test_settings_that_may_change_only_give_notices(tmp_path):
    stored = {name: 1 for name in run_dir.FIXED} | {'schedule': {'values': [0.1]}}
    stored |= {'train_files': [['a', 1]]}
    current = dict(stored) | {'schedule': {'values': [0.01]}, 'train_files': [['a', 2]]}
    current |= {'train_steps': 9, 'eval_every': 3}
    notices = run_dir.check_resume(stored, current, 'ckpt-2')
    assert 'learning-rate schedule changed' in notices[0] and 'shard files' in notices[1]
    assert set(run_dir.FIXED).isdisjoint(run_dir.FREE)


def test_settings_hold_every_option_once_classified_where_it_is_declared(tmp_path):
    """Each Config field says itself whether a resume must keep it: the stored settings are
    exactly FIXED and FREE, and the fields not stored as given are the derived ones."""
    import dataclasses

    from preprocess import streams
    from training import options

    shard = tmp_path / 'train-0.tfrecord'
    shard.write_bytes(b'x' * 7)
    config = options.Config(train_data=str(shard), model_dir=str(tmp_path), seed=3)
    stored = run_dir.settings(config, streams.RGB, 5, ['a'] * 5, [str(shard)], 3)
    assert set(stored) == set(run_dir.FIXED) | set(run_dir.FREE)
    assert len(run_dir.FIXED + run_dir.FREE) == len(stored)
    assert stored['train_files'] == [['train-0.tfrecord', 7]] and stored['network'] == 'i3d'
    derived = {f.name for f in dataclasses.fields(options.Config)} - set(stored)
    assert derived == {
        'train_data',
        'model_dir',
        'learning_rate',
        'lr_boundaries',
        'lr_values',
    }
    assert {'network', 'batch_size', 'num_frames'} <= set(run_dir.FIXED)
    assert {'train_steps', 'eval_data', 'strategy'} <= set(run_dir.FREE)
