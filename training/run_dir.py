"""A training run's folder (--model_dir): one run at a time, its settings, log and checkpoints.

    runs/ucf101_rgb/
      .lock                 held while a run uses the folder (released by the kernel on death)
      run_settings.json     what the checkpoints were trained with (compared on resume)
      train_log.jsonl       one JSON line per step, the re-run steps of a resume replaced
      checkpoint, ckpt-N.*  tf.train.CheckpointManager's files
      events.out.tfevents.* TensorBoard summaries

A resume must not change what decides the model, the optimizer state or the record order
(`FIXED`); the length of the run, evaluation and checkpoint cadence may change (`FREE`).
"""

import glob
import json
import os
import shutil

import model_io
from common import files
from training import data, options

LOCK_NAME = '.lock'
SETTINGS_NAME = model_io.SETTINGS_NAME
LOG_NAME = 'train_log.jsonl'

# Settings a resumed run shares with the run that wrote its checkpoints: the stream, the
# classes and the seed as the run resolved them, and the options `training.options` marks
# 'fixed'.
FIXED = ('stream', 'num_classes', 'class_names', 'seed', *options.stored_fields('fixed'))
# May change from one run to the next (the shard files and the learning-rate schedule with
# a notice: the run then no longer equals an uninterrupted one, e.g. after a shard was rebuilt).
FREE = ('train_files', 'schedule', *options.stored_fields('free'))


def prepare(model_dir):
    """Creates `model_dir` (and parents) or fails in one line.

    Raises:
      ValueError: it is a file, lies under one, or cannot be created.
    """
    if os.path.exists(model_dir) and not os.path.isdir(model_dir):
        raise ValueError(f'{model_dir}: --model_dir is a file, not a folder')
    try:
        os.makedirs(model_dir, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise ValueError(f'{model_dir}: --model_dir lies under a file') from None
    except OSError as e:
        raise ValueError(f'{model_dir}: cannot create --model_dir ({e.strerror})') from None
    if not os.access(model_dir, os.W_OK | os.X_OK):
        raise ValueError(f'{model_dir}: --model_dir is not writable')
    return model_dir


def lock(model_dir):
    """A context manager holding the folder for one run (files.LockedError if taken)."""
    return files.exclusive_lock(
        os.path.join(model_dir, LOCK_NAME), holder=f'another training run in {model_dir}'
    )


def clean_temporaries(model_dir):
    """Removes what a killed save left: `ckpt-N_temp/` folders and `*.tmp-<pid>` files."""
    removed = []
    for path in glob.glob(os.path.join(model_dir, f'{model_io.CHECKPOINT_PREFIX}-*_temp')):
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    for path in glob.glob(os.path.join(model_dir, f'*{files.TMP_MARK}*')):
        if os.path.isfile(path):
            os.remove(path)
            removed.append(path)
    return removed


def settings(config, stream, num_classes, class_names, train_files, seed):
    """The settings of a run, as stored in run_settings.json (JSON types only)."""
    boundaries, values = config.schedule()
    return {
        'stream': stream.name,
        'num_classes': num_classes,
        'class_names': list(class_names) if class_names else None,
        'seed': seed,
        'train_files': [[os.path.basename(f), os.path.getsize(f)] for f in train_files],
        'schedule': {'boundaries': list(boundaries), 'values': list(values)},
    } | {
        name: getattr(config, name)
        for name in options.stored_fields('fixed') + options.stored_fields('free')
    }


def write_settings(model_dir, values):
    files.write_atomic(
        os.path.join(model_dir, SETTINGS_NAME), json.dumps(values, indent=1, sort_keys=True)
    )


def _shown(name, value):
    if name == 'class_names' and value:
        return f'{len(value)} classes ({", ".join(value[:3])}{", ..." if len(value) > 3 else ""})'
    if name == 'train_files':
        return f'{len(value)} shard files'
    return json.dumps(value)


def check_resume(stored, current, checkpoint):
    """Refuses a resume whose settings differ from the stored ones where it matters.

    Returns:
      Notices about settings that may change and did (e.g. the learning-rate schedule).

    Raises:
      ValueError: naming the first setting that differs, both values and the checkpoint.
    """
    for name in FIXED:
        if name == 'seed' and current.get('seed') is None:
            continue  # no --seed given: the stored one is used
        if name in stored and stored[name] != current[name]:
            if name == 'class_names' and stored[name] and current[name]:
                detail = f'{data.label_difference(current[name], stored[name])} in the checkpoint'
            else:
                detail = f'{_shown(name, stored[name])} there, {_shown(name, current[name])} now'
            flag = {'stream': 'stream', 'class_names': 'set of classes'}.get(name, f'--{name}')
            raise ValueError(
                f'{checkpoint}: cannot resume with another {flag} ({detail}); use the '
                'settings of the run that wrote it, or another --model_dir'
            )
    notices = []
    if stored.get('schedule') not in (None, current['schedule']):
        notices.append(
            f'learning-rate schedule changed from {stored["schedule"]} to {current["schedule"]}'
        )
    if stored.get('train_files') not in (None, current['train_files']):
        notices.append(
            'the shard files (names or sizes) differ from the run that wrote the checkpoint: '
            'the record order after the resume differs from an uninterrupted run'
        )
    return notices


def check_checkpoint_shapes(checkpoint, num_classes, stream):
    """For folders without run_settings.json: classes and channels read from the checkpoint.

    Raises:
      ValueError: if they differ from the run's (`stream`: the run's stream record).
    """
    _, stored_classes, stored_channels = model_io.read_spec(checkpoint)
    try:
        model_io.check_stream(checkpoint, stored_channels, stream.name)
    except ValueError as e:
        raise ValueError(f'{e}: cannot resume the {stream.name} stream from it') from None
    if stored_classes != num_classes:
        raise ValueError(
            f'{checkpoint}: {stored_classes} classes there, {num_classes} now; cannot resume '
            'with another number of classes (use another --model_dir)'
        )


def restart_log(model_dir, step):
    """Keeps the train_log.jsonl lines of steps <= `step` (the checkpoint resumed from).

    The steps after it are trained again, so their earlier lines go: one line per step.
    """
    path = os.path.join(model_dir, LOG_NAME)
    if not os.path.exists(path):
        return
    kept = []
    with open(path) as f:
        for line in f:
            try:
                record = json.loads(line)
            except ValueError:
                continue  # a line cut by kill -9
            if isinstance(record, dict) and isinstance(record.get('step'), int):
                if record['step'] <= step:
                    kept.append(json.dumps(record) + '\n')
    files.write_atomic(path, ''.join(kept))


def append_log(model_dir, step, metrics):
    """One JSON line per step in <model_dir>/train_log.jsonl."""
    record = {'step': step, **metrics}
    with open(os.path.join(model_dir, LOG_NAME), 'a') as f:
        f.write(json.dumps(record) + '\n')
