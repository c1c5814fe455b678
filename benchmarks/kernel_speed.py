"""oneDNN's CPU kernels against Eigen's, side by side (TF_ENABLE_ONEDNN_OPTS=1 vs 0).

    python -m benchmarks.kernel_speed [--runs=3]

TensorFlow reads the setting once, at import, so each kernel set is timed in its own
child process (started alternately, one child per set and round). Prints the median
seconds of Conv3d_1a_7x7's forward pass and filter gradient on a small clip (the tests'
6x8x32x32x2 flow batch) and on one 1x16x224x224x3 RGB clip, and of the float32 I3D
forward pass and training step on 1x16x224x224x3, then each Eigen / oneDNN ratio.
"""

import json
import os
import statistics
import subprocess
import sys

from absl import app, flags

from benchmarks import results, timing
from common import cli
from common.files import REPO_DIR

FLAGS = flags.FLAGS
flags.DEFINE_integer('runs', 3, 'Rounds (one child process per kernel set each).', 1)
flags.DEFINE_boolean('child', False, "Internal: time once under this process's setting.")

SETTINGS = (('Eigen', '0'), ('oneDNN', '1'))
CONV_SHAPES = ((6, 8, 32, 32, 2), (1, 16, 224, 224, 3))
MODEL_SHAPE = (1, 16, 224, 224, 3)
MODEL_NAME = 'x'.join(map(str, MODEL_SHAPE))


def _seconds(fn):
    fn()  # trace + warm-up
    return timing.seconds(fn)


def child_times():
    """{measurement: seconds} under the kernels this process's TensorFlow loaded."""
    import tensorflow as tf

    times = {}
    for shape in CONV_SHAPES:
        x = tf.random.stateless_uniform(shape, (0, 1), -1, 1)
        w = tf.Variable(tf.random.stateless_normal((7, 7, 7, shape[-1], 64), (0, 2)) * 0.01)

        @tf.function
        def forward(x=x, w=w):
            return tf.nn.conv3d(x, w, (1, 2, 2, 2, 1), 'SAME')

        @tf.function
        def filter_gradient(x=x, w=w):
            with tf.GradientTape() as tape:
                y = tf.nn.conv3d(x, w, (1, 2, 2, 2, 1), 'SAME')
                loss = tf.reduce_sum(y * y)
            return tape.gradient(loss, w)

        name = 'x'.join(map(str, shape))
        times[f'Conv3d_1a forward {name}'] = _seconds(lambda f=forward: f().numpy())
        times[f'Conv3d_1a filter gradient {name}'] = _seconds(lambda f=filter_gradient: f().numpy())
    clip = tf.random.stateless_uniform(MODEL_SHAPE, (0, 3), -1, 1)
    labels = tf.constant([3], tf.int64)
    model = timing.forward_and_step(timing.rgb_trainer(), clip, labels)
    times[f'I3D forward {MODEL_NAME}'] = _seconds(model['forward'])
    times[f'I3D train step {MODEL_NAME}'] = _seconds(model['step'])
    return times


def main(argv):
    cli.reject_stray_arguments(argv)
    if FLAGS.child:
        print(json.dumps(child_times()))
        return
    found = {name: [] for name, _ in SETTINGS}
    for _ in range(FLAGS.runs):
        for name, value in SETTINGS:
            env = dict(os.environ, TF_ENABLE_ONEDNN_OPTS=value)
            out = subprocess.run(
                [sys.executable, '-m', 'benchmarks.kernel_speed', '--child'],
                cwd=REPO_DIR,
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            found[name].append(json.loads(out.stdout.splitlines()[-1]))
    print(f'{os.cpu_count()} CPUs; median of {FLAGS.runs} child processes per kernel set')
    print(f'{"":48s} {"Eigen":>9s} {"oneDNN":>9s} {"ratio":>7s}')
    ratio = {}
    for key in found['Eigen'][0]:
        eigen, onednn = (statistics.median(r[key] for r in found[n]) for n, _ in SETTINGS)
        ratio[key] = eigen / onednn
        print(f'{key:48s} {eigen:8.3f}s {onednn:8.3f}s {eigen / onednn:6.1f}x')
    results.record(
        'kernel_speed', {'eigen_over_onednn_step': ratio[f'I3D train step {MODEL_NAME}']}
    )


if __name__ == '__main__':
    app.run(main)
