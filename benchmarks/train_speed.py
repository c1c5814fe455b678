"""Speed of one training step of I3D (forward + backward + update) against its forward pass.

    python -m benchmarks.train_speed [--runs=3] [--frames=64] [--size=224]

For float32 and bfloat16 compute, prints the median seconds of the inference forward pass
and of a training step (Adam, L2, BatchNorm in training mode, dropout) on one
1 x frames x size x size x 3 RGB clip, measured in the same run, and their ratio (goal
<= 3x). Uses the training code path (training.loop.Trainer, default MirroredStrategy).
"""

import os
import statistics
import time

import tensorflow as tf
from absl import app, flags

from training import loop, options, streams

FLAGS = flags.FLAGS
flags.DEFINE_integer('runs', 3, 'Timed runs of each (after one warm-up).', 1)
flags.DEFINE_integer('frames', 64, 'Clip length (paper: 64).', 1)
flags.DEFINE_integer('size', 224, 'Crop side (paper: 224).', 1)


def median_seconds(fn, runs):
    fn()  # trace + warm-up
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(dtype, frames, size, runs):
    config = options.Config('x', 'y', batch_size=1, compute_dtype=dtype)
    trainer = loop.Trainer(config, streams.RGB, loop.make_strategy('mirrored'), 400, seed=0)
    clip = tf.random.uniform((1, frames, size, size, 3), -1, 1)
    labels = tf.constant([3], tf.int64)
    forward = tf.function(lambda x: trainer.model(x, is_training=False)[0])
    fwd = median_seconds(lambda: forward(clip).numpy(), runs)
    step = median_seconds(lambda: trainer.train_step((clip, labels)), runs)
    return fwd, step


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
    print(
        f'TensorFlow {tf.__version__}, {os.cpu_count()} CPUs, '
        f'clip 1x{FLAGS.frames}x{FLAGS.size}x{FLAGS.size}x3'
    )
    for dtype in ('float32', 'bfloat16'):
        fwd, step = measure(dtype, FLAGS.frames, FLAGS.size, FLAGS.runs)
        print(f'{dtype}: forward {fwd:.3f} s, train step {step:.3f} s, ratio {step / fwd:.2f}x')


if __name__ == '__main__':
    app.run(main)
