"""Where a training step's time goes: TensorFlow's profiler over one forward pass and one step.

    python -m benchmarks.train_profile [--dtype=float32] [--frames=64] [--size=224] \
        [--inter_op_threads=0] [--logdir=/tmp/i3d-profile]

Runs the training code path (benchmarks.timing.rgb_trainer: Adam, L2, BatchNorm in
training mode, dropout, MirroredStrategy) on one 1 x frames x size x size x 3 clip, warms
both up, then records one inference forward pass and one training step with
`tf.profiler.experimental` (the trace stays in --logdir for TensorBoard's profile tab) and
prints, for each, its wall time and the summed time of its TensorFlow ops by kind
(convolution forward, filter gradient, input gradient, BatchNorm, max pool, ...) and the
slowest single ops. Ops run two at a time (TensorFlow's inter-op threads), so summed op time
exceeds wall time, and an op that waited for cores taken by another looks slower than it is;
`--inter_op_threads=1` runs them one at a time, which makes the sums add up to the wall time.
"""

import collections
import glob
import os
import shutil

import tensorflow as tf
from absl import app, flags

from common import cli

FLAGS = flags.FLAGS
flags.DEFINE_enum('dtype', 'float32', ['float32', 'bfloat16'], 'Compute dtype.')
flags.DEFINE_integer('frames', 64, 'Clip length (paper: 64).', 1)
flags.DEFINE_integer('size', 224, 'Crop side (paper: 224).', 1)
flags.DEFINE_integer('inter_op_threads', 0, 'TensorFlow inter-op threads; 0 = its default.', 0)
flags.DEFINE_integer('top', 8, 'Slowest single ops listed per region.', 0)
flags.DEFINE_string('logdir', '/tmp/i3d-profile', 'Where the profile is written (replaced).')

# Op kinds, by the first pattern found in the op's type (oneDNN's are `_MklNative<Type>`).
KINDS = (
    ('Conv3DBackpropFilter', 'convolution: filter gradient'),
    ('Conv3DBackpropInput', 'convolution: input gradient'),
    ('Conv3D', 'convolution: forward'),
    ('FusedBatchNormGrad', 'BatchNorm: gradient'),
    ('FusedBatchNorm', 'BatchNorm: forward'),
    ('MaxPoolWithArgmax', 'max pool: argmax recomputed for the routed gradient'),
    ('MaxPool3DGrad', 'max pool: gradient'),
    ('MaxPoolGrad', 'max pool: gradient'),
    ('MaxPool', 'max pool: forward'),
    ('Relu', 'ReLU and its gradient'),
    ('L2Loss', 'L2 regularizer'),
    ('ResourceApply', 'optimizer update'),
    ('Assign', 'variable updates (optimizer, BatchNorm statistics)'),
    ('Cast', 'dtype casts'),
)
REGIONS = ('forward', 'step')


def kind(scope, op_type):
    found = next((name for pattern, name in KINDS if pattern in op_type), 'other')
    if found == 'other' and '/batch_norm/' in scope:  # unfused: elementwise ops, reductions
        if scope.startswith('gradient_tape/'):
            return 'BatchNorm: gradient (unfused ops)'
        return 'BatchNorm: unfused ops (moving statistics, or moments)'
    return found


def _ops(xspace, region):
    """(name, type, seconds) of the TensorFlow ops inside the traced `region`."""
    plane = next(p for p in xspace.planes if p.name == '/host:CPU')
    names = plane.event_metadata

    def span(line, event):
        start = line.timestamp_ns * 1000 + event.offset_ps
        return start, start + event.duration_ps

    first, last = next(
        span(line, event)
        for line in plane.lines
        for event in line.events
        if names[event.metadata_id].name == region
    )
    found = []
    for line in plane.lines:
        if not line.name.startswith('tf_Compute'):
            continue
        for event in line.events:
            name = names[event.metadata_id].name
            start, end = span(line, event)
            if ':' not in name or name.startswith('ExecutorState') or start < first or end > last:
                continue
            scope, op_type = name.rsplit(':', 1)
            found.append((scope, op_type, event.duration_ps / 1e12))
    return (last - first) / 1e12, found


def report(region, wall, ops):
    total = sum(s for _, _, s in ops)
    by_kind = collections.Counter()
    for scope, op_type, seconds in ops:
        by_kind[kind(scope, op_type)] += seconds
    print(f'{region}: {wall:.3f} s wall, {total:.3f} s of ops')
    for name, seconds in by_kind.most_common():
        print(f'  {name:52s} {seconds:7.3f} s  {100 * seconds / total:5.1f}%')
    for scope, op_type, seconds in sorted(ops, key=lambda o: -o[2])[: FLAGS.top]:
        print(f'    {seconds:6.3f} s  {op_type} {scope}')


def main(argv):
    cli.reject_stray_arguments(argv)
    if FLAGS.inter_op_threads:
        tf.config.threading.set_inter_op_parallelism_threads(FLAGS.inter_op_threads)
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    from benchmarks import timing

    clip = tf.random.uniform((1, FLAGS.frames, FLAGS.size, FLAGS.size, 3), -1, 1)
    labels = tf.constant([3], tf.int64)
    fns = timing.forward_and_step(timing.rgb_trainer(FLAGS.dtype), clip, labels)
    for fn in (*fns.values(), *fns.values()):  # trace, then warm up
        fn()
    shutil.rmtree(FLAGS.logdir, ignore_errors=True)
    tf.profiler.experimental.start(FLAGS.logdir)
    for region in REGIONS:
        with tf.profiler.experimental.Trace(region):
            fns[region]()
    tf.profiler.experimental.stop()
    xspace = xplane_pb2.XSpace()
    path = glob.glob(os.path.join(FLAGS.logdir, '**', '*.xplane.pb'), recursive=True)[0]
    with open(path, 'rb') as f:
        xspace.ParseFromString(f.read())
    print(f'{FLAGS.dtype}, clip 1x{FLAGS.frames}x{FLAGS.size}x{FLAGS.size}x3; profile: {path}')
    walls = {}
    for region in REGIONS:
        walls[region], ops = _ops(xspace, region)
        report(region, walls[region], ops)
    print(f'step / forward (profiled): {walls["step"] / walls["forward"]:.2f}x')


if __name__ == '__main__':
    app.run(main)
