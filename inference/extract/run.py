"""An extract_features run: settings check, resume, the pool or Beam, the manifest.

Kept apart from the script (which only reads flags) so that tests and other tools can run
an extraction in-process.
"""

import contextlib
import dataclasses
import json
import os
import shutil
import sys
import time

from common import files, signals
from inference.extract import features, prepare
from jobs import records as manifest_records
from preprocess import streams, video_sets

MANIFEST = 'manifest.jsonl'
CONFIG = 'extract_config.json'
WORK_DIR = '.work'  # raw frames between the decoding workers and the model
LOCK = '.lock'  # one run per --output_dir: a second would delete the first's work files


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


def clean_killed_run(output_dir):
    """Removes what a killed run leaves: its work files and temporary .npy names."""
    shutil.rmtree(os.path.join(output_dir, WORK_DIR), ignore_errors=True)
    for root, _, names in os.walk(output_dir):
        for name in names:
            if f'.npy{files.TMP_MARK}' in name:
                os.remove(os.path.join(root, name))


def run_pool(extractor, todo, output_dir, workers, log):
    """Workers decode (and compute flow, each spreading a video's pairs over all `workers`
    cores, `workers` TV-L1 calls at once in all); this process runs the model, in video
    order."""
    from tqdm import tqdm

    from jobs import pool
    from preprocess import flow

    work_dir = os.path.join(output_dir, WORK_DIR)
    tasks = [(item, extractor.settings.streams, work_dir) for item in todo]
    bar = tqdm(total=len(tasks), unit='video', file=sys.stderr, dynamic_ncols=True)
    frames, started = 0, time.monotonic()
    results = pool.ordered_map(
        prepare.prepare_task,
        tasks,
        workers,
        prepare.crashed_task,
        flow.init_pool_worker,  # a light module: a worker never imports TensorFlow
        (workers,),
        tokens=workers,
    )
    with contextlib.closing(results), contextlib.closing(bar):
        for (item, _, _), (begun, prepared, failed) in results:
            with signals.deferred():  # a video's outputs and its manifest line, or neither
                result = failed or features.finish(extractor, item, prepared, output_dir, begun)
                log(result)
            frames += result.get('frames', 0)
            rate = frames / (time.monotonic() - started)
            bar.set_postfix(frames_per_s=f'{rate:.1f}', refresh=False)
            bar.update(1)


def run(
    spec,
    output_dir,
    settings,
    checkpoints,
    workers=0,
    runner='pool',
    beam_options='',
    overwrite=False,
):
    """Extracts the features of the videos of `spec` (see video_sets.list_videos), printing a
    summary.

    Returns:
      (records of the videos processed by this run, number of videos skipped as done).

    Raises:
      ValueError: bad settings, no videos, a checkpoint problem, other settings in the
        folder.
    """
    for stream in streams.parse(settings.streams):
        if settings.window and settings.window <= stream.frame_lag:
            raise ValueError(
                f'--window={settings.window}: a {stream.name} window needs at least '
                f'{stream.frame_lag + 1} frames'
            )
    listed = video_sets.list_videos(spec)
    extractor = features.Extractor(checkpoints, settings)
    os.makedirs(output_dir, exist_ok=True)
    lock = os.path.join(output_dir, LOCK)
    with files.exclusive_lock(lock, 'another extract_features run on this --output_dir'):
        return _run_locked(
            listed, extractor, output_dir, checkpoints, workers, runner, beam_options, overwrite
        )


def _run_locked(
    listed, extractor, output_dir, checkpoints, workers, runner, beam_options, overwrite
):
    settings = extractor.settings
    names = settings.streams
    check_config(output_dir, dataclasses.asdict(settings) | {'checkpoints': checkpoints}, overwrite)
    done = [] if overwrite else [v for v in listed if features.is_done(output_dir, v.name, names)]
    todo = [v for v in listed if v not in done]
    print(f'{len(listed)} videos ({len(done)} already done); runner {runner}')
    clean_killed_run(output_dir)
    records = []
    started = time.monotonic()

    def progress():  # the line a signal leaves (common.signals)
        signals.describe(
            f'after {len(done) + len(records)} of {len(listed)} videos',
            'the finished ones and their manifest lines are kept. Run the same command '
            'again to resume.',
        )

    progress()
    with open(os.path.join(output_dir, MANIFEST), 'a', encoding='utf-8') as manifest:

        def log(record):
            records.append(record)
            manifest.write(manifest_records.line(record))
            manifest.flush()
            progress()

        try:
            if todo and runner == 'pool':
                run_pool(extractor, todo, output_dir, workers or os.cpu_count() or 1, log)
            elif todo:
                from jobs import beam

                job = features.BeamJob(checkpoints, settings, output_dir)
                for record in beam.run(todo, job, runner, beam_options, output_dir):
                    log(record)
        except signals.Interrupted:
            clean_killed_run(output_dir)  # the unfinished videos' work files (workers gone)
            raise
    failed = [r for r in records if r['status'] != 'ok']
    print(
        f'{len(records) - len(failed)} ok, {len(failed)} failed, {len(done)} skipped; '
        f'{time.monotonic() - started:.1f} s'
    )
    for r in failed[:10]:
        print(f'  failed: {r["video"]}: {r["reason"]}')
    return records, len(done)
