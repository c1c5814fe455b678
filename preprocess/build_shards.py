"""Videos -> 25 fps RGB JPEG + TV-L1 flow -> TFRecord shards of SequenceExamples.

    python -m preprocess.build_shards --source=folder --input_dir=UCF-101/ \
        --split_file=ucfTrainTestlist/trainlist01.txt --output=data/ucf101/train --num_shards=64

writes `data/ucf101/train-000NN-of-00064.tfrecord` (read them with
`preprocess.schema.parse`), `data/ucf101/train-manifest.jsonl` (one record per video:
`ok` or `failed` with the reason, frames, fps, duration_s) and `data/ucf101/label_map.txt`,
shows a progress bar (videos/s, frames/s, ETA) and prints a summary. Other sources:

    --source=kinetics --annotations=kinetics400/train.csv --input_dir=kinetics400/videos
    --source=tfds --tfds_name=ucf101 --tfds_split=train [--tfds_data_dir=...]

Killed runs resume: run the same command again and only unfinished shards are redone.
`--runner=DirectRunner` (or DataflowRunner, FlinkRunner, SparkRunner with
`--beam_options`) runs the same per-video function as an Apache Beam pipeline.
Exit code: 1 if no video succeeded (with --strict: if any failed), else 0.
"""

# First: a spawned pool worker re-imports this script before running anything, and must
# ask to die with its parent before the TensorFlow imports below (see jobs.pool).
from jobs import pool

# isort: split
import common.kernels  # noqa: F401  (before TensorFlow: see common/kernels.py)

# isort: split
import contextlib
import dataclasses
import functools
import glob
import json
import os
import sys
import time

import tensorflow as tf
from absl import app, flags

from common import cli, files, label_map, startup
from jobs import flags as jobs_flags
from jobs import records
from preprocess import flow as flow_lib
from preprocess import per_video, shards, sources

FLAGS = flags.FLAGS
flags.DEFINE_enum('source', 'folder', ['folder', 'kinetics', 'tfds'], 'Where videos come from.')
flags.DEFINE_string('input_dir', None, 'folder: one sub-folder per class; kinetics: the videos.')
flags.DEFINE_string(
    'split_file', None, 'folder: UCF101 trainlist/testlist or HMDB51 *_test_splitN.txt (glob).'
)
flags.DEFINE_enum('split', 'train', ['train', 'test'], 'Subset of HMDB51 split files.')
flags.DEFINE_string('annotations', None, 'kinetics: CSV label,youtube_id,time_start,time_end.')
flags.DEFINE_string('label_map', None, 'kinetics: class names in index order (default: CSV).')
flags.DEFINE_string('tfds_name', 'ucf101', 'tfds: dataset (or dataset/config) name.')
flags.DEFINE_string('tfds_split', 'train', 'tfds: split.')
flags.DEFINE_string('tfds_data_dir', None, 'tfds: data_dir holding the prepared dataset.')
flags.DEFINE_string('output', None, 'Output prefix, e.g. data/ucf101/train.', required=True)
flags.DEFINE_integer('num_shards', 16, 'Number of shards (fewer if fewer videos).', lower_bound=1)
flags.DEFINE_integer(
    'seed',
    shards.DEFAULT_SEED,
    'Seed of the random order videos are dealt into shards in (recorded in the run config).',
)
flags.DEFINE_bool('flow', True, 'Compute and store TV-L1 flow (slow: ~1 s per frame pair).')
flags.DEFINE_enum('rgb_format', 'jpeg', ['jpeg', 'png'], 'RGB frames: JPEG (Google) or PNG.')
flags.DEFINE_integer('jpeg_quality', 100, 'RGB JPEG quality (Google: 100).', 1, 100)
flags.DEFINE_integer('short_side', 256, 'Resize target of the short side (paper: 256).', 16)
jobs_flags.define()
flags.DEFINE_bool('strict', False, 'Exit with an error if any video failed.')
flags.DEFINE_bool('overwrite', False, 'Replace outputs written with other settings.')


def load_items(
    source,
    input_dir=None,
    split_file=None,
    split='train',
    annotations=None,
    label_map_path=None,
    tfds_name=None,
    tfds_split=None,
    tfds_data_dir=None,
):
    """(items, classes) of the chosen source (values of the flags of the same names).

    Raises:
      ValueError: a missing argument for the source, or the source's own errors.
    """
    if source == 'tfds':
        from preprocess import tfds_source

        return tfds_source.items(tfds_name, tfds_split, tfds_data_dir)
    if not input_dir:
        raise ValueError(f'--source={source} needs --input_dir')
    if source == 'folder':
        return sources.folder_items(input_dir, split_file, split)
    if not annotations:
        raise ValueError('--source=kinetics needs --annotations')
    classes = label_map.read(label_map_path) if label_map_path else None
    return sources.kinetics_items(annotations, input_dir, classes)


