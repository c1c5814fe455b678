"""Model, optimizer and the compiled training step of one run, under a strategy.

Facts it relies on, measured with TF 2.21 / Keras 3.15 / Sonnet 2.0.2 (DESIGN.md §3):
- Keras-3 optimizers over Sonnet variables work under MirroredStrategy when their slots
  are built up front (`opt.build`) under `strategy.scope()`; they SUM gradients over
  replicas, so the loss is `compute_average_loss(per_example, global_batch)` + L2/replicas.
- A distributed iterator is not checkpointable: the input is a function of (seed, step)
  instead (training/data.py), and the step is the optimizer's iteration count.
"""

import tensorflow as tf

import model_io
import zoo
from preprocess import streams
from training import batch_norm
from training.optimization import PiecewiseConstant, conv_weights, l2_term, make_optimizer


def init_from_checkpoint(model, path, log=print):
    """Copies a checkpoint into `model`, skipping variables whose shape differs (logits).

    Returns:
      The names skipped.

    Raises:
      ValueError: missing, damaged or unusable checkpoint, or different input channels.
    """
    stream = streams.of_channels(model.input_channels)
    source, _ = model_io.load(path, stream=stream.name)  # checked: damage is found in this one read
    if type(source) is not type(model):
        raise ValueError(
            f'{path}: a checkpoint of {zoo.name_of(type(source))}, not of '
            f'{zoo.name_of(type(model))} (--network)'
        )
    mine = {v.name: v for v in model.variables}
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
                self.model = zoo.network_class(config.network)(
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
