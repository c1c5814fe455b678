"""The training loop shared by train_rgb.py and train_flow.py.

`run(config, stream)` is the outline of a run: devices and strategy (`cluster`), every
input checked before any step (`data`), one run per folder with its settings kept
(`run_dir`), the model, optimizer and compiled step (`trainer`, `optimization`), steps
with a progress bar, checkpoints that resume exactly, logs and TensorBoard summaries
(`logs`), precise BatchNorm and evaluation. SIGINT/SIGTERM save and stop (`stopping`).
"""

import os
import signal
import sys
import time
import typing

import numpy as np
import tensorflow as tf

from common import files
from training import (
    batch_norm,
    checkpoints,
    cluster,
    data,
    evaluation,
    logs,
    run_dir,
    stopping,
)
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


class _Inputs(typing.NamedTuple):
    """The checked data of a run."""

    train_files: list
    eval_files: list | None
    eval_total: int | None  # videos in eval_files (from their manifests), when known
    num_classes: int
    class_names: list | None


def _checked_inputs(config, stream, log):
    """Every shard, label map and label checked before any work (one line on error)."""
    train_files = data.list_files(config.train_data)
    eval_files = data.list_files(config.eval_data) if config.eval_data else None
    data.check_shards(train_files, stream, config.crop_size, log)
    if eval_files:
        data.check_shards(eval_files, stream, config.crop_size, log)
        data.eval_frame_cap(stream, config.eval_max_frames)
    data.check_shard_order(train_files)
    num_classes, class_names, _ = _classes(config, log)
    data.check_labels(train_files + (eval_files or []), num_classes)
    eval_total = data.videos_in(eval_files) if eval_files else None
    return _Inputs(train_files, eval_files, eval_total, num_classes, class_names)


def run(config, stream, log=logs.log):
    """Trains `stream` as configured. Returns the final metrics dict.

    Raises:
      ValueError: bad data, checkpoint or settings (one line, before any step), a
        non-finite loss or weights (naming the last good checkpoint), unreadable data
        met during the run (after saving the steps done).
      Interrupted: SIGINT or SIGTERM (after saving the steps done).
    """
    config.validate()
    strategy = cluster.start(config)  # first: before any other TensorFlow op
    inputs = _checked_inputs(config, stream, log)
    worker, num_workers, chief = cluster.worker_info(strategy)
    # Non-chief workers take part in every save (collective ops) but write elsewhere.
    model_dir = config.model_dir if chief else os.path.join(config.model_dir, f'worker_{worker}')
    run_dir.prepare(model_dir)
    try:
        with run_dir.lock(model_dir), stopping.StopRequests() as stops:
            who = (worker, num_workers, chief)
            return _Run(config, stream, strategy, model_dir, who, inputs, stops, log).train()
    except files.LockedError as e:
        raise ValueError(f'{e}: one run per --model_dir') from None