def prepare_output(prefix, classes, config, overwrite=False):
    """Checks or writes the label map and run config; refuses to mix different runs.

    The label map is shared by every prefix in the folder (train, test, ...): it is
    replaced (with --overwrite) only when no other prefix was built there.
    """
    folder = os.path.dirname(os.path.abspath(prefix))
    os.makedirs(folder, exist_ok=True)
    labels_path = os.path.join(folder, label_map.FILENAME)
    config_path = f'{prefix}-config.json'
    with files.exclusive_lock(labels_path + '.lock', 'another build_shards run in this folder'):
        if os.path.exists(labels_path) and label_map.read(labels_path) != list(classes):
            siblings = sorted(
                p
                for p in glob.glob(os.path.join(glob.escape(folder), '*-config.json'))
                if os.path.abspath(p) != os.path.abspath(config_path)
            )
            if siblings:
                raise ValueError(
                    f'{labels_path}: holds other classes, used by the shards of '
                    f'{siblings[0][: -len("-config.json")]}; put this output in another folder'
                )
            if not overwrite:
                raise ValueError(
                    f'{labels_path}: holds other classes; pass --overwrite or use another folder'
                )
        if os.path.exists(config_path):
            with open(config_path, encoding='utf-8') as f:
                old = json.load(f)
            if old != config:
                if not overwrite:
                    changed = sorted(
                        k for k in config.keys() | old.keys() if old.get(k) != config.get(k)
                    )
                    raise ValueError(
                        f'{config_path}: an earlier run used other settings '
                        f'({", ".join(changed)}); pass --overwrite to replace its shards, '
                        'or use another --output'
                    )
                shards.remove_outputs(prefix)
        label_map.write(labels_path, classes)
        files.write_atomic(config_path, json.dumps(config, indent=1, sort_keys=True))


def _process(options, task):
    return per_video.process_video(task.item, options)


def _crashed(task):
    return records.crashed(per_video.identity(task.item)), None


class _BeamJob:
    """One video on a Beam worker: its TV-L1 pairs one at a time (Beam runs elements side
    by side)."""

    def __init__(self, options):
        self._options = options

    def setup(self):
        pass

    def __call__(self, task):
        return per_video.process_video(task.item, self._options, flow_threads=1)


class _ShardWriter:
    """Beam's grouping of the videos' results: a shard, written atomically on a worker."""

    def __init__(self, prefix, count):
        self._prefix, self._count = prefix, count

    def key(self, task):
        return task.shard

    def write(self, shard, indexed):
        return shards.write_shard(self._prefix, shard, self._count, [r for _, r in indexed])


def plan_tasks(planned, todo):
    """The videos of the unfinished shards `todo`, in shard order."""
    return [
        per_video.Task(k, position, item) for k in todo for position, item in enumerate(planned[k])
    ]


def run_pool(prefix, planned, todo, options, workers):
    """Processes the unfinished shards with a local process pool, in shard order."""
    from tqdm import tqdm

    tasks = plan_tasks(planned, todo)
    bar = tqdm(total=len(tasks), unit='video', file=sys.stderr, dynamic_ncols=True)
    frames, started = 0, time.monotonic()
    pending = {k: [] for k in todo}
    process = functools.partial(_process, options)
    # Each worker may spread one video's pairs over all `workers` cores; the shared tokens
    # keep the run at `workers` TV-L1 calls at once.
    results = pool.ordered_map(
        process, tasks, workers, _crashed, flow_lib.init_pool_worker, (workers,), tokens=workers
    )
    with contextlib.closing(results), contextlib.closing(bar):
        for task, result in results:
            pending[task.shard].append(result)
            frames += result[0].get('frames', 0)
            rate = frames / (time.monotonic() - started)
            bar.set_postfix(frames_per_s=f'{rate:.1f}', refresh=False)
            bar.update(1)
            if len(pending[task.shard]) == len(planned[task.shard]):
                shards.write_shard(prefix, task.shard, len(planned), pending.pop(task.shard))


