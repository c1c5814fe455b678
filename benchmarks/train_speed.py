"""Speed of one training step of I3D (forward + backward + update) against its forward pass.

    python -m benchmarks.train_speed [--runs=3] [--frames=64] [--size=224] [--compare=...]

For float32 and bfloat16 compute, prints the median seconds of the inference forward pass
and of a training step (Adam, L2, BatchNorm in training mode, dropout) on one
1 x frames x size x size x 3 RGB clip, all four timed in turn in one process (float32
forward, float32 step, bfloat16 forward, bfloat16 step, again), then the ratios: step /
forward of each (goal <= 3.1x float32) and float32 / bfloat16 of each (goal: the step
>= 1.6x faster in bfloat16), recorded for `python -m benchmarks.results`. Uses the
training code path (training.trainer.Trainer, default MirroredStrategy).

`--compare` times two variants of the float32 step instead, alternately (A, B, A, B, ...)
in one process so that a shared machine's load falls on both alike:
- `max_pool_gradient`: TensorFlow's own MaxPool3D gradient (what training used before
  `layers.pooling.max_pool`) against `max_pool`'s single-argmax gradient;
- `deterministic`: the default step against the step of `--deterministic` (TensorFlow's
  op determinism, switched per call; each variant is traced under its own setting).
"""

import os

import tensorflow as tf
from absl import app, flags
from tensorflow.python.framework import config as tf_config

from benchmarks import results, timing
from common import cli
from layers import pooling

FLAGS = flags.FLAGS
flags.DEFINE_integer('runs', 3, 'Timed runs of each (after one warm-up).', 1)
flags.DEFINE_integer('frames', 64, 'Clip length (paper: 64).', 1)
flags.DEFINE_integer('size', 224, 'Crop side (paper: 224).', 1)
flags.DEFINE_enum(
    'compare', None, ['max_pool_gradient', 'deterministic'], 'Time two variants alternately.'
)
DTYPES = ('float32', 'bfloat16')


def _inputs(frames, size):
    clip = tf.random.uniform((1, frames, size, size, 3), -1, 1)
    return clip, tf.constant([3], tf.int64)


def measure(frames, size, runs):
    """{(dtype, 'forward' | 'step'): median seconds}, all timed in turn in this process."""
    clip, labels = _inputs(frames, size)
    fns = {}
    for dtype in DTYPES:
        trainer = timing.rgb_trainer(dtype)
        for name, fn in timing.forward_and_step(trainer, clip, labels).items():
            fns[dtype, name] = fn
    return timing.alternate(fns, runs)


def ratios(found):
    """The recorded ratios of `measure`'s medians."""
    return {
        'step_over_forward_float32': found['float32', 'step'] / found['float32', 'forward'],
        'step_over_forward_bfloat16': found['bfloat16', 'step'] / found['bfloat16', 'forward'],
        'step_speedup_bfloat16': found['float32', 'step'] / found['bfloat16', 'step'],
        'forward_speedup_bfloat16': found['float32', 'forward'] / found['bfloat16', 'forward'],
    }


def _tf_max_pool(x, window, stride):
    return tf.nn.max_pool3d(x, (1, *window, 1), (1, *stride, 1), padding='SAME')


class _Patched:
    """pooling.max_pool replaced by TensorFlow's own op (and gradient) while active."""

    def __enter__(self):
        self.saved, pooling.max_pool = pooling.max_pool, _tf_max_pool

    def __exit__(self, *exc):
        pooling.max_pool = self.saved


class _Determinism:
    """Op determinism on while active (private switch: the public API cannot turn it off)."""

    def __enter__(self):
        tf_config.enable_op_determinism()

    def __exit__(self, *exc):
        tf_config.disable_op_determinism()


class _Nothing:
    def __enter__(self):
        pass

    def __exit__(self, *exc):
        pass


def _under(setting, fn):
    """`fn` called under `setting` (a context class), its tracing too."""

    def call():
        with setting():
            fn()

    return call


def compare(kind, frames, size, runs):
    clip, labels = _inputs(frames, size)
    if kind == 'max_pool_gradient':
        settings = [('TF MaxPool3D gradient', _Patched), ('pooling.max_pool', _Nothing)]
    else:
        settings = [('default', _Nothing), ('--deterministic', _Determinism)]
    fns = {}
    for name, setting in settings:
        model = timing.forward_and_step(timing.rgb_trainer('float32'), clip, labels)
        for part, fn in model.items():
            fns[name, part] = _under(setting, fn)
    found = timing.alternate(fns, runs)
    for name, _ in settings:
        print(
            f'{name}: forward {found[name, "forward"]:.3f} s, '
            f'train step {found[name, "step"]:.3f} s'
        )
    (a, _), (b, _) = settings
    print(f'train step {b} / {a}: {found[b, "step"] / found[a, "step"]:.3f}x')


def main(argv):
    cli.reject_stray_arguments(argv)
    print(
        f'TensorFlow {tf.__version__}, {os.cpu_count()} CPUs, '
        f'clip 1x{FLAGS.frames}x{FLAGS.size}x{FLAGS.size}x3'
    )
    if FLAGS.compare:
        compare(FLAGS.compare, FLAGS.frames, FLAGS.size, FLAGS.runs)
        return
    found = measure(FLAGS.frames, FLAGS.size, FLAGS.runs)
    for dtype in DTYPES:
        fwd, step = found[dtype, 'forward'], found[dtype, 'step']
        print(f'{dtype}: forward {fwd:.3f} s, train step {step:.3f} s, ratio {step / fwd:.2f}x')
    figures = ratios(found)
    print(
        f'bfloat16 speed-up: forward {figures["forward_speedup_bfloat16"]:.2f}x, '
        f'train step {figures["step_speedup_bfloat16"]:.2f}x'
    )
    figures |= {f'{d}_{n}_s': s for (d, n), s in found.items()}
    if (FLAGS.frames, FLAGS.size) == (64, 224):  # the table's clip
        results.record('train_speed', figures)


if __name__ == '__main__':
    app.run(main)
