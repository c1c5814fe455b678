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

and writes <stream>_predictions.csv (one row per video) and <stream>_confusion.csv to
--output_dir. Test protocol (paper): the whole video up to 250 frames, centre crop,
logits averaged over time; --test_crops=3 and --test_flip add views.
"""

import os
import sys

import tensorflow as tf
from absl import app, flags

import model_io
from common import label_map as label_maps
from training import data, evaluation, streams

FLAGS = flags.FLAGS
flags.DEFINE_string('data', None, 'Shards to evaluate: glob(s), comma-separated.', required=True)
flags.DEFINE_string('rgb_checkpoint', None, 'RGB checkpoint (a training --model_dir or prefix).')
flags.DEFINE_string('flow_checkpoint', None, 'Flow checkpoint (a training --model_dir or prefix).')
flags.DEFINE_string('output_dir', None, 'Where the CSV reports go (default: no files).')
flags.DEFINE_string('label_map', None, 'Class names; default: label_map.txt beside the shards.')
flags.DEFINE_integer('crop_size', 224, 'Centre crop side (paper: 224).', 1)
flags.DEFINE_integer(
    'max_frames', data.EVAL_MAX_FRAMES, 'First N frames of each video (flow: the N - 1 fields).', 1
)
flags.DEFINE_enum('test_crops', '1', ['1', '3'], '1 = centre crop; 3 = also both ends.')
flags.DEFINE_bool('test_flip', False, 'Also the mirror image of each crop.')
flags.DEFINE_enum('compute_dtype', 'float32', ['float32', 'bfloat16'], 'Convolution dtype.')


def evaluate_stream(path, stream, files, crop_size, max_frames, test_crops, test_flip, dtype):
    """(media ids, labels, logits) of one stream over the shards."""
    data.eval_frame_cap(stream, max_frames)  # before loading anything
    model, channels = model_io.load(path, compute_dtype=dtype)
    if channels != stream.channels:
        raise ValueError(f'{path}: a {channels}-channel checkpoint, not {stream.name}')
    data.check_shards(files, stream, crop_size)
    dataset = data.eval_dataset(files, stream, crop_size, max_frames, test_crops, test_flip)
    return evaluation.predict(model, dataset)


def table(results):
    lines = [f'{"stream":<7} {"videos":>6} {"top-1":>7} {"top-5":>7} {"mean-class":>11}']
    for name, found in results.items():
        lines.append(
            f'{name:<7} {found["videos"]:>6} {found["top1"]:>7.4f} {found["top5"]:>7.4f} '
            f'{found["mean_class"]:>11.4f}'
        )
    return '\n'.join(lines)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(
            f'Unexpected arguments: {argv[1:]} (write boolean flags as --flag=false)'
        )
    checkpoints = {'rgb': FLAGS.rgb_checkpoint, 'flow': FLAGS.flow_checkpoint}
    checkpoints = {k: v for k, v in checkpoints.items() if v}
    try:
        if not checkpoints:
            raise ValueError('give --rgb_checkpoint and/or --flow_checkpoint')
        files = data.list_files(FLAGS.data)
        label_map = FLAGS.label_map or data.label_map_beside(FLAGS.data)
        if label_map is None:
            raise ValueError(f'{FLAGS.data}: no label_map.txt beside the shards; pass --label_map')
        names = label_maps.read(label_map)
        outputs, results = {}, {}
        for name, path in checkpoints.items():
            outputs[name] = evaluate_stream(
                path,
                streams.STREAMS[name],
                files,
                FLAGS.crop_size,
                FLAGS.max_frames,
                int(FLAGS.test_crops),
                FLAGS.test_flip,
                tf.as_dtype(FLAGS.compute_dtype),
            )
            if outputs[name][2].shape[1] != len(names):
                raise ValueError(
                    f'{label_map}: {len(names)} labels for a {outputs[name][2].shape[1]}-class '
                    f'{name} model'
                )
        if len(outputs) == 2:
            (ids, labels, rgb), (_, _, flow) = outputs['rgb'], outputs['flow']
            outputs['joint'] = (ids, labels, rgb + flow)
    except ValueError as e:
        sys.exit(f'error: {e}')
    for name, (ids, labels, logits) in outputs.items():
        results[name] = evaluation.accuracies(labels, logits)
        if FLAGS.output_dir:
            evaluation.write_reports(FLAGS.output_dir, name, ids, labels, logits, names)
    print(table(results))
    if FLAGS.output_dir:
        print(f'reports in {os.path.abspath(FLAGS.output_dir)}')


if __name__ == '__main__':
    app.run(main)
