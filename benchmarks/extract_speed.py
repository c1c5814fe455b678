"""extract_features.py throughput and the memory of whole-video inference, on this machine.

    python -m benchmarks.extract_speed [--videos=4] [--flow_videos=1] \
        [--memory_frames=250,1000,15000] [--checkpoint=checkpoints/rgb_scratch/model]

Prints, for synthetic 10 s 340x256 25 fps clips (moving texture, MJPG):
- videos/s and frames/s of `extract_features.py --window=64 --stride=64`, RGB only and
  RGB + flow (a random-weight flow model: same cost as a real one), and the average number
  of busy cores (CPU time of the run and its workers / wall time);
- the peak resident memory (RSS) of a process running `whole_video.Runner` (224x224 RGB,
  real weights, default chunk) over clips of each `--memory_frames` length (15000 = a
  10-minute video at 25 fps), and of one unchunked pass over 250 frames for comparison.
"""

import os
import resource
import subprocess
import sys
import tempfile
import time

import cv2
import numpy as np
from absl import app, flags

from common import cli

FLAGS = flags.FLAGS
flags.DEFINE_integer('videos', 4, 'Clips for the RGB-only run.')
flags.DEFINE_integer('flow_videos', 1, 'Clips for the RGB + flow run (TV-L1 ~1 s/pair).')
flags.DEFINE_list('memory_frames', ['250', '1000', '15000'], 'Clip lengths for peak RSS.')
flags.DEFINE_string('checkpoint', 'checkpoints/rgb_scratch/model', 'RGB checkpoint.')
flags.DEFINE_integer('child_frames', 0, 'Internal: measure Runner memory over N frames.')
flags.DEFINE_bool('child_single_pass', False, 'Internal: one unchunked pass instead.')

SECONDS, FPS, WIDTH, HEIGHT = 10, 25, 340, 256


def write_clip(path, seed):
    """A 10 s clip of a random texture drifting 2 px per frame (flow has work to do)."""
    rng = np.random.default_rng(seed)
    texture = cv2.resize(
        rng.integers(0, 255, (HEIGHT // 4, WIDTH, 3), np.uint8), (WIDTH * 2, HEIGHT)
    )
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*'MJPG'), FPS, (WIDTH, HEIGHT))
    for t in range(SECONDS * FPS):
        writer.write(np.ascontiguousarray(texture[:, 2 * t % WIDTH : 2 * t % WIDTH + WIDTH]))
    writer.release()


def run_extract(folder, output, streams, flow_checkpoint):
    """Runs extract_features as a user does; returns (wall seconds, busy cores)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    subprocess.run(
        [
            sys.executable,
            'extract_features.py',
            f'--input={folder}',
            f'--output_dir={output}',
            f'--streams={streams}',
            f'--rgb_checkpoint={FLAGS.checkpoint}',
            f'--flow_checkpoint={flow_checkpoint}',
            '--window=64',
            '--stride=64',
        ],
        check=True,
        capture_output=True,
    )
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu / wall


def flow_checkpoint(folder):
    import i3d
    import model_io

    model = model_io.build(i3d.InceptionI3d(num_classes=400), 2)
    return model_io.save(model, os.path.join(folder, 'flow_random', 'model'))


def measure_memory(frames, single_pass):
    """Peak RSS (MB) of this process running the model over `frames` frames."""
    import tensorflow as tf

    import model_io
    from inference import whole_video

    model, _ = model_io.load(FLAGS.checkpoint)
    rng = np.random.default_rng(0)
    frame = rng.uniform(-1, 1, (224, 224, 3)).astype(np.float32)
    started = time.monotonic()
    if single_pass:
        clip = np.broadcast_to(frame, (frames, 224, 224, 3))
        model(tf.constant(clip[None]), is_training=False)
    else:
        whole_video.Runner(model)((frame for _ in range(frames)), frames)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f'{peak:.0f} {time.monotonic() - started:.1f}')


def main(argv):
    cli.reject_stray_arguments(argv)
    if FLAGS.child_frames:
        measure_memory(FLAGS.child_frames, FLAGS.child_single_pass)
        return
    with tempfile.TemporaryDirectory() as tmp:
        flow_ckpt = flow_checkpoint(tmp)
        for streams, count in (('rgb', FLAGS.videos), ('rgb,flow', FLAGS.flow_videos)):
            folder = os.path.join(tmp, f'clips-{count}-{streams}')
            os.makedirs(folder)
            for k in range(count):
                write_clip(os.path.join(folder, f'clip{k}.avi'), k)
            wall, cores = run_extract(
                folder, os.path.join(tmp, f'out-{streams}'), streams, flow_ckpt
            )
            frames = count * SECONDS * FPS
            print(
                f'extract_features --streams={streams}: {count} clips of {SECONDS} s '
                f'{WIDTH}x{HEIGHT} in {wall:.1f} s: {count / wall:.3f} videos/s, '
                f'{frames / wall:.1f} frames/s, {cores:.2f} cores busy',
                flush=True,
            )
    runs = [(int(n), False) for n in FLAGS.memory_frames] + [(250, True)]
    for frames, single in runs:
        result = subprocess.run(
            [
                sys.executable,
                '-m',
                'benchmarks.extract_speed',
                f'--child_frames={frames}',
                f'--child_single_pass={single}',
                f'--checkpoint={FLAGS.checkpoint}',
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        peak, seconds = result.stdout.split()
        how = 'one pass' if single else 'whole_video.Runner, chunks of 256'
        print(f'peak RSS, {frames} frames 224x224 ({how}): {peak} MB ({seconds} s)', flush=True)


if __name__ == '__main__':
    app.run(main)
