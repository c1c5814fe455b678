"""Peak memory of `evaluate_sample.py --explain` (Grad-CAM of a whole video) vs its length.

    python -m benchmarks.explain_memory [--frames=400,800,1600] \
        [--checkpoint=checkpoints/rgb_scratch/model]

For each length, writes a random 64x64 MJPG video (decoded as the paper's 224x224 RGB
input) to a temporary folder and runs `evaluate_sample.py --max_frames=0 --explain=cam.mp4`
on it with the real weights, as a user does. Prints per length the peak resident memory
(RSS) of that process and its wall time:

    peak RSS, evaluate_sample.py --explain, 800 frames 224x224: ... MB (... s)
"""

import os
import subprocess
import sys
import tempfile
import time

import cv2
import numpy as np
from absl import app, flags

from common import cli

FLAGS = flags.FLAGS
flags.DEFINE_list('frames', ['400', '800', '1600'], 'Video lengths to measure.')
flags.DEFINE_string('checkpoint', 'checkpoints/rgb_scratch/model', 'RGB checkpoint.')


def write_video(path, frames):
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*'MJPG'), 25.0, (64, 64))
    rng = np.random.default_rng(0)
    for _ in range(frames):
        writer.write(rng.integers(0, 255, (64, 64, 3), np.uint8))
    writer.release()


def main(argv):
    cli.reject_stray_arguments(argv)
    with tempfile.TemporaryDirectory() as tmp:
        for frames in map(int, FLAGS.frames):
            video = os.path.join(tmp, f'{frames}.avi')
            write_video(video, frames)
            log = open(os.path.join(tmp, 'stderr.txt'), 'w+')  # noqa: SIM115 - a pipe could fill
            started = time.monotonic()
            process = subprocess.Popen(
                [
                    sys.executable,
                    'evaluate_sample.py',
                    f'--rgb_checkpoint={FLAGS.checkpoint}',
                    f'--video={video}',
                    '--max_frames=0',
                    f'--explain={os.path.join(tmp, "cam.mp4")}',
                    '--top_k=1',
                ],
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
            _, status, usage = os.wait4(process.pid, 0)
            log.seek(0)
            stderr = log.read()
            log.close()
            if status:
                sys.exit(f'error: evaluate_sample.py failed on {frames} frames: {stderr[-500:]}')
            print(
                f'peak RSS, evaluate_sample.py --explain, {frames} frames 224x224: '
                f'{usage.ru_maxrss / 1024:.0f} MB ({time.monotonic() - started:.0f} s)',
                flush=True,
            )


if __name__ == '__main__':
    app.run(main)
