"""The training loop shared by train_rgb.py and train_flow.py.

`run(config, stream)`: devices and strategy, model (fine-tuned or from scratch), Keras
optimizer with L2 on the conv weights, seeded input, checkpoints that resume exactly,
TensorBoard summaries, a progress bar, evaluation. Facts it relies on, measured with
TF 2.21 / Keras 3.15 / Sonnet 2.0.2 (DESIGN.md §3):
- Keras-3 optimizers over Sonnet variables work under MirroredStrategy when their slots
  are built up front (`opt.build`) under `strategy.scope()`; they SUM gradients over
  replicas, so the loss is `compute_average_loss(per_example, global_batch)` + L2/replicas.
- A distributed iterator is not checkpointable: the input is a function of (seed, step)
  instead (training/data.py), and the step is the optimizer's iteration count.
"""

import json
import os
import random
import signal
import sys
import time

import keras
import numpy as np
import tensorflow as tf
from tensorflow.core.framework import summary_pb2

import i3d
import model_io
from common import files
from training import batch_norm, data, evaluation, run_dir, stopping

SGD_MOMENTUM = 0.9  # paper
# TF1's tf.train.AdamOptimizer default, which the released TF1 training code used
# (Keras' default is 1e-7).
ADAM_EPSILON = 1e-8


def setup_devices(cpu_replicas):
    """Splits the CPU into `cpu_replicas` logical devices (before TF uses any device)."""
    if cpu_replicas > 1:
        cpu = tf.config.list_physical_devices('CPU')[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * cpu_replicas
        )


def check_tf_config():
    """Refuses a malformed TF_CONFIG in one line naming it (TensorFlow's error does not).

    Raises:
      ValueError: not JSON, or without the cluster / task of MultiWorkerMirroredStrategy.
    """
    text = os.environ.get('TF_CONFIG')
    if not text:
        raise ValueError('TF_CONFIG: not set (--strategy=multi_worker reads the cluster from it)')
    try:
        config = json.loads(text)
    except ValueError as e:
        raise ValueError(f'TF_CONFIG: not valid JSON ({e})') from None
    if not isinstance(config, dict) or not isinstance(config.get('cluster'), dict):
        raise ValueError('TF_CONFIG: no "cluster" object')
    task = config.get('task')
    if not isinstance(task, dict) or 'type' not in task:
        raise ValueError('TF_CONFIG: no "task" object with a "type" and an "index"')
    hosts = config['cluster'].get(task['type'])
    index = task.get('index', 0)
    if not isinstance(hosts, list) or not isinstance(index, int) or not 0 <= index < len(hosts):
        raise ValueError(
            f'TF_CONFIG: task {task.get("type")!r} index {index!r} is not in the cluster '
            f'{json.dumps(config["cluster"])}'
        )


def setup_determinism():
    """Deterministic kernels (TensorFlow's op determinism), before any op runs.

    On CPU this pins the few kernels that may reduce in a thread-dependent order and
    tf.data's ordering; on GPU it selects cuDNN's deterministic algorithms and makes
    ops without a deterministic kernel raise instead of drifting.
    """
    tf.config.experimental.enable_op_determinism()


def make_strategy(name):
    """mirrored: all local GPUs, else all logical CPUs; multi_worker: TF_CONFIG hosts."""
    if name == 'multi_worker':  # before anything initializes the devices
        check_tf_config()
        return tf.distribute.MultiWorkerMirroredStrategy()
    gpus = tf.config.list_logical_devices('GPU')
    if name == 'one_device':
        return tf.distribute.OneDeviceStrategy((gpus or tf.config.list_logical_devices('CPU'))[0])
    devices = [d.name for d in gpus or tf.config.list_logical_devices('CPU')]
    return tf.distribute.MirroredStrategy(devices)


