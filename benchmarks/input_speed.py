"""Clips per second of the training input pipeline alone, from JPEG shards.

    python -m benchmarks.input_speed [--videos=8] [--frames=64] [--seconds=20]

Writes synthetic shards like build_shards' (RGB JPEG at quality 100, short side 256,
320x256 frames, 10 s = 250 frames per video; flow PNGs of the same size), then times
training.data.train_dataset (random 64-frame window, decode, 224^2 crop, flip, scale,
batches of 8) for each stream and prints clips/s in total and per CPU core. Compare with
benchmarks.train_speed: the model consumes about 1 clip/s per core at best.
"""

import os
import tempfile
import time

import numpy as np
import tensorflow as tf
from absl import app, flags

from benchmarks import results
from common import cli
from preprocess import schema, streams
from training import data

FLAGS = flags.FLAGS
flags.DEFINE_integer('videos', 8, 'Videos in the synthetic shards.', 1)
flags.DEFINE_integer('video_frames', 250, 'Frames per video (10 s at 25 fps).', 2)
flags.DEFINE_integer('frames', 64, 'Frames per training clip.', 1)
flags.DEFINE_float('seconds', 20.0, 'Timing length per stream.')


def write_shard(path, videos, frames):
    rng = np.random.default_rng(0)
    # Smooth content compresses like camera video (noise would make JPEGs unrealistically big).
    base = rng.uniform(0, 255, (16, 20, 3)).astype(np.float32)
    big = tf.image.resize(base[None], (256, 320)).numpy()[0]
    with tf.io.TFRecordWriter(path) as writer:
        for v in range(videos):
            rgb, flow = [], []
            for t in range(frames):
                frame = np.roll(big, 2 * t, axis=1).clip(0, 255).astype(np.uint8)
                rgb.append(schema.encode_rgb(frame))
                if t:
                    flow.append(schema.encode_flow(np.full((256, 320, 2), 2.0, np.float32)))
            meta = {'media_id': f'v{v}', 'path': 'x', 'label_index': v % 4, 'label_string': 'c'}
            writer.write(schema.make_example(meta, rgb, flow, (256, 320), 25.0).SerializeToString())


def main(argv):
    cli.reject_stray_arguments(argv)
    cores = os.cpu_count()
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, 'bench.tfrecord')
        write_shard(path, FLAGS.videos, FLAGS.video_frames)
        size = os.path.getsize(path) / 2**20
        print(
            f'{FLAGS.videos} videos x {FLAGS.video_frames} frames 320x256, {size:.0f} MB; '
            f'clips of {FLAGS.frames}x224x224; {cores} CPUs'
        )
        figures = {}
        for stream in (streams.RGB, streams.FLOW):
            dataset = data.train_dataset([path], stream, FLAGS.frames, 224, 8, seed=0)
            iterator = iter(dataset)
            next(iterator)  # warm-up
            clips, start = 0, time.perf_counter()
            while time.perf_counter() - start < FLAGS.seconds:
                clips += next(iterator)[0].shape[0]
            rate = clips / (time.perf_counter() - start)
            print(f'{stream.name}: {rate:.2f} clips/s, {rate / cores:.2f} clips/s per core')
            figures[f'{stream.name}_clips_per_s_per_core'] = rate / cores
    if FLAGS.frames == 64:
        results.record('input_speed', figures)  # for benchmarks.gpu_scaling


if __name__ == '__main__':
    app.run(main)