class _Run:
    """One run holding its --model_dir: resumed or started, then trained and evaluated."""

    def __init__(self, config, stream, strategy, model_dir, who, inputs, stops, log):
        self.config, self.stream, self.strategy = config, stream, strategy
        self.model_dir = model_dir
        self.worker, self.num_workers, self.chief = who
        self.inputs, self.stops, self.log = inputs, stops, log
        latest, self.seed = checkpoints.resume_point(
            config,
            stream,
            model_dir,
            (inputs.num_classes, inputs.class_names),
            inputs.train_files,
            self.chief,
            log,
        )
        self.trainer = Trainer(config, stream, strategy, inputs.num_classes, self.seed)
        self.saver = checkpoints.Saver(
            self.trainer, model_dir, self.seed, config.keep_checkpoints, latest
        )
        if latest:
            self.saver.restore(latest)
            log(f'resumed from {latest} at step {self.trainer.step}')
        elif config.init_checkpoint:
            with strategy.scope():
                init_from_checkpoint(self.trainer.model, config.init_checkpoint, log)
        self.trainer.agree(self.trainer.step, 'the step they resume from')
        if latest:
            run_dir.restart_log(model_dir, self.trainer.step)
        else:
            logs.fresh_log(model_dir)
        self.writer = (
            tf.summary.create_file_writer(model_dir)
            if self.chief
            else tf.summary.create_noop_writer()
        )
        self.reading = inputs.train_files  # what an unreadable-data error blames

    def train(self):
        """Steps from the resumed one to --train_steps, then the final save and evaluation."""
        config, start, log = self.config, self.trainer.step, self.log
        if start >= config.train_steps:  # e.g. a run stopped during its final evaluation
            latest = self.saver.last_good  # nothing saved yet: the checkpoint resumed
            log(f'{latest} is at step {start} = --train_steps: nothing to train')
            final = self.evaluate(start)
            if self.inputs.eval_files:
                _stopped_in_evaluation(self.stops, latest)
            logs.summaries(self.writer, start, final)
            return final
        self.done = start
        try:
            metrics = self._steps(start)
            # The final model first, then its evaluation: an evaluation failure loses nothing.
            self.precise_bn(config.train_steps)
            log(f'saved {self.saver.save(self.trainer.step)}')
            self.reading = self.inputs.eval_files
            final = self.evaluate(config.train_steps)
            if self.inputs.eval_files:
                _stopped_in_evaluation(self.stops, self.saver.last_good)
        except tf.errors.OpError as e:  # data that could not be read (e.g. a truncated shard)
            saving = self.num_workers == 1 and self.done > checkpoints.step_of(self.saver.last_good)
            raise _data_error(
                e,
                self.reading or self.inputs.train_files,
                self.done,
                self.saver.save if saving else None,
                self.saver.last_good,
            ) from None
        logs.summaries(self.writer, config.train_steps, final)
        metrics.update(final)
        return metrics

    def _steps(self, start):
        """The training steps, with a progress bar, logs, summaries, saves, evaluations."""
        from tqdm import tqdm

        config, trainer = self.config, self.trainer
        iterator = self.batches(self.seed, start)
        bar = tqdm(
            total=config.train_steps,
            initial=start,
            unit='step',
            file=sys.stderr,
            disable=not self.chief,
            dynamic_ncols=True,
        )
        metrics, last = {}, time.perf_counter()
        with bar:
            for step in range(start, config.train_steps):
                self.reading = self.inputs.train_files
                batch = next(iterator)
                metrics = trainer.train_step(batch, stop=self.stops.requested)
                self.done = done = step + 1
                if metrics['non_finite'] or not np.isfinite(metrics['loss']):
                    what = 'loss' if not np.isfinite(metrics['loss']) else 'weights'
                    raise ValueError(
                        f'non-finite {what} ({metrics["loss"]:g}) at step {done}; the last '
                        f'good checkpoint is {self.saver.last_good or "none"} (lower '
                        '--learning_rate?)'
                    )
                now = time.perf_counter()
                clips_per_s = config.batch_size / max(now - last, 1e-9)
                last = now
                bar.set_postfix(loss=f'{metrics["loss"]:.4f}', clips_s=f'{clips_per_s:.1f}')
                bar.update(1)
                metrics['learning_rate'] = trainer.learning_rate(step)
                metrics['clips_per_second'] = clips_per_s
                if self.chief:
                    run_dir.append_log(self.model_dir, done, logs.logged(metrics))
                if done % config.summary_every == 0 or done == config.train_steps:
                    logs.summaries(self.writer, done, metrics)
                if metrics['stop'] and done < config.train_steps:  # the last: save as usual
                    saved = self.saver.save(done)
                    signum = self.stops.signum or signal.SIGTERM  # another worker was stopped
                    raise Interrupted(
                        f'{stopping.name(signum)}: stopped at step {done}; saved {saved}. Run '
                        'the same command again to resume.',
                        signum,
                    )
                if done == config.train_steps:
                    break
                scheduled_eval = config.eval_every and done % config.eval_every == 0
                if scheduled_eval:
                    self.precise_bn(done)
                if done % config.checkpoint_every == 0 or scheduled_eval:
                    self.saver.save(done)  # before evaluating: a failed evaluation loses no step
                if scheduled_eval:
                    self.reading = self.inputs.eval_files
                    logs.summaries(self.writer, done, self.evaluate(done))
        return metrics

    def batches(self, seed, start):
        """The training input from step `start` on (a function of the seed and the step)."""
        config = self.config
        dataset = data.train_dataset(
            self.inputs.train_files,
            self.stream,
            config.num_frames,
            config.crop_size,
            config.batch_size,
            seed,
            start,
            self.worker,
            self.num_workers,
            config.shuffle_buffer,
            self.inputs.num_classes,
        )
        return iter(dataset)

    def precise_bn(self, step):
        """Recomputes BatchNorm's statistics on fresh training batches (--precise_bn_batches)."""
        if self.config.precise_bn_batches:
            it = (self.trainer.distribute(b)[0] for b in self.batches(self.seed + 1 + step, 0))
            batch_norm.precise_bn(
                self.trainer.model, self.strategy, it, self.config.precise_bn_batches
            )

    def evaluate(self, step):
        """Top-1 / top-5 on --eval_data as summary metrics ({} without eval data)."""
        config, eval_files, stops = self.config, self.inputs.eval_files, self.stops
        if not eval_files:
            return {}
        dataset = data.eval_dataset(
            eval_files, self.stream, config.crop_size, config.eval_max_frames
        )
        # One worker may leave an evaluation early; several must all reach the next step.
        alone = self.num_workers == 1
        should_stop = (lambda: stops.requested) if alone else None
        _, labels, logits = evaluation.predict(
            self.trainer.model,
            dataset,
            self.inputs.eval_total,
            desc=f'eval {step}',
            should_stop=should_stop,
        )
        if stops.requested and alone:
            return {}
        found = evaluation.accuracies(labels, logits)
        self.log(
            f'step {step}: eval top-1 {found["top1"]:.4f} top-5 {found["top5"]:.4f} '
            f'({found["videos"]} videos)'
        )
        if self.chief:
            classes = self.inputs.num_classes
            names = self.inputs.class_names or [str(c) for c in range(classes)]
            matrix = evaluation.confusion(labels, logits, classes)
            logs.confusion_image(self.writer, step, matrix, names)
        return {f'eval/{k}': v for k, v in found.items() if k != 'videos'}


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
            for _ in tf.data.TFRecordDataset(path, buffer_size=files.TFRECORD_BUFFER_BYTES):
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
