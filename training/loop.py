"""The training loop shared by train_rgb.py and train_flow.py.

`run(config, stream)` is the outline of a run: devices and strategy (`cluster`), every
input checked before any step (`data`), one run per folder with its settings kept
(`run_dir`), the model, optimizer and compiled step (`trainer`, `optimization`), steps
with a progress bar, checkpoints that resume exactly, logs and TensorBoard summaries
(`logs`), precise BatchNorm and evaluation. SIGINT/SIGTERM save and stop (`stopping`).
"""

import os
import random
import signal
import sys
import time

import numpy as np
import tensorflow as tf

import model_io
from common import files
from training import batch_norm, cluster, data, evaluation, logs, run_dir, stopping
from training.trainer import Trainer, init_from_checkpoint


class Interrupted(Exception):
    """SIGINT or SIGTERM stopped the run after saving it (the message says where)."""

    def __init__(self, message, signum):
        super().__init__(message)
        self.exit_code = 128 + signum


def _classes(config, log):
    """(number of classes, class names or None, label map path) of the run, checked.

    Every pattern's label map must agree: --train_data's parts with each other and
    --eval_data with --train_data; --num_classes, if given, with their length.

    Raises:
      ValueError: naming the label maps or flags that disagree.
    """
    names, path = data.shard_label_map(
        config.train_data, config.num_classes or None, classes_of='--num_classes'
    )
    if names is None and not config.num_classes:
        raise ValueError(
            f'{config.train_data}: no label_map.txt beside the shards; pass --num_classes'
        )
    if names is None:
        log(
            f'{config.train_data}: no label_map.txt; labels outside [0, {config.num_classes}) '
            'are skipped'
        )
    if config.eval_data:
        eval_names, eval_path = data.shard_label_map(config.eval_data)
        if (eval_names is None) != (names is None):
            missing = config.eval_data if eval_names is None else config.train_data
            raise ValueError(
                f'{missing}: no label_map.txt beside the shards, so its classes cannot be '
                f'checked against {eval_path or path}'
            )
        if eval_names is not None:
            data.shard_label_map(config.eval_data, label_map=path)  # raises if they differ
    return config.num_classes or len(names), names, path


def _seed_of(config, checkpoint):
    """The run's seed: the checkpoint's when resuming, else --seed, else a fresh one."""
    if checkpoint:
        stored = int(tf.train.load_variable(checkpoint, 'seed/.ATTRIBUTES/VARIABLE_VALUE'))
        if config.seed is not None and config.seed != stored:
            raise ValueError(
                f'{checkpoint}: cannot resume with another --seed ({stored} there, '
                f'{config.seed} now); use the settings of the run that wrote it, or another '
                '--model_dir'
            )
        return stored
    return config.seed if config.seed is not None else random.randrange(2**31)


def run(config, stream, log=logs.log):
    """Trains `stream` as configured. Returns the final metrics dict.

    Raises:
      ValueError: bad data, checkpoint or settings (one line, before any step), a
        non-finite loss or weights (naming the last good checkpoint), unreadable data
        met during the run (after saving the steps done).
      Interrupted: SIGINT or SIGTERM (after saving the steps done).
    """
    config.validate()
    if config.deterministic:
        cluster.setup_determinism()
    cluster.setup_devices(config.cpu_replicas)
    # First: MultiWorkerMirroredStrategy must exist before any other TF op runs.
    strategy = cluster.make_strategy(config.strategy)
    train_files = data.list_files(config.train_data)
    eval_files = data.list_files(config.eval_data) if config.eval_data else None
    data.check_shards(train_files, stream, config.crop_size, log)
    if eval_files:
        data.check_shards(eval_files, stream, config.crop_size, log)
        data.eval_frame_cap(stream, config.eval_max_frames)
    data.check_shard_order(train_files)
    num_classes, class_names, _ = _classes(config, log)
    data.check_labels(train_files + (eval_files or []), num_classes)
    worker, num_workers, chief = cluster.worker_info(strategy)
    # Non-chief workers take part in every save (collective ops) but write elsewhere.
    model_dir = config.model_dir if chief else os.path.join(config.model_dir, f'worker_{worker}')
    run_dir.prepare(model_dir)
    try:
        with run_dir.lock(model_dir), stopping.StopRequests() as stops:
            return _run_locked(
                config,
                stream,
                strategy,
                model_dir,
                (worker, num_workers, chief),
                (num_classes, class_names, train_files, eval_files),
                stops,
                log,
            )
    except files.LockedError as e:
        raise ValueError(f'{e}: one run per --model_dir') from None


