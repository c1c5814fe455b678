"""Forward-pass speed of InceptionI3d on one 64-frame 224x224 RGB clip, on this machine.

    python -m benchmarks.model_speed [--runs=5] [--checkpoint=checkpoints/rgb_scratch/model]

Prints the median seconds per clip and clips/s (inside `tf.function`, after a warm-up;
the variants timed in turn in one process) for: the Sonnet model in float32 and
bfloat16; the same network written as plain TF ops on the same variables (the reference
the module should be within 10% of: recorded for `python -m benchmarks.results`); and the
Sonnet model under XLA `jit_compile`. Then, when the checkpoint and DeepMind's cricket clip are
available, the top-5 classes of both precisions on that clip and their overlap.
"""

import os

import numpy as np
import tensorflow as tf
from absl import app, flags

import i3d
import model_io
from benchmarks import results, timing
from common import cli
from layers import batch_norm
from preprocess import model_inputs, samples

FLAGS = flags.FLAGS
flags.DEFINE_integer('runs', 5, 'Timed runs per precision (after one warm-up).')
flags.DEFINE_integer('frames', 64, 'Clip length (paper training clips: 64).')
flags.DEFINE_string('checkpoint', 'checkpoints/rgb_scratch/model', 'For the top-5 check.')


def plain_ops_forward(model, x):
    """I3D inference as bare tf.nn ops over `model`'s variables (no Sonnet modules)."""

    def unit(module, net, stride=(1, 1, 1)):
        net = tf.nn.conv3d(net, module.w, (1, *stride, 1), 'SAME')
        if module.batch_norm is None:
            return net + module.b
        bn = module.batch_norm
        inv = tf.math.rsqrt(bn.moving_variance.value + batch_norm.BN_EPS)
        return tf.nn.relu((net - bn.moving_mean.value) * inv + bn.offset)

    net = x
    for name in i3d.VALID_ENDPOINTS[:-2]:
        layer = model.layers.get(name)
        if name in i3d.POOLS:
            window, stride = i3d.POOLS[name]
            net = tf.nn.max_pool3d(net, (1, *window, 1), (1, *stride, 1), 'SAME')
        elif name in i3d.STEM_CONVS:
            net = unit(layer, net, i3d.STEM_CONVS[name][2])
        else:
            branches = []
            for branch in layer.branches:
                out = net
                if branch.pool_first:
                    out = tf.nn.max_pool3d(out, (1, 3, 3, 3, 1), (1,) * 5, 'SAME')
                for u in branch.units:
                    out = unit(u, out)
                branches.append(out)
            net = tf.concat(branches, axis=4)
    net = tf.nn.avg_pool3d(net, (1, *i3d.LOGITS_POOL, 1), (1,) * 5, 'VALID')
    logits = unit(model.layers['Logits'].conv, net)
    return tf.reduce_mean(tf.squeeze(logits, (2, 3)), axis=1)


def forward_fn(variant, clip):
    """A call of the traced forward pass of `variant` on `clip`."""
    dtype = tf.bfloat16 if variant == 'bfloat16' else tf.float32
    model = i3d.InceptionI3d(compute_dtype=dtype)
    model(clip[:, :8], is_training=False)  # create the variables outside tf.function
    if variant == 'plain ops':
        forward = tf.function(lambda x: plain_ops_forward(model, x))
    else:
        forward = tf.function(
            lambda x: model(x, is_training=False)[0], jit_compile=variant == 'float32 XLA'
        )
    return lambda: forward(clip).numpy()


def top5(compute_dtype, clip):
    model, _ = model_io.load(FLAGS.checkpoint, compute_dtype=compute_dtype)
    logits = model(tf.constant(clip[None]), is_training=False)[0][0].numpy()
    return [int(i) for i in np.argsort(logits)[::-1][:5]], logits


def main(argv):
    cli.reject_stray_arguments(argv)
    print(f'TensorFlow {tf.__version__}, {os.cpu_count()} CPUs, clip 1x{FLAGS.frames}x224x224x3')
    clip = tf.random.uniform((1, FLAGS.frames, 224, 224, 3), -1, 1)
    variants = ('float32', 'bfloat16', 'plain ops', 'float32 XLA')
    found = timing.alternate({v: forward_fn(v, clip) for v in variants}, FLAGS.runs)
    for variant, seconds in found.items():
        print(f'{variant}: median {seconds:.3f} s/clip, {1 / seconds:.2f} clips/s')
    if FLAGS.frames == 64:
        results.record(
            'model_speed',
            {'sonnet_over_plain_ops': found['float32'] / found['plain ops']}
            | {f'{v} s': s for v, s in found.items()},
        )
    try:
        clip = model_inputs.load_gif(samples.sample_path('rgb'), 'rgb')
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