def summarize(written, elapsed):
    ok = [r for r in written if r['status'] == 'ok']
    failed = [r for r in written if r['status'] != 'ok']
    frames = sum(r['frames'] for r in ok)
    seconds = sum(r['duration_s'] for r in ok)
    size = sum(r['bytes'] for r in ok)
    print(
        f'{len(ok)} ok, {len(failed)} failed; {frames} frames ({seconds:.1f} s of video), '
        f'{size / 1e6:.1f} MB of examples; {elapsed:.1f} s'
    )
    for r in failed[:10]:
        print(f'  failed: {r["path"] or r["media_id"]}: {r["reason"]}')
    if len(failed) > 10:
        print(f'  ... and {len(failed) - 10} more (see the manifest)')
    return len(ok), len(failed)


def main(argv):
    cli.reject_stray_arguments(argv)
    started = time.monotonic()
    options = per_video.Options(
        flow=FLAGS.flow,
        rgb_format=FLAGS.rgb_format.upper(),
        jpeg_quality=FLAGS.jpeg_quality,
        short_side=FLAGS.short_side,
    )
    prefix = FLAGS.output
    try:
        jobs_flags.check(FLAGS.runner, FLAGS.beam_options)
        cli.check_exists('input_dir', FLAGS.input_dir)  # before the output folder is made
        folder = os.path.dirname(os.path.abspath(prefix))
        if os.path.exists(folder) and not os.path.isdir(folder):
            raise ValueError(f'{folder}: not a folder (the --output prefix {prefix} needs one)')
        os.makedirs(folder, exist_ok=True)
        # One run per output prefix: two runs would interleave shards of different settings.
        with files.exclusive_lock(f'{prefix}.lock', 'another build_shards run on this --output'):
            items, classes = load_items(
                FLAGS.source,
                FLAGS.input_dir,
                FLAGS.split_file,
                FLAGS.split,
                FLAGS.annotations,
                FLAGS.label_map,
                FLAGS.tfds_name,
                FLAGS.tfds_split,
                FLAGS.tfds_data_dir,
            )
            if not items:
                raise ValueError('no videos found')
            planned = shards.plan(items, FLAGS.num_shards, FLAGS.seed)
            config = {
                'options': dataclasses.asdict(options),
                'num_shards': len(planned),
                'seed': FLAGS.seed,
                'videos': len(items),
                'plan_sha256': shards.plan_digest(planned),
            }
            prepare_output(prefix, classes, config, FLAGS.overwrite)
            heading = f'{len(items)} videos, {len(classes)} classes'
            written = build(
                heading, prefix, planned, options, FLAGS.workers, FLAGS.runner, FLAGS.beam_options
            )
    except (ValueError, OSError, *startup.tensorflow_errors()) as e:
        sys.exit(f'error: {_one_line(e)}')
    ok, failed = summarize(written, time.monotonic() - started)
    if ok == 0 or (FLAGS.strict and failed):
        sys.exit(1)


def build(heading, prefix, planned, options, workers=0, runner='pool', beam_options=''):
    """Writes the unfinished shards of `planned` and the run's manifest.

    Prints `heading`, then how many shards there are and how many were already done.

    Returns:
      the manifest records of every video.

    Raises:
      ValueError: when a shard cannot be written (full disk, permissions), saying how
        many shards are complete; the same command resumes the rest.
    """
    shards.clean_temporaries(prefix)
    count = len(planned)
    todo = [k for k in range(count) if not shards.is_done(prefix, k, count)]
    workers = workers or os.cpu_count() or 1
    print(f'{heading} -> {count} shards ({count - len(todo)} already done); runner {runner}')
    try:
        if todo and runner == 'pool':
            run_pool(prefix, planned, todo, options, workers)
        elif todo:
            from jobs import beam

            tasks = plan_tasks(planned, todo)
            work_dir = os.path.dirname(prefix) or '.'  # every worker writes the shards there
            group = _ShardWriter(prefix, len(planned))
            beam.run(tasks, _BeamJob(options), runner, beam_options, work_dir, group)
        written = shards.read_records(prefix, count)
        files.write_atomic(f'{prefix}-manifest.jsonl', records.text(written))
    except (OSError, tf.errors.OpError) as e:
        done = sum(shards.is_done(prefix, k, count) for k in range(count))
        raise ValueError(
            f'{prefix}: cannot write the output ({_one_line(e)}); {done} of {count} shards are '
            'complete: fix the cause and run the same command to finish the rest'
        ) from None
    return written


def _one_line(error):
    """A TensorFlow or OS error as one line (TF messages can span several)."""
    if isinstance(error, startup.tensorflow_errors()):
        message = error.message
    elif isinstance(error, OSError) and error.filename and error.strerror:
        message = f'{error.filename}: {error.strerror}'
    else:
        message = str(error)
    return ' '.join(message.split())


if __name__ == '__main__':
    app.run(main)
