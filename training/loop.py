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
import sys
import time

import keras
import numpy as np
import tensorflow as tf
from tensorflow.core.framework import summary_pb2

import i3d
import model_io
from common import label_map as label_maps
from training import batch_norm, data, evaluation, forward

SGD_MOMENTUM = 0.9  # paper
LOG_NAME = 'train_log.jsonl'


def setup_devices(cpu_replicas):
    """Splits the CPU into `cpu_replicas` logical devices (before TF uses any device)."""
    if cpu_replicas > 1:
        cpu = tf.config.list_physical_devices('CPU')[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * cpu_replicas
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
    """values[k] from step boundaries[k-1] (inclusive) to boundaries[k] (exclusive)."""

    def __init__(self, boundaries, values):
        self.boundaries = list(boundaries)
        self.values = list(values)

    def __call__(self, step):
        index = (
            tf.reduce_sum(
                tf.cast(tf.cast(step, tf.int64) >= tf.constant(self.boundaries, tf.int64), tf.int32)
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
    return keras.optimizers.Adam(learning_rate=schedule)


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
      ValueError: unusable checkpoint or different input channels.
    """
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
                    num_classes=num_classes, compute_dtype=tf.as_dtype(config.compute_dtype)
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
        if config.sync_batch_norm:
            self.bn_mode = batch_norm.sync_norm
        elif config.freeze_bn or config.freeze_backbone:
            self.bn_mode = forward.FROZEN
        else:
            self.bn_mode = forward.TRAIN
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

        def replica_step(clips, labels, step):
            replica = tf.distribute.get_replica_context().replica_id_in_sync_group
            seed = tf.stack(
                [
                    tf.constant(self.seed, tf.int64),
                    step * self.replicas + tf.cast(replica, tf.int64),
                ]
            )
            with tf.GradientTape() as tape:
                logits = forward.logits(model, clips, self.bn_mode, config.dropout_keep_prob, seed)
                per_example = tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits)
                cross_entropy = tf.nn.compute_average_loss(
                    per_example, global_batch_size=config.batch_size
                )
                l2 = l2_term(self.kernels, config.weight_decay) / self.replicas
                loss = cross_entropy + l2
            grads = tape.gradient(loss, self.trainable)
            self.optimizer.apply_gradients(zip(grads, self.trainable, strict=True))
            correct = tf.reduce_sum(tf.cast(tf.argmax(logits, 1) == labels, tf.float32))
            found = {'cross_entropy': cross_entropy, 'l2': l2, 'correct': correct}
            # Summed here rather than with strategy.reduce, which MultiWorkerMirrored
            # refuses on plain tensors (one local replica).
            return tf.distribute.get_replica_context().all_reduce(tf.distribute.ReduceOp.SUM, found)

        # No autograph: the step is plain Python over layers (converting it doubles tracing).
        @tf.function(autograph=False)
        def step_fn(clips, labels, step):
            out = self.strategy.run(replica_step, (clips, labels, step))
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

    def train_step(self, batch):
        clips, labels = self.distribute(batch)
        return {
            k: float(v)
            for k, v in self.step_fn(clips, labels, tf.constant(self.step, tf.int64)).items()
        }

    def learning_rate(self, step):
        """The rate of the update made at (0-based) `step`."""
        return float(self.schedule(step))


def _log(message):
    print(message, file=sys.stderr, flush=True)


def run(config, stream, log=_log):
    """Trains `stream` as configured. Returns the final metrics dict.

    Raises:
      ValueError: bad data, checkpoint or settings (one line, before any step), or a
        non-finite loss (after keeping the last good checkpoint).
    """
    from tqdm import tqdm

    if config.deterministic:
        if config.seed is None:  # else two runs draw different seeds: not reproducible
            raise ValueError('--deterministic needs --seed (a run without one draws its own)')
        setup_determinism()
    setup_devices(config.cpu_replicas)
    # First: MultiWorkerMirroredStrategy must exist before any other TF op runs.
    strategy = make_strategy(config.strategy)
    train_files = data.list_files(config.train_data)
    data.check_shards(train_files, stream, config.crop_size)
    eval_files = data.list_files(config.eval_data) if config.eval_data else None
    if eval_files:
        data.check_shards(eval_files, stream, config.crop_size)
    num_classes = config.num_classes or _classes_beside(config.train_data)
    worker, num_workers, chief = worker_info(strategy)
    # Non-chief workers take part in every save (collective ops) but write elsewhere.
    model_dir = config.model_dir if chief else os.path.join(config.model_dir, f'worker_{worker}')
    os.makedirs(model_dir, exist_ok=True)

    seed_var = tf.Variable(
        config.seed if config.seed is not None else random.randrange(2**31), dtype=tf.int64
    )
    latest = tf.train.latest_checkpoint(model_dir)
    if latest:  # the seed of the run being resumed
        seed_var.assign(tf.train.load_variable(latest, 'seed/.ATTRIBUTES/VARIABLE_VALUE'))
    seed = int(seed_var.numpy())
    trainer = Trainer(config, stream, strategy, num_classes, seed)
    checkpoint = tf.train.Checkpoint(
        **{model_io.MODEL_KEY: trainer.model}, optimizer=trainer.optimizer_state(), seed=seed_var
    )
    manager = tf.train.CheckpointManager(checkpoint, model_dir, max_to_keep=config.keep_checkpoints)
    if latest:
        checkpoint.restore(latest).assert_existing_objects_matched()
        log(f'resumed from {latest} at step {trainer.step}')
    elif config.init_checkpoint:
        with strategy.scope():
            init_from_checkpoint(trainer.model, config.init_checkpoint, log)

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
        )
        return iter(dataset)

    def prepare_eval(step):
        if config.precise_bn_batches:
            it = (trainer.distribute(b)[0] for b in batches(seed + 1 + step, 0))
            batch_norm.precise_bn(trainer.model, strategy, it, config.precise_bn_batches)

    def evaluate(step):
        prepare_eval(step)
        if not eval_files:
            return {}
        dataset = data.eval_dataset(eval_files, stream, config.crop_size, config.eval_max_frames)
        _, labels, logits = evaluation.predict(trainer.model, dataset)
        found = evaluation.accuracies(labels, logits)
        log(
            f'step {step}: eval top-1 {found["top1"]:.4f} top-5 {found["top5"]:.4f} '
            f'({found["videos"]} videos)'
        )
        return {f'eval/{k}': v for k, v in found.items() if k != 'videos'}

    writer = tf.summary.create_file_writer(model_dir) if chief else tf.summary.create_noop_writer()
    start = trainer.step
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
    for step in range(start, config.train_steps):
        metrics = trainer.train_step(next(iterator))
        if not np.isfinite(metrics['loss']):
            bar.close()
            raise ValueError(
                f'non-finite loss {metrics["loss"]} at step {step + 1}; the last good '
                f'checkpoint is {manager.latest_checkpoint or "none"} (lower --learning_rate?)'
            )
        now = time.perf_counter()
        clips_per_s = config.batch_size / max(now - last, 1e-9)
        last = now
        bar.set_postfix(loss=f'{metrics["loss"]:.4f}', clips_s=f'{clips_per_s:.1f}')
        bar.update(1)
        done = step + 1
        metrics['learning_rate'] = trainer.learning_rate(step)
        metrics['clips_per_second'] = clips_per_s
        if chief:
            _append_log(model_dir, done, metrics)
        if done % config.summary_every == 0 or done == config.train_steps:
            _summaries(writer, done, metrics)
        if config.eval_every and done % config.eval_every == 0 and done < config.train_steps:
            _summaries(writer, done, evaluate(done))
        if done % config.checkpoint_every == 0 and done < config.train_steps:
            manager.save(checkpoint_number=done)
    bar.close()
    final = evaluate(config.train_steps)
    _summaries(writer, config.train_steps, final)
    manager.save(checkpoint_number=trainer.step)
    log(f'saved {manager.latest_checkpoint}')
    metrics.update(final)
    return metrics


def _append_log(model_dir, step, metrics):
    """One JSON line per step in <model_dir>/train_log.jsonl (resumed runs append)."""
    record = {'step': step, **{k: v for k, v in metrics.items() if k != 'correct'}}
    with open(os.path.join(model_dir, LOG_NAME), 'a') as f:
        f.write(json.dumps(record) + '\n')


# TensorBoard's scalar plugin metadata, written with core TF (`tf.summary.scalar` needs the
# tensorboard package, which training does not otherwise use).
_SCALAR_METADATA = summary_pb2.SummaryMetadata(
    plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name='scalars'),
    data_class=summary_pb2.DATA_CLASS_SCALAR,
)


def _summaries(writer, step, metrics):
    with writer.as_default(step=step):
        for name, value in metrics.items():
            if name != 'correct':
                tag = name if '/' in name else f'train/{name}'
                tf.summary.write(tag, tf.constant(value, tf.float32), metadata=_SCALAR_METADATA)
    writer.flush()


def _classes_beside(pattern):
    path = data.label_map_beside(pattern)
    if path is None:
        raise ValueError(f'{pattern}: no label_map.txt beside the shards; pass --num_classes')
    return len(label_maps.read(path))