def worker_info(strategy):
    """(worker index, number of workers, is chief)."""
    resolver = getattr(strategy, 'cluster_resolver', None)
    if resolver is None or not resolver.cluster_spec().as_dict():
        return 0, 1, True
    spec = resolver.cluster_spec().as_dict()
    workers = len(spec.get('worker', [])) + len(spec.get('chief', []))
    task_type, task_id = resolver.task_type, resolver.task_id or 0
    index = task_id + (1 if task_type == 'worker' and 'chief' in spec else 0)
    chief = task_type == 'chief' or (task_type == 'worker' and task_id == 0 and 'chief' not in spec)
    return index, workers, chief


class PiecewiseConstant(keras.optimizers.schedules.LearningRateSchedule):
    """values[k] for steps in (boundaries[k-1], boundaries[k]], as TF1's piecewise_constant.

    `step` is the number of updates already made, as TF1's global_step when its
    optimizer reads the rate: the update made at step 97000 still uses the first rate.
    """

    def __init__(self, boundaries, values):
        self.boundaries = list(boundaries)
        self.values = list(values)

    def __call__(self, step):
        index = (
            tf.reduce_sum(
                tf.cast(tf.cast(step, tf.int64) > tf.constant(self.boundaries, tf.int64), tf.int32)
            )
            if self.boundaries
            else 0
        )
        return tf.gather(tf.constant(self.values, tf.float32), index)

    def get_config(self):
        return {'boundaries': self.boundaries, 'values': self.values}


def make_optimizer(name, schedule):
    if name == 'sgd':
        return keras.optimizers.SGD(learning_rate=schedule, momentum=SGD_MOMENTUM)
    return keras.optimizers.Adam(learning_rate=schedule, epsilon=ADAM_EPSILON)


def conv_weights(model, variables):
    """The conv kernels among `variables` (no biases, no BatchNorm offsets)."""
    ids = {id(v) for v in variables}
    return [unit.w for _, unit in model.named_units() if id(unit.w) in ids]


def l2_term(weights, weight_decay):
    """weight_decay * sum(w^2) / 2 over the kernels (TF's l2_regularizer convention)."""
    if not weights or not weight_decay:
        return tf.constant(0.0)
    return weight_decay * tf.add_n([tf.nn.l2_loss(w) for w in weights])


def init_from_checkpoint(model, path, log=print):
    """Copies a checkpoint into `model`, skipping variables whose shape differs (logits).

    Returns:
      The names skipped.

    Raises:
      ValueError: missing, damaged or unusable checkpoint, or different input channels.
    """
    model_io.verify(model_io.resolve(path))
    source, channels = model_io.load(path)
    mine = {v.name: v for v in model.variables}
    if model.layers['Conv3d_1a_7x7'].w.shape[3] != channels:
        raise ValueError(f'{path}: a {channels}-channel checkpoint for another stream')
    skipped = []
    for variable in source.variables:
        target = mine.get(variable.name)
        if target is None or target.shape != variable.shape:
            skipped.append(variable.name)
        else:
            target.assign(variable)
    if skipped:
        log(
            f'{path}: not restored (shape differs: {source.num_classes} classes there, '
            f'{model.num_classes} here): {", ".join(skipped)}'
        )
    return skipped


