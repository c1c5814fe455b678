"""I3D features of many videos, resumable: one .npy per video and stream.

    python extract_features.py --input=videos/ --output_dir=features/ --streams=rgb,flow \
        --rgb_checkpoint=checkpoints/rgb_scratch/model --window=64 --stride=64

writes, per video, `features/<name>_rgb.npy` and `features/<name>_flow.npy` (float32
[windows, 1024]: the classifier's input within each window of 64 frames, every 64 frames:
Mixed_5c through the Logits head's [2,7,7] average pool, averaged over time, so that
`features @ w + b` are the window's logits, as pytorch-i3d and video_features define it)
and `features/<name>_timestamps_ms.npy` (float64 [windows, 2]: each
window's start and end, ms from the clip's first frame), appends one JSON line per video
to `features/manifest.jsonl` (`ok`, or `failed` with the reason), shows a progress bar
(videos/s, ETA) and prints a summary. `--window=0` gives one vector for the whole video,
exactly as one pass over it, in bounded memory. `--input` is a folder (searched
recursively), a .txt list of paths, or shards of preprocess.build_shards (their frames
and flow are used as stored). Re-running the same command skips finished videos.
Exit code: 1 if no video succeeded, else 0.
"""

# First: a spawned pool worker re-imports this script before running anything, and must
# ask to die with its parent before the TensorFlow imports below (see jobs.pool).
from jobs import pool  # noqa: F401

# isort: split
import common.kernels  # noqa: F401  (before TensorFlow: see common/kernels.py)

# isort: split
import common.stop_on_signals  # noqa: F401  (then: a Ctrl-C while TensorFlow loads)

# isort: split
import sys

from absl import app, flags

import zoo
from common import cli
from jobs import flags as jobs_flags
from preprocess import streams as stream_records

FLAGS = flags.FLAGS
flags.DEFINE_string('input', None, 'Folder, .txt list or shard (glob).', required=True)
flags.DEFINE_string('output_dir', None, 'Where the .npy files and manifest go.', required=True)
flags.DEFINE_list('streams', ['rgb'], 'rgb, flow or rgb,flow.')
flags.DEFINE_string('rgb_checkpoint', 'checkpoints/rgb_scratch/model', 'RGB stream checkpoint.')
flags.DEFINE_string('flow_checkpoint', 'checkpoints/flow_scratch/model', 'Flow checkpoint.')
flags.DEFINE_integer('window', 64, 'Frames per feature window; 0 = the whole video.', 0)
flags.DEFINE_integer('stride', 64, 'Frames between window starts.', 1)
flags.DEFINE_string(
    'endpoint',
    None,
    "Default: the network's feature endpoint, the classifier's input (I3D: Mixed_5c, its "
    '[2,7,7] pool averaged over time); an earlier endpoint: averaged over space and time; '
    'the classifier (I3D: Logits): the class scores.',
)
flags.DEFINE_integer('batch_size', 2, 'Windows per model call.', 1)
flags.DEFINE_integer(
    'chunk_frames',
    zoo.DEFAULT_CHUNK_FRAMES,
    'Frames per model call on the whole-video path (I3D: memory ~9 MB per frame).',
    1,
)
jobs_flags.define()
flags.DEFINE_bool('overwrite', False, 'Redo every video (also after changing settings).')


def main(argv):
    cli.reject_stray_arguments(argv)
    streams = tuple(FLAGS.streams)
    paths = {'rgb': FLAGS.rgb_checkpoint, 'flow': FLAGS.flow_checkpoint}
    try:
        # Cheap checks first: the extraction modules load TensorFlow (common/startup.py).
        stream_records.parse(streams)
        jobs_flags.check(FLAGS.runner, FLAGS.beam_options)
        cli.check_exists('input', FLAGS.input)
        for stream in streams:
            cli.check_checkpoint(f'{stream}_checkpoint', paths[stream])
        from inference.extract import features, run

        checkpoints = {s: paths[s] for s in streams}
        settings = features.Settings(
            streams,
            FLAGS.window,
            FLAGS.stride,
            features.endpoint_for(checkpoints, FLAGS.endpoint),
            FLAGS.batch_size,
            FLAGS.chunk_frames,
        )
        records, _ = run.run(
            FLAGS.input,
            FLAGS.output_dir,
            settings,
            checkpoints,
            FLAGS.workers,
            FLAGS.runner,
            FLAGS.beam_options,
            FLAGS.overwrite,
        )
    except (ValueError, OSError) as e:
        sys.exit(f'error: {e}')
    if records and all(r['status'] != 'ok' for r in records):
        sys.exit(1)


if __name__ == '__main__':
    app.run(main)
