"""extract_features.py throughput against the bare model, and whole-video memory.

    python -m benchmarks.extract_speed [--videos=4] [--flow_videos=1] [--seconds=10] \
        [--memory_frames=250,1000,15000] [--checkpoint=checkpoints/rgb_scratch/model]

On synthetic 340x256 25 fps clips of `--seconds` (10) (moving texture, MJPG), in one run:
- the bare model: frames/s of the traced RGB model alone on its input (the default batch
  of 2 windows of 64 frames at 224x224, median of 3 after a warm-up, in a fresh process),
  timed before and after the extraction runs below (the slower of the two is kept);
- `extract_features.py --streams=rgb --window=64 --stride=64` run as a user runs it, on 1
  and on `--videos` clips: the whole command's videos/s and frames/s through the model
  (its windows' frames: a 10 s clip's 250 frames give 3 windows of 64; start-up included)
  and the throughput per additional video (the difference of the two runs: start-up
  cancels), each against the bare model; the second is the recorded ratio;
- the same with `--streams=rgb,flow` (a random-weight flow model: same cost as a real
  one) on `--flow_videos` clips, and the average number of busy cores (CPU time of the
  run and its workers / wall time): with one clip, how well one video's TV-L1 pairs spread
  over the cores (recorded);
- the peak resident memory (RSS) of a process running `whole_video.Runner` (224x224 RGB,
  real weights, default chunk) over clips of each `--memory_frames` length (15000 = a
  10-minute video at 25 fps; none: skipped), and of one unchunked pass over 250 frames.
Ratios go to `python -m benchmarks.results` (with 10 s clips and one flow clip only).
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

from benchmarks import results, timing
from common import cli

FLAGS = flags.FLAGS
flags.DEFINE_integer('videos', 4, 'Clips of the second RGB-only run (the first has one).', 1)
flags.DEFINE_integer(
    'flow_videos', 1, 'Clips for the RGB + flow run (TV-L1 ~1 s/pair; 0: none).', 0
)
flags.DEFINE_list(
    'memory_frames', ['250', '1000', '15000'], 'Clip lengths for peak RSS (none: skipped).'
)
flags.DEFINE_integer('seconds', 10, 'Length of each synthetic clip.', 1)
flags.DEFINE_string('checkpoint', 'checkpoints/rgb_scratch/model', 'RGB checkpoint.')
flags.DEFINE_integer('child_frames', 0, 'Internal: measure Runner memory over N frames.')
flags.DEFINE_bool('child_single_pass', False, 'Internal: one unchunked pass instead.')
flags.DEFINE_bool('child_model', False, 'Internal: time the bare model.')

FPS, WIDTH, HEIGHT = 25, 340, 256


def write_clip(path, seed):
    """A clip of a random texture drifting 2 px per frame (flow has work to do)."""
    rng = np.random.default_rng(seed)
    texture = cv2.resize(
        rng.integers(0, 255, (HEIGHT // 4, WIDTH, 3), np.uint8), (WIDTH * 2, HEIGHT)
    )
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*'MJPG'), FPS, (WIDTH, HEIGHT))
    for t in range(FLAGS.seconds * FPS):
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


def model_frames_per_s():
    """Frames/s of the traced model alone, as extract_features batches it (this process)."""
    import tensorflow as tf

    import model_io
    from inference.extract import features

    network = model_io.read_spec(model_io.resolve(FLAGS.checkpoint)).network
    model, _ = model_io.load(FLAGS.checkpoint, final_endpoint=network.FEATURE_ENDPOINT)
    settings = features.Settings()
    shape = (settings.batch_size, settings.window, 224, 224, 3)
    clip = tf.random.uniform(shape, -1, 1)
    forward = tf.function(lambda x: model(x, is_training=False)[0])
    seconds = timing.alternate({'model': lambda: forward(clip).numpy()}, 3)['model']
    return settings.batch_size * settings.window / seconds


def _child(*args):
    command = [sys.executable, '-m', 'benchmarks.extract_speed', *args]
    command.append(f'--checkpoint={FLAGS.checkpoint}')
    result = subprocess.run(command, check=True, capture_output=True, text=True)
    return result.stdout.split()


def _clips(tmp, count, name):
    folder = os.path.join(tmp, name)
    os.makedirs(folder)
    for k in range(count):
        write_clip(os.path.join(folder, f'clip{k}.avi'), k)
    return folder


def _extract(tmp, clips, streams, flow_ckpt):
    """(wall seconds, busy cores, frames the model ran on) of one extract_features run
    over `clips`: its windows' frames (a 10 s clip's 250 frames make 3 windows of 64)."""
    from inference.extract import features

    count = len(os.listdir(clips))
    output = os.path.join(tmp, f'out-{os.path.basename(clips)}-{streams}')
    wall, cores = run_extract(clips, output, streams, flow_ckpt)
    settings = features.Settings()
    windows = features.windows(FLAGS.seconds * FPS, settings.window, settings.stride)
    return wall, cores, count * sum(end - start for start, end in windows)


def _report(what, count, wall, cores, frames, model):
    print(
        f'{what}: {count} clip(s) of {FLAGS.seconds} s {WIDTH}x{HEIGHT} in {wall:.1f} s: '
        f'{count / wall:.3f} videos/s, {frames / wall:.1f} frames/s through the model '
        f'({frames / wall / model:.2f}x the bare model), {cores:.2f} cores busy',
        flush=True,
    )


def speed(tmp):
    """Prints the throughput lines; returns the recorded ratios."""
    flow_ckpt = flow_checkpoint(tmp)
    one = _clips(tmp, 1, 'one')
    many = _clips(tmp, FLAGS.videos, 'many')
    flow = _clips(tmp, FLAGS.flow_videos, 'flow')
    before = float(_child('--child_model')[0])
    single = _extract(tmp, one, 'rgb', flow_ckpt)
    whole = _extract(tmp, many, 'rgb', flow_ckpt)
    after = float(_child('--child_model')[0])
    model = min(before, after)  # the slower: a fair bar for the extraction
    print(f'bare model (batch of 2 x 64 frames, 224x224): {before:.1f} and {after:.1f} frames/s')
    _report('extract_features --streams=rgb', 1, *single, model)
    _report('extract_features --streams=rgb', FLAGS.videos, *whole, model)
    ratios = {'bare_model_frames_per_s': model}
    if FLAGS.videos > 1:
        marginal = (whole[2] - single[2]) / (whole[0] - single[0])
        ratios['rgb_extract_over_model'] = marginal / model
        ratios['rgb_extract_whole_command_over_model'] = whole[2] / whole[0] / model
        print(
            f"  per additional clip (the two runs' difference: start-up cancels): "
            f'{marginal:.1f} frames/s, {marginal / model:.2f}x the bare model',
            flush=True,
        )
    if FLAGS.flow_videos:
        wall, cores, frames = _extract(tmp, flow, 'rgb,flow', flow_ckpt)
        what = 'extract_features --streams=rgb,flow'
        _report(what, FLAGS.flow_videos, wall, cores, frames, model)
        if FLAGS.flow_videos == 1:
            ratios['flow_cores_busy'] = cores
    return ratios


def main(argv):
    cli.reject_stray_arguments(argv)
    if FLAGS.child_frames:
        measure_memory(FLAGS.child_frames, FLAGS.child_single_pass)
        return
    if FLAGS.child_model:
        print(model_frames_per_s())
        return
    with tempfile.TemporaryDirectory() as tmp:
        ratios = speed(tmp)
    if FLAGS.seconds == flags.FLAGS['seconds'].default and FLAGS.flow_videos == 1:
        results.record('extract_speed', ratios)
    runs = [(int(n), False) for n in FLAGS.memory_frames]
    runs += [(250, True)] if runs else []
    for frames, single in runs:
        peak, seconds = _child(f'--child_frames={frames}', f'--child_single_pass={single}')
        how = 'one pass' if single else 'whole_video.Runner, chunks of 256'
        print(f'peak RSS, {frames} frames 224x224 ({how}): {peak} MB ({seconds} s)', flush=True)


if __name__ == '__main__':
    app.run(main)
