"""An evaluate.py run: checks first, then each stream's predictions, the table, reports.

Kept apart from the script (which only reads flags) so that tests and other tools can run
an evaluation in-process.
"""

import os
import tempfile

import tensorflow as tf

import model_io
from common import files
from preprocess import streams, video
from training import data, evaluation


def table(results):
    lines = [f'{"stream":<7} {"videos":>6} {"top-1":>7} {"top-5":>7} {"mean-class":>11}']
    for name, found in results.items():
        lines.append(
            f'{name:<7} {found["videos"]:>6} {found["top1"]:>7.4f} {found["top5"]:>7.4f} '
            f'{found["mean_class"]:>11.4f}'
        )
    return '\n'.join(lines)


def check_output_dir(path):
    """Makes sure the reports can be written, before any evaluation work.

    Raises:
      ValueError: if `path` is a file, lies under one, or cannot be written.
    """
    if os.path.exists(path) and not os.path.isdir(path):
        raise ValueError(f'{path}: --output_dir is a file, not a folder')
    files.make_folder(path)
    try:
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as e:
        raise ValueError(f'{path}: cannot write the reports there ({e.strerror or e})') from None


def run(
    pattern,
    checkpoints,
    output_dir=None,
    label_map=None,
    crop_size=224,
    max_frames=video.MAX_TEST_FRAMES,
    test_crops=1,
    test_flip=False,
    compute_dtype=tf.float32,
    out=print,
):
    """Evaluates the streams (and their fusion) on the shards; prints the table and each
    stream's ten most frequent confusions via `out` first, then writes the reports.

    Everything that can be checked without the model's work is checked first: the
    shards, the checkpoints' streams and classes, the label maps, the output folder.

    Args:
      pattern: shard glob(s), comma-separated.
      checkpoints: {'rgb' and/or 'flow': checkpoint path}.
      output_dir: where the CSV and PNG reports go, or None.
      label_map: class names file; None: the label_map.txt beside the shards.
      Other args: see the flags.

    Returns:
      {stream or 'joint': accuracies}.

    Raises:
      ValueError: a one-line reason naming the file or flag.
    """
    if not checkpoints:
        raise ValueError('give --rgb_checkpoint and/or --flow_checkpoint')
    shard_files = data.list_files(pattern)
    num_classes, prefixes = model_io.check_classifiers(checkpoints)
    names, label_map = data.shard_label_map(
        pattern, num_classes, label_map, classes_of=' and '.join(prefixes.values())
    )
    if names is None:
        raise ValueError(f'{pattern}: no label_map.txt beside the shards; pass --label_map')
    for name in checkpoints:
        data.eval_frame_cap(streams.STREAMS[name], max_frames)
        data.check_shards(shard_files, streams.STREAMS[name], crop_size)
    if output_dir:
        check_output_dir(output_dir)
    total = data.videos_in(shard_files)
    outputs = {}
    for name, prefix in prefixes.items():
        stream = streams.STREAMS[name]
        model, _ = model_io.load(prefix, compute_dtype=compute_dtype, stream=name)
        dataset = data.eval_dataset(
            shard_files, stream, crop_size, max_frames, test_crops, test_flip
        )
        outputs[name] = evaluation.predict(model, dataset, total, desc=name)
    if len(outputs) == 2:
        (ids, labels, rgb), (flow_ids, _, flow) = outputs['rgb'], outputs['flow']
        if ids != flow_ids:  # the same files in the same order: only a changing file differs
            raise ValueError(f"{pattern}: the shards changed between the two streams' passes")
        outputs['joint'] = (ids, labels, rgb + flow)
    results = {
        name: evaluation.accuracies(labels, logits) for name, (_, labels, logits) in outputs.items()
    }
    out(table(results))
    for name, (_, labels, logits) in outputs.items():
        out(evaluation.confusion_report(name, labels, logits, names))
    if output_dir:
        try:
            for name, (ids, labels, logits) in outputs.items():
                evaluation.write_reports(output_dir, name, ids, labels, logits, names)
        except OSError as e:
            raise ValueError(
                f'{output_dir}: cannot write the reports ({e.strerror or e}); the table above '
                'is complete'
            ) from None
        out(f'reports in {os.path.abspath(output_dir)}')
    return results