def _run_locked(config, stream, strategy, model_dir, who, found, stops, log):
    from tqdm import tqdm

    worker, num_workers, chief = who
    num_classes, class_names, train_files, eval_files = found
    eval_total = data.videos_in(eval_files) if eval_files else None
    run_dir.clean_temporaries(model_dir)
    latest = model_io.latest_intact(model_dir)
    seed = _seed_of(config, latest)
    settings = run_dir.settings(config, stream, num_classes, class_names, train_files, seed)
    if latest:
        stored = run_dir.read_settings(model_dir)
        if stored is None:  # a folder from before run_settings.json
            run_dir.check_checkpoint_shapes(latest, num_classes, stream.channels)
        else:
            for notice in run_dir.check_resume(stored, settings, latest):
                log(f'{model_dir}: {notice}')
        step_there = int(latest.rsplit('-', 1)[1])
        if config.train_steps < step_there:
            raise ValueError(
                f'{latest}: already at step {step_there}, beyond --train_steps='
                f'{config.train_steps}; give --train_steps >= {step_there} (or another '
                '--model_dir)'
            )
    if chief or not latest:
        run_dir.write_settings(model_dir, settings)

    seed_var = tf.Variable(seed, dtype=tf.int64)
    trainer = Trainer(config, stream, strategy, num_classes, seed)
    checkpoint = tf.train.Checkpoint(
        **{model_io.MODEL_KEY: trainer.model}, optimizer=trainer.optimizer_state(), seed=seed_var
    )
    manager = tf.train.CheckpointManager(
        checkpoint,
        model_dir,
        max_to_keep=config.keep_checkpoints,
        checkpoint_name=run_dir.CHECKPOINT_PREFIX,
    )
    if latest:
        try:
            checkpoint.read(latest).assert_existing_objects_matched()
        except (AssertionError, ValueError, tf.errors.OpError) as e:
            first = (str(e).strip().splitlines() or [type(e).__name__])[0][:300]
            raise ValueError(
                f'{latest}: cannot resume: it was written with other settings ({first})'
            ) from None
        log(f'resumed from {latest} at step {trainer.step}')
    elif config.init_checkpoint:
        with strategy.scope():
            init_from_checkpoint(trainer.model, config.init_checkpoint, log)
    trainer.agree(trainer.step, 'the step they resume from')
    run_dir.restart_log(model_dir, trainer.step) if latest else logs.fresh_log(model_dir)
    last_good = [latest]

    def save(step):
        if not trainer.weights_finite():
            raise ValueError(
                f'non-finite weights at step {step} (not saved); the last good checkpoint '
                f'is {last_good[0] or "none"}'
            )
        last_good[0] = manager.save(checkpoint_number=step)
        return last_good[0]

    def batches(seed_, start):
        dataset = data.train_dataset(
            train_files,
            stream,
            config.num_frames,
            config.crop_size,
            config.batch_size,
            seed_,
            start,
            worker,
            num_workers,
            config.shuffle_buffer,
            num_classes,
        )
        return iter(dataset)

    def precise_bn(step):
        if config.precise_bn_batches:
            it = (trainer.distribute(b)[0] for b in batches(seed + 1 + step, 0))
            batch_norm.precise_bn(trainer.model, strategy, it, config.precise_bn_batches)

    def evaluate(step):
        if not eval_files:
            return {}
        dataset = data.eval_dataset(eval_files, stream, config.crop_size, config.eval_max_frames)
        # One worker may leave an evaluation early; several must all reach the next step.
        should_stop = (lambda: stops.requested) if num_workers == 1 else None
        _, labels, logits = evaluation.predict(
            trainer.model, dataset, eval_total, desc=f'eval {step}', should_stop=should_stop
        )
        if stops.requested and num_workers == 1:
            return {}
        found = evaluation.accuracies(labels, logits)
        log(
            f'step {step}: eval top-1 {found["top1"]:.4f} top-5 {found["top5"]:.4f} '
            f'({found["videos"]} videos)'
        )
        return {f'eval/{k}': v for k, v in found.items() if k != 'videos'}

    writer = tf.summary.create_file_writer(model_dir) if chief else tf.summary.create_noop_writer()
    start = trainer.step
    if start >= config.train_steps:  # e.g. a run stopped during its final evaluation
        log(f'{latest} is at step {start} = --train_steps: nothing to train')
        final = evaluate(start)
        if eval_files:
            _stopped_in_evaluation(stops, latest)
        logs.summaries(writer, start, final)
        return final
    iterator = batches(seed, start)
    bar = tqdm(
        total=config.train_steps,
        initial=start,
        unit='step',
        file=sys.stderr,
        disable=not chief,
        dynamic_ncols=True,
    )
    metrics, last = {}, time.perf_counter()
    done, reading = start, train_files
    try:
        for step in range(start, config.train_steps):
            reading = train_files
            batch = next(iterator)
            metrics = trainer.train_step(batch, stop=stops.requested)
            done = step + 1
            if metrics['non_finite'] or not np.isfinite(metrics['loss']):
                what = 'loss' if not np.isfinite(metrics['loss']) else 'weights'
                raise ValueError(
                    f'non-finite {what} ({metrics["loss"]:g}) at step {done}; the last good '
                    f'checkpoint is {last_good[0] or "none"} (lower --learning_rate?)'
                )
            now = time.perf_counter()
            clips_per_s = config.batch_size / max(now - last, 1e-9)
            last = now
            bar.set_postfix(loss=f'{metrics["loss"]:.4f}', clips_s=f'{clips_per_s:.1f}')
            bar.update(1)
            metrics['learning_rate'] = trainer.learning_rate(step)
            metrics['clips_per_second'] = clips_per_s
            if chief:
                run_dir.append_log(model_dir, done, logs.logged(metrics))
            if done % config.summary_every == 0 or done == config.train_steps:
                logs.summaries(writer, done, metrics)
            if metrics['stop'] and done < config.train_steps:  # the last step: save as usual
                saved = save(done)
                signum = stops.signum or signal.SIGTERM  # another worker was stopped
                raise Interrupted(
                    f'{stopping.name(signum)}: stopped at step {done}; saved {saved}. Run the '
                    'same command again to resume.',
                    signum,
                )
            if done == config.train_steps:
                break
            scheduled_eval = config.eval_every and done % config.eval_every == 0
            if scheduled_eval:
                precise_bn(done)
            if done % config.checkpoint_every == 0 or scheduled_eval:
                save(done)  # before evaluating: a failed evaluation loses no step
            if scheduled_eval:
                reading = eval_files
                logs.summaries(writer, done, evaluate(done))
        bar.close()
        # The final model first, then its evaluation: an evaluation failure loses nothing.
        precise_bn(config.train_steps)
        log(f'saved {save(trainer.step)}')
        reading = eval_files
        final = evaluate(config.train_steps)
        if eval_files:
            _stopped_in_evaluation(stops, last_good[0])
    except tf.errors.OpError as e:  # data that could not be read (e.g. a truncated shard)
        saving = num_workers == 1 and done > int(
            last_good[0].rsplit('-', 1)[1] if last_good[0] else 0
        )
        culprits = reading or train_files
        raise _data_error(e, culprits, done, save if saving else None, last_good[0]) from None
    finally:
        bar.close()
    logs.summaries(writer, config.train_steps, final)
    metrics.update(final)
    return metrics