class Trainer:
    """Model, optimizer and the compiled steps of one run, under `strategy`."""

    def __init__(self, config, stream, strategy, num_classes, seed):
        self.config, self.stream, self.strategy, self.seed = config, stream, strategy, seed
        self.replicas = strategy.num_replicas_in_sync
        self.local_replicas = len(strategy.extended.worker_devices)
        if config.batch_size % self.replicas:
            raise ValueError(
                f'--batch_size={config.batch_size} is not divisible by {self.replicas} replicas'
            )
        tf.random.set_seed(seed)  # weight initialization
        with strategy.scope():
            with batch_norm.replica_consistent_variables():  # the model's, not the slots
                self.model = i3d.InceptionI3d(
                    num_classes=num_classes,
                    compute_dtype=tf.as_dtype(config.compute_dtype),
                    sync_batch_norm=config.sync_batch_norm,
                )
                model_io.build(self.model, stream.channels)
            trainable = (
                self.model.logits_variables
                if config.freeze_backbone
                else self.model.trainable_variables
            )
            self.trainable = list(trainable)
            self.schedule = PiecewiseConstant(*config.schedule())
            self.optimizer = make_optimizer(config.optimizer, self.schedule)
            self.optimizer.build(self.trainable)  # slots now, not lazily in tf.function
        self.kernels = conv_weights(self.model, self.trainable)
        # BatchNorm keeps its moving statistics (options refuse it with sync BN).
        self.freeze_batch_norm = config.freeze_bn or config.freeze_backbone
        self.step_fn = self._make_step()

    def optimizer_state(self):
        """The optimizer's own variables (iterations, slots) as a checkpointable object.

        Not the optimizer itself: it tracks the model's variables at a shallower path
        than `model/...`, and a checkpoint stores each variable once, at its shallowest
        path, so `model_io` would no longer find the weights under the key `model`.
        """
        return tf.train.Checkpoint(variables=list(self.optimizer.variables))

    @property
    def step(self):
        return int(self.optimizer.iterations.numpy())

    def _make_step(self):
        config, model = self.config, self.model

        weights = [v for v in model.variables if v.dtype.is_floating]

        def replica_step(clips, labels, step, stop):
            replica = tf.distribute.get_replica_context().replica_id_in_sync_group
            seed = tf.stack(
                [
                    tf.constant(self.seed, tf.int64),
                    step * self.replicas + tf.cast(replica, tf.int64),
                ]
            )
            with tf.GradientTape() as tape:
                logits, _ = model(
                    clips,
                    is_training=True,
                    dropout_keep_prob=config.dropout_keep_prob,
                    freeze_batch_norm=self.freeze_batch_norm,
                    dropout_seed=seed,
                )
                per_example = tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits)
                cross_entropy = tf.nn.compute_average_loss(
                    per_example, global_batch_size=config.batch_size
                )
                l2 = l2_term(self.kernels, config.weight_decay) / self.replicas
                loss = cross_entropy + l2
            grads = tape.gradient(loss, self.trainable)
            self.optimizer.apply_gradients(zip(grads, self.trainable, strict=True))
            correct = tf.reduce_sum(tf.cast(tf.argmax(logits, 1) == labels, tf.float32))
            # Read after the update (automatic control dependencies keep program order): a
            # step whose update made any weight or statistic non-finite is never saved.
            finite = tf.reduce_all([tf.reduce_all(tf.math.is_finite(v)) for v in weights])
            found = {
                'cross_entropy': cross_entropy,
                'l2': l2,
                'correct': correct,
                'non_finite': 1.0 - tf.cast(finite, tf.float32),
                'stop': tf.identity(
                    stop
                ),  # summed over workers: every worker stops at the same step
            }
            # Summed here rather than with strategy.reduce, which MultiWorkerMirrored
            # refuses on plain tensors (one local replica).
            return tf.distribute.get_replica_context().all_reduce(tf.distribute.ReduceOp.SUM, found)

        # No autograph: the step is plain Python over layers (converting it doubles tracing).
        @tf.function(autograph=False)
        def step_fn(clips, labels, step, stop):
            out = self.strategy.run(replica_step, (clips, labels, step, stop))
            out = {k: self.strategy.experimental_local_results(v)[0] for k, v in out.items()}
            out['loss'] = out['cross_entropy'] + out['l2']
            out['accuracy'] = out['correct'] / config.batch_size
            return out

        return step_fn

    def distribute(self, batch):
        """A local batch -> per-replica slices (a plain iterator feeds the strategy)."""
        per = batch[0].shape[0] // self.local_replicas

        def part(tensor):
            def value_fn(ctx):
                i = ctx.replica_id_in_sync_group % self.local_replicas
                return tensor[i * per : (i + 1) * per]

            return self.strategy.experimental_distribute_values_from_function(value_fn)

        return tuple(part(t) for t in batch)

    def train_step(self, batch, stop=False):
        """One update; `stop` tells every worker that this one was asked to stop."""
        clips, labels = self.distribute(batch)
        step = tf.constant(self.step, tf.int64)
        out = self.step_fn(clips, labels, step, tf.constant(float(stop), tf.float32))
        return {k: float(v) for k, v in out.items()}

    def agree(self, value, what):
        """Checks that every worker holds the same integer `value` (e.g. the step resumed).

        Raises:
          ValueError: naming `what` when the workers differ.
        """
        if self.strategy.num_replicas_in_sync == self.local_replicas:
            return  # one worker

        def replica_fn():
            v = tf.constant(float(value), tf.float64)
            both = tf.stack([v, v * v])
            return tf.distribute.get_replica_context().all_reduce(tf.distribute.ReduceOp.MEAN, both)

        total = self.strategy.experimental_local_results(self.strategy.run(replica_fn))[0].numpy()
        if abs(total[1] - total[0] ** 2) > 1e-6 or round(total[0]) != value:
            raise ValueError(
                f'the workers differ in {what} (this one: {value}, mean {total[0]:g}): every '
                "worker's --model_dir folder must hold the same checkpoint"
            )

    def weights_finite(self):
        return all(
            bool(tf.reduce_all(tf.math.is_finite(v)))
            for v in self.model.variables
            if v.dtype.is_floating
        )

    def learning_rate(self, step):
        """The rate of the update made at (0-based) `step`."""
        return float(self.schedule(step))


