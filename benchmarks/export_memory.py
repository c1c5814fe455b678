"""Peak memory of the exported SavedModel's `rgb` signature vs clip length, on this machine.

    python -m benchmarks.export_memory [--frames=250,1000] [--chunk_frames=256] \
        [--checkpoint=checkpoints/rgb_scratch/model]

Exports the RGB model (export_saved_model.py, real weights, --chunk_frames) to a temporary
folder, then, for each --frames length, loads it with `tf.saved_model.load` in a fresh
process (as a server would) and runs `rgb` once on a random [1, frames, 224, 224, 3] clip.
Prints per length the peak resident memory (RSS) of that process, the size of the input
clip itself (which grows with the length whatever the chunking), and the seconds taken:

    peak RSS, rgb signature, 1000 frames 224x224 (chunks of 256): ... MB (input ... MB, ... s)
"""

import os
import resource
import subprocess
import sys
import tempfile
import time

from absl import app, flags

from common import cli

FLAGS = flags.FLAGS
flags.DEFINE_list('frames', ['250', '1000'], 'Clip lengths to measure.')
flags.DEFINE_integer('chunk_frames', 256, 'export_saved_model.py --chunk_frames.')
flags.DEFINE_string('checkpoint', 'checkpoints/rgb_scratch/model', 'RGB checkpoint.')
flags.DEFINE_string('child_model', None, 'Internal: measure this SavedModel in this process.')
flags.DEFINE_integer('child_frames', 0, 'Internal: clip length for --child_model.')

SIZE = 224


def measure(model_dir, frames):
    """Prints '<peak RSS MB> <seconds>' of one `rgb` call on a `frames`-frame clip."""
    import tensorflow as tf

    loaded = tf.saved_model.load(model_dir)
    # Made in place (no numpy copy) so the input is held once, as a server holds a request.
    clip = tf.random.stateless_uniform([1, frames, SIZE, SIZE, 3], (0, 0), -1.0, 1.0)
    started = time.monotonic()
    loaded.signatures['rgb'](rgb=clip)['logits'].numpy()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f'{peak:.0f} {time.monotonic() - started:.1f}')


def main(argv):
    cli.reject_stray_arguments(argv)
    if FLAGS.child_model:
        measure(FLAGS.child_model, FLAGS.child_frames)
        return
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = os.path.join(tmp, 'i3d')
        subprocess.run(
            [
                sys.executable,
                'export_saved_model.py',
                f'--rgb_checkpoint={FLAGS.checkpoint}',
                f'--output={model_dir}',
                f'--chunk_frames={FLAGS.chunk_frames}',
            ],
            check=True,
            capture_output=True,
        )
        for frames in map(int, FLAGS.frames):
            result = subprocess.run(
                [
                    sys.executable,
                    '-m',
                    'benchmarks.export_memory',
                    f'--child_model={model_dir}',
                    f'--child_frames={frames}',
                ],
                check=True,
                capture_output=True,
                text=True,
            )
            peak, seconds = result.stdout.split()
            clip_mb = frames * SIZE * SIZE * 3 * 4 / 2**20
            print(
                f'peak RSS, rgb signature, {frames} frames {SIZE}x{SIZE} (chunks of '
                f'{FLAGS.chunk_frames}): {peak} MB (input {clip_mb:.0f} MB, {seconds} s)',
                flush=True,
            )


if __name__ == '__main__':
    app.run(main)
