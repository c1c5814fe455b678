"""What several speed benchmarks share: timing rules and the training-step setup."""

import statistics
import time


def seconds(fn):
    """Wall seconds of one call of `fn`."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def alternate(fns, runs):
    """{name: median seconds} of each of `fns` ({name: fn}), after one warm-up call each
    (tracing), timed in turn (A, B, A, B, ...) so that a machine's changing load falls on
    all alike."""
    for fn in fns.values():
        fn()
    times = {name: [] for name in fns}
    for _ in range(runs):
        for name, fn in fns.items():
            times[name].append(seconds(fn))
    return {name: statistics.median(t) for name, t in times.items()}


def rgb_trainer(dtype='float32'):
    """The training code path's Trainer (Adam, L2, BatchNorm in training mode, dropout,
    the default MirroredStrategy) for batches of one RGB clip, 400 classes."""
    from preprocess import streams
    from training import cluster, options, trainer

    config = options.Config('x', 'y', batch_size=1, compute_dtype=dtype)
    return trainer.Trainer(config, streams.RGB, cluster.make_strategy('mirrored'), 400, seed=0)


def forward_and_step(trainer, clip, labels):
    """{'forward': fn, 'step': fn}: the trainer's model in inference mode (traced) and one
    training step, on the same clip."""
    import tensorflow as tf

    forward = tf.function(lambda x: trainer.model(x, is_training=False)[0])
    return {
        'forward': lambda: forward(clip).numpy(),
        'step': lambda: trainer.train_step((clip, labels)),
    }
