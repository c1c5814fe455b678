"""Training on GPUs, on paper: clips/s per GPU from the network's FLOPs, and the CPU cores
the input pipeline then needs per GPU.

    python -m benchmarks.gpu_scaling [--frames=64] [--utilization=0.4] \
        [--gpus=V100:15.7:125,A100:19.5:312,H100:67:990]

No GPU is needed (nor used): the FLOPs are counted from the traced graph (every Conv3D:
2 x kernel volume x input channels x output channels x output positions; the rest of the
network is a rounding error next to them), for one 1 x frames x 224 x 224 x 3 RGB clip.
A training step costs the forward pass, the filter gradients (as much again) and the
input gradients (as much again, but none for the first convolution, whose input is the
clip): that is also the floor of `benchmarks.train_speed`'s step / forward ratio. Each
GPU of --gpus (name:float32 TFLOPS:16-bit tensor TFLOPS, peak, as their makers publish
them) is assumed to sustain --utilization of its peak; the clips/s it then trains are
set against the input pipeline's clips/s per core, as `benchmarks.input_speed` last
recorded them on this machine, to give the cores per GPU.
"""

import numpy as np
import tensorflow as tf
from absl import app, flags

import i3d
from benchmarks import results
from common import cli

FLAGS = flags.FLAGS
flags.DEFINE_integer('frames', 64, 'Clip length (paper: 64).', 1)
flags.DEFINE_float('utilization', 0.4, 'Fraction of peak a GPU sustains on 3D convolutions.')
flags.DEFINE_list(
    'gpus',
    ['V100:15.7:125', 'A100:19.5:312', 'H100:67:990'],
    'name:float32 TFLOPS:16-bit tensor-core TFLOPS (peak, dense).',
)


def conv_flops(frames):
    """(forward FLOPs of every Conv3D, of the first one) on a 1 x frames x 224² RGB clip."""
    model = i3d.InceptionI3d()
    model(tf.zeros((1, 8, 224, 224, 3)), is_training=False)
    spec = tf.TensorSpec((1, frames, 224, 224, 3))
    graph = tf.function(lambda x: model(x, is_training=False)[0]).get_concrete_function(spec).graph
    flops = []
    for op in graph.get_operations():
        if op.type == 'Conv3D':
            kernel, out = op.inputs[1].shape, op.outputs[0].shape
            flops.append(2 * np.prod(kernel) * np.prod(out[:4]))  # kernel [kt,kh,kw,in,out]
    return sum(flops), flops[0]


def main(argv):
    cli.reject_stray_arguments(argv)
    forward, first = conv_flops(FLAGS.frames)
    step = 3 * forward - first
    print(
        f'1x{FLAGS.frames}x224x224x3 RGB clip: forward {forward / 1e9:.1f} GFLOPs '
        f'(Conv3d_1a_7x7 {first / 1e9:.1f}), training step {step / 1e9:.1f} GFLOPs: '
        f'step / forward >= {step / forward:.2f}x'
    )
    found = results.load('input_speed')
    per_core = None if found is None else found['figures'].get('rgb_clips_per_s_per_core')
    where = (
        f'{per_core:.2f} RGB clips/s per core (benchmarks.input_speed, {found["when"]})'
        if per_core
        else 'no input_speed figure recorded yet: run python -m benchmarks.input_speed'
    )
    print(f'input pipeline: {where}; GPUs at {FLAGS.utilization:.0%} of peak:')
    for gpu in FLAGS.gpus:
        name, fp32, tensor = gpu.split(':')
        for precision, peak in (('float32', float(fp32)), ('bfloat16/float16', float(tensor))):
            clips = peak * 1e12 * FLAGS.utilization / step
            cores = f', {clips / per_core:.1f} input cores' if per_core else ''
            print(f'  {name} {precision}: {clips:.1f} training clips/s{cores}')


if __name__ == '__main__':
    app.run(main)
