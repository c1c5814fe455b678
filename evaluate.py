"""Evaluates trained I3D streams and their two-stream fusion on a split of shards.

    python evaluate.py --data='data/ucf101/test-*.tfrecord' \
        --rgb_checkpoint=runs/ucf101_rgb --flow_checkpoint=runs/ucf101_flow \
        --output_dir=runs/ucf101_eval

prints, for each stream given and for `joint` (the sum of their logits, as DeepMind's
evaluate_sample.py fuses them), top-1 and top-5 video accuracy and the mean per-class
accuracy:

    stream  videos   top-1   top-5  mean-class
    rgb       3783  0.xxxx  0.xxxx      0.xxxx
    ...

then, for each, its ten most frequent confusions:

    rgb: the 10 most frequent confusions (true -> predicted: videos)
      <true class> -> <predicted class>: <videos>
      ...

and then writes <stream>_predictions.csv (one row per video), <stream>_confusion.csv and
<stream>_confusion.png (row-normalised, classes ordered so that confusions cluster) to
--output_dir; a progress bar (videos, videos/s, ETA) runs on stderr meanwhile. Before any
evaluation it checks the shards, the checkpoints' streams and classes, the label maps
(beside every shard pattern, and --label_map: one set of classes, the checkpoints') and
that --output_dir can be written. Test protocol (paper): the whole video up to 250 frames,
centre crop, logits averaged over time; --test_crops=3 and --test_flip add views.
"""

import common.kernels  # noqa: F401  (before TensorFlow: see common/kernels.py)

# isort: split
import sys

import tensorflow as tf
from absl import app, flags

from common import cli
from preprocess import video
from training import data

FLAGS = flags.FLAGS
flags.DEFINE_string('data', None, 'Shards to evaluate: glob(s), comma-separated.', required=True)
flags.DEFINE_string('rgb_checkpoint', None, 'RGB checkpoint (a training --model_dir or prefix).')
flags.DEFINE_string('flow_checkpoint', None, 'Flow checkpoint (a training --model_dir or prefix).')
flags.DEFINE_string('output_dir', None, 'Where the CSV and PNG reports go (default: no files).')
flags.DEFINE_string('label_map', None, 'Class names; default: label_map.txt beside the shards.')
flags.DEFINE_integer('crop_size', 224, 'Centre crop side (paper: 224).', 1)
flags.DEFINE_integer(
    'max_frames',
    video.MAX_TEST_FRAMES,
    'First N frames of each video (flow: the N - 1 fields); at least 1 (no 0 = whole video '
    'here, unlike evaluate_sample.py).',
    1,
)
flags.DEFINE_enum('test_crops', '1', ['1', '3'], '1 = centre crop; 3 = also both ends.')
flags.DEFINE_bool('test_flip', False, 'Also the mirror image of each crop.')
flags.DEFINE_enum('compute_dtype', 'float32', ['float32', 'bfloat16'], 'Convolution dtype.')


def main(argv):
    cli.reject_stray_arguments(argv)
    checkpoints = {'rgb': FLAGS.rgb_checkpoint, 'flow': FLAGS.flow_checkpoint}
    try:
        # Cheap checks first: evaluate_run loads TensorFlow and the model (common/startup.py).
        data.list_files(FLAGS.data)
        for stream, path in checkpoints.items():
            cli.check_checkpoint(f'{stream}_checkpoint', path)
        cli.check_exists('label_map', FLAGS.label_map)
        from training import evaluate_run

        evaluate_run.run(
            FLAGS.data,
            {k: v for k, v in checkpoints.items() if v},
            FLAGS.output_dir,
            FLAGS.label_map,
            FLAGS.crop_size,
            FLAGS.max_frames,
            int(FLAGS.test_crops),
            FLAGS.test_flip,
            tf.as_dtype(FLAGS.compute_dtype),
        )
    except ValueError as e:
        sys.exit(f'error: {e}')


if __name__ == '__main__':
    app.run(main)
