"""Forward-pass speed of InceptionI3d on one 64-frame 224x224 RGB clip, on this machine.

    python benchmarks/model_speed.py [--runs=5] [--checkpoint=checkpoints/rgb_scratch/model]

Prints the median seconds per clip and clips/s for float32 and bfloat16 (inside
`tf.function`, after a warm-up), and, when the checkpoint and DeepMind's cricket clip
are available, the top-5 classes of both precisions on that clip and their overlap.
"""

import os
import statistics
import sys
import time

import numpy as np
import tensorflow as tf
from absl import app, flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import i3d  # noqa: E402
import model_io  # noqa: E402
from preprocess import clips, samples  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_integer('runs', 5, 'Timed runs per precision (after one warm-up).')
flags.DEFINE_integer('frames', 64, 'Clip length (paper training clips: 64).')
flags.DEFINE_string('checkpoint', 'checkpoints/rgb_scratch/model', 'For the top-5 check.')


def time_forward(compute_dtype, frames, runs):
    model = i3d.InceptionI3d(compute_dtype=compute_dtype)
    forward = tf.function(lambda x: model(x, is_training=False)[0])
    clip = tf.random.uniform((1, frames, 224, 224, 3), -1, 1)
    forward(clip).numpy()  # trace + warm-up
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        forward(clip).numpy()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def top5(compute_dtype, clip):
    model, _ = model_io.load(FLAGS.checkpoint, compute_dtype=compute_dtype)
    logits = model(tf.constant(clip[None]), is_training=False)[0][0].numpy()
    return list(np.argsort(logits)[::-1][:5]), logits


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
    print(f'TensorFlow {tf.__version__}, {os.cpu_count()} CPUs, clip 1x{FLAGS.frames}x224x224x3')
    for name, dtype in (('float32', tf.float32), ('bfloat16', tf.bfloat16)):
        seconds = time_forward(dtype, FLAGS.frames, FLAGS.runs)
        print(f'{name}: median {seconds:.3f} s/clip, {1 / seconds:.2f} clips/s')
    try:
        clip = clips.load_gif(samples.sample_path('rgb'), 'rgb')
        (fp32, l32), (bf16, l16) = top5(tf.float32, clip), top5(tf.bfloat16, clip)
    except ValueError as e:
        print(f'top-5 check skipped: {e}')
        return
    print(
        f'cricket top-5 float32: {fp32}  bfloat16: {bf16}  overlap {len(set(fp32) & set(bf16))}/5'
    )
    print(f'max |logit difference|: {np.abs(l32 - l16).max():.3f}')


if __name__ == '__main__':
    app.run(main)