def _stopped_in_evaluation(stops, saved):
    if stops.requested:
        raise Interrupted(
            f'{stopping.name(stops.signum)}: stopped during the final evaluation; the model is '
            f'saved at {saved}. Run the same command again to evaluate it.',
            stops.signum,
        )


def _data_error(error, paths, step, save, last_saved):
    """A one-line error for data that failed to read mid-run, after saving the steps done."""
    saved = f'; saved {save(step)}' if save else ''
    if not save and last_saved:
        saved = f'; the last checkpoint is {last_saved}'
    culprit = ', '.join(paths)
    for path in paths:  # name the shard: TensorFlow's message does not
        try:
            for _ in tf.data.TFRecordDataset(path):
                pass
        except tf.errors.OpError:
            culprit = path
            break
    reason = ' '.join((error.message or type(error).__name__).split())
    reason = reason.split('}}')[-1].split(' [Op:')[0].strip()
    return ValueError(
        f'{culprit}: unreadable data after step {step} ({type(error).__name__}: {reason})'
        f'{saved}. Rebuild the shard or leave it out, then run again to resume.'
    )


def cli_main(argv, stream, flag_values):
    """`main` of train_rgb.py / train_flow.py: one line on error, no traceback."""
    from training import options

    config = options.from_flags(argv, flag_values)
    try:
        run(config, stream)
    except Interrupted as e:
        print(e, file=sys.stderr)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        sys.exit(
            'error: interrupted twice: stopped without saving the steps since the last checkpoint'
        )
    except ValueError as e:
        sys.exit(f'error: {e}')
