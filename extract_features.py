"""I3D features of many videos, resumable: one .npy per video and stream.

    python extract_features.py --input=videos/ --output_dir=features/ --streams=rgb,flow \
        --rgb_checkpoint=checkpoints/rgb_scratch/model --window=64 --stride=64

writes, per video, `features/<name>_rgb.npy` and `features/<name>_flow.npy` (float32
[windows, 1024]: Mixed_5c averaged over space and time within each window of 64 frames,
every 64 frames) and `features/<name>_timestamps_ms.npy` (float64 [windows, 2]: each
window's start and end, ms from the clip's first frame), appends one JSON line per video
to `features/manifest.jsonl` (`ok`, or `failed` with the reason), shows a progress bar
(videos/s, ETA) and prints a summary. `--window=0` gives one vector for the whole video,
exactly as one pass over it, in bounded memory. `--input` is a folder (searched
recursively), a .txt list of paths, or shards of preprocess.build_shards (their frames
and flow are used as stored). Re-running the same command skips finished videos.
Exit code: 1 if no video succeeded, else 0.
"""

import dataclasses
import json
import os
import shutil
import sys
import time

from absl import app, flags

from common import files
from inference import decoding, extraction, inputs, whole_video

FLAGS = flags.FLAGS
flags.DEFINE_string('input', None, 'Folder, .txt list or shard (glob).', required=True)
flags.DEFINE_string('output_dir', None, 'Where the .npy files and manifest go.', required=True)
flags.DEFINE_list('streams', ['rgb'], 'rgb, flow or rgb,flow.')
flags.DEFINE_string('rgb_checkpoint', 'checkpoints/rgb_scratch/model', 'RGB stream checkpoint.')
flags.DEFINE_string('flow_checkpoint', 'checkpoints/flow_imagenet/model', 'Flow checkpoint.')
flags.DEFINE_integer('window', 64, 'Frames per feature window; 0 = the whole video.', 0)
flags.DEFINE_integer('stride', 64, 'Frames between window starts.', 1)
flags.DEFINE_enum(
    'endpoint', 'Mixed_5c', [*whole_video.FEATURE_ENDPOINTS, 'Logits'],
    'Endpoint averaged over space and time (Logits: the class scores).',
)  # fmt: skip
flags.DEFINE_integer('batch_size', 2, 'Windows per model call.', 1)
flags.DEFINE_integer(
    'chunk_frames', whole_video.DEFAULT_CHUNK_FRAMES,
    'Frames per model call on the whole-video path (memory ~9 MB per frame).', 1,
)  # fmt: skip
flags.DEFINE_integer('workers', 0, 'Decoding/flow processes of the pool runner; 0 = cores.', 0)
flags.DEFINE_string('runner', 'pool', 'pool, or a Beam runner: DirectRunner, DataflowRunner...')
flags.DEFINE_string('beam_options', '', 'Extra Beam pipeline options, e.g. "--project=p".')
flags.DEFINE_bool('overwrite', False, 'Redo every video (also after changing settings).')

MANIFEST = 'manifest.jsonl'
CONFIG = 'extract_config.json'
WORK_DIR = '.work'  # raw frames between the decoding workers and the model


def check_config(output_dir, config, overwrite):
    """Refuses to mix outputs of different settings in one folder (unless --overwrite)."""
    os.makedirs(output_dir, exist_ok=True)
    path = os.path.join(output_dir, CONFIG)
    config = json.loads(json.dumps(config))  # tuples as JSON reads them back
    if os.path.exists(path) and not overwrite:
        with open(path, encoding='utf-8') as f:
            old = json.load(f)
        if old != config:
            changed = sorted(k for k in config.keys() | old.keys() if old.get(k) != config.get(k))
            raise ValueError(
                f'{path}: an earlier run used other settings ({", ".join(changed)}); '
                'pass --overwrite or use another --output_dir'
            )
    files.write_atomic(path, json.dumps(config, indent=1, sort_keys=True))


def _init_worker():
    import cv2

    cv2.setNumThreads(1)


def run_pool(extractor, todo, output_dir, workers, log):
    """Workers decode (and compute flow); this process runs the model, in video order."""
    from tqdm import tqdm

    from preprocess import pool

    work_dir = os.path.join(output_dir, WORK_DIR)
    tasks = [(item, extractor.settings.streams, work_dir) for item in todo]
    bar = tqdm(total=len(tasks), unit='video', file=sys.stderr, dynamic_ncols=True)
    frames, started = 0, time.monotonic()
    for (item, _, _), (begun, prepared, failed) in pool.ordered_map(
        decoding.prepare_task, tasks, workers, decoding.crashed_task, _init_worker
    ):
        result = failed or extraction.finish(extractor, item, prepared, output_dir, begun)
        log(result)
        frames += result.get('frames', 0)
        bar.set_postfix(frames_per_s=f'{frames / (time.monotonic() - started):.1f}', refresh=False)
        bar.update(1)
    bar.close()


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f'Unexpected arguments: {argv[1:]} (write booleans as --flag=false)')
    started = time.monotonic()
    streams = tuple(FLAGS.streams)
    output_dir = FLAGS.output_dir
    try:
        if not streams or set(streams) - {'rgb', 'flow'} or len(set(streams)) < len(streams):
            raise ValueError(f'--streams: rgb, flow or rgb,flow, not {",".join(streams)}')
        if FLAGS.window == 1 and 'flow' in streams:
            raise ValueError('--window=1: a flow window needs at least 2 frames')
        settings = extraction.Settings(
            streams, FLAGS.window, FLAGS.stride, FLAGS.endpoint, FLAGS.batch_size,
            FLAGS.chunk_frames,
        )  # fmt: skip
        paths = {'rgb': FLAGS.rgb_checkpoint, 'flow': FLAGS.flow_checkpoint}
        checkpoints = {s: paths[s] for s in streams}
        videos = inputs.list_videos(FLAGS.input)
        check_config(output_dir, dataclasses.asdict(settings) | {'checkpoints': checkpoints},
                     FLAGS.overwrite)  # fmt: skip
        extractor = extraction.Extractor(checkpoints, settings)
    except (ValueError, OSError) as e:
        sys.exit(f'error: {e}')
    done = [] if FLAGS.overwrite else [
        v for v in videos if extraction.is_done(output_dir, v.name, streams)
    ]  # fmt: skip
    todo = [v for v in videos if v not in done]
    print(f'{len(videos)} videos ({len(done)} already done); runner {FLAGS.runner}')
    shutil.rmtree(os.path.join(output_dir, WORK_DIR), ignore_errors=True)  # a killed run's
    records = []
    with open(os.path.join(output_dir, MANIFEST), 'a', encoding='utf-8') as manifest:

        def log(record):
            records.append(record)
            manifest.write(json.dumps(record, sort_keys=True) + '\n')
            manifest.flush()

        if todo and FLAGS.runner == 'pool':
            run_pool(extractor, todo, output_dir, FLAGS.workers or os.cpu_count() or 1, log)
        elif todo:
            from inference import beam_extract

            beam_extract.run(checkpoints, settings, todo, output_dir, FLAGS.runner,
                             FLAGS.beam_options, log)  # fmt: skip
    failed = [r for r in records if r['status'] != 'ok']
    print(f'{len(records) - len(failed)} ok, {len(failed)} failed, {len(done)} skipped; '
          f'{time.monotonic() - started:.1f} s')  # fmt: skip
    for r in failed[:10]:
        print(f'  failed: {r["video"]}: {r["reason"]}')
    if todo and len(failed) == len(todo):
        sys.exit(1)


if __name__ == '__main__':
    app.run(main)
