"""Preprocessing throughput on a synthetic 10 s, 340x256, 30 fps clip, on this machine.

    python -m benchmarks.preprocess_speed [--pairs=12]

Prints: decode + 25 fps resampling + resize frames/s; TV-L1 pairs/s in one process with
one OpenCV thread, in one process with all OpenCV threads inside each pair, in one process
computing one pair per core at once (`flow.fields`: what the shard builder, extract_features
and evaluate_sample do), and with one worker process per core; the shard bytes per second
of video (RGB JPEG q100,
flow PNG); and how far storing the quantized flow as JPEG q100 instead of PNG would move
it. The clip is a camera-like moving texture with noise, written with the mp4v codec;
its flow is smoother than real footage, so flow bytes are a lower bound.
"""

import multiprocessing
import os
import tempfile
import time

import cv2
import numpy as np
from absl import app, flags

from common import cli
from preprocess import flow as flow_lib
from preprocess import schema, video

FLAGS = flags.FLAGS
flags.DEFINE_integer('pairs', 12, 'Frame pairs timed per TV-L1 configuration.', lower_bound=2)


def make_clip(path, seconds=10, fps=30, size=(340, 256)):
    rng = np.random.default_rng(0)
    width, height = size
    scene = cv2.resize(rng.uniform(0, 255, (40, 80, 3)).astype(np.float32), (width * 2, height))
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*'mp4v'), fps, size)
    for i in range(seconds * fps):
        shift = int(3 * i + 10 * np.sin(i / 7))
        frame = np.roll(scene, shift, axis=1)[:, :width] + rng.normal(0, 4, (height, width, 3))
        writer.write(np.clip(frame, 0, 255).astype(np.uint8))
    writer.release()


def _flow_pairs(args):
    frames, threads, pairs_at_once = args
    cv2.setNumThreads(threads)
    fields = flow_lib.fields(frames, pairs_at_once)
    return [schema.encode_flow(f) for _, f in fields if f is not None]


def time_flow(frames, processes, threads, pairs_at_once=1):
    """Seconds per pair for `processes` workers each running `threads` OpenCV threads
    (inside one pair) and `pairs_at_once` pairs at once (`flow.fields`' threads)."""
    step = (len(frames) - 1) // processes  # consecutive pairs, split between workers
    chunks = [frames[i * step : (i + 1) * step + 1] for i in range(processes)]
    pairs = sum(len(c) - 1 for c in chunks)
    start = time.perf_counter()
    if processes == 1:
        encoded = _flow_pairs((frames, threads, pairs_at_once))
    else:
        with multiprocessing.get_context('spawn').Pool(processes) as pool:
            pool.map(_flow_pairs, [(chunks[0][:2], threads, 1)] * processes)  # start-up
            start = time.perf_counter()
            tasks = [(c, threads, pairs_at_once) for c in chunks]
            encoded = sum(pool.map(_flow_pairs, tasks), [])
    return (time.perf_counter() - start) / pairs, encoded


def jpeg_flow_error(pngs):
    """Max |flow change| in px if the quantized flow images were JPEG q100, not PNG."""
    worst = 0.0
    for png in pngs:
        image = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
        _, jpeg = cv2.imencode('.jpg', image, [cv2.IMWRITE_JPEG_QUALITY, 100])
        lossy = cv2.imdecode(jpeg, cv2.IMREAD_COLOR)
        levels = np.abs(lossy[..., 1:].astype(int) - image[..., 1:].astype(int))  # G, R: y, x
        worst = max(worst, float(levels.max()) * 2 * flow_lib.FLOW_BOUND / 255)
    return worst


def main(argv):
    cli.reject_stray_arguments(argv)
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, 'clip.mp4')
        make_clip(path)
        start = time.perf_counter()
        frames = video.read_video(path)
        decode_s = time.perf_counter() - start
    print(f'clip: 10 s, 340x256 @ 30 fps -> {len(frames)} frames of {frames.shape[1:3]} @ 25 fps')
    print(f'decode + resample + resize: {len(frames) / decode_s:.0f} frames/s')
    rgb_bytes = sum(len(schema.encode_rgb(f)) for f in frames)
    sample = frames[: FLAGS.pairs + 1]
    for processes, threads, at_once in ((1, 1, 1), (1, cores, 1), (1, 1, cores), (cores, 1, 1)):
        per_pair, encoded = time_flow(sample, processes, threads, at_once)
        print(
            f'TV-L1: {processes} process(es) x {threads} OpenCV thread(s) x {at_once} '
            f'pair(s) at once: {1 / per_pair:.2f} pairs/s ({per_pair:.2f} s/pair)'
        )
    flow_bytes = np.mean([len(b) for b in encoded]) * (len(frames) - 1)
    print(f'flow as JPEG q100 instead of PNG: max error {jpeg_flow_error(encoded):.2f} px')
    print(
        f'shard bytes per second of video: RGB {rgb_bytes / 10 / 1e6:.2f} MB/s, '
        f'flow {flow_bytes / 10 / 1e6:.2f} MB/s'
    )


if __name__ == '__main__':
    app.run(main)