def _log(message):
    print(message, file=sys.stderr, flush=True)


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


def run(config, stream, log=_log):
    """Trains `stream` as configured. Returns the final metrics dict.

    Raises:
      ValueError: bad data, checkpoint or settings (one line, before any step), a
        non-finite loss or weights (naming the last good checkpoint), unreadable data
        met during the run (after saving the steps done).
      Interrupted: SIGINT or SIGTERM (after saving the steps done).
    """
    config.validate()
    if config.deterministic:
        setup_determinism()
    setup_devices(config.cpu_replicas)
    # First: MultiWorkerMirroredStrategy must exist before any other TF op runs.
    strategy = make_strategy(config.strategy)
    train_files = data.list_files(config.train_data)
    eval_files = data.list_files(config.eval_data) if config.eval_data else None
    data.check_shards(train_files, stream, config.crop_size, log)
    if eval_files:
        data.check_shards(eval_files, stream, config.crop_size, log)
        data.eval_frame_cap(stream, config.eval_max_frames)
    data.check_shard_order(train_files)
    num_classes, class_names, _ = _classes(config, log)
    data.check_labels(train_files + (eval_files or []), num_classes)
    worker, num_workers, chief = worker_info(strategy)
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
    run_dir.restart_log(model_dir, trainer.step) if latest else _fresh_log(model_dir)
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
        _summaries(writer, start, final)
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
                run_dir.append_log(model_dir, done, _logged(metrics))
            if done % config.summary_every == 0 or done == config.train_steps:
                _summaries(writer, done, metrics)
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
                _summaries(writer, done, evaluate(done))
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
    _summaries(writer, config.train_steps, final)
    metrics.update(final)
    return metrics


def _stopped_in_evaluation(stops, saved):
    if stops.requested:
        raise Interrupted(
            f'{stopping.name(stops.signum)}: stopped during the final evaluation; the model is '
            f'saved at {saved}. Run the same command again to evaluate it.',
            stops.signum,
        )


def _fresh_log(model_dir):
    """A run starting from step 0 drops the log of an earlier one killed before any save."""
    path = os.path.join(model_dir, run_dir.LOG_NAME)
    if os.path.exists(path):
        os.remove(path)


def _logged(metrics):
    return {k: v for k, v in metrics.items() if k not in ('correct', 'non_finite', 'stop')}


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


# TensorBoard's scalar plugin metadata, written with core TF (`tf.summary.scalar` needs the
# tensorboard package, which training does not otherwise use).
_SCALAR_METADATA = summary_pb2.SummaryMetadata(
    plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name='scalars'),
    data_class=summary_pb2.DATA_CLASS_SCALAR,
)


def _summaries(writer, step, metrics):
    with writer.as_default(step=step):
        for name, value in _logged(metrics).items():
            tag = name if '/' in name else f'train/{name}'
            tf.summary.write(tag, tf.constant(value, tf.float32), metadata=_SCALAR_METADATA)
    writer.flush()
