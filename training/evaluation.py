"""Video-level evaluation: per-video logits over a split, accuracies, CSV and PNG reports,
the most frequent confusions.

Used by `evaluate.py` (each stream and their fusion) and by training (--eval_data).
"""

import contextlib
import csv
import os
import sys

import numpy as np
import tensorflow as tf

from common import files, pictures


def predict(model, dataset, total=None, desc='evaluate', should_stop=None):
    """Mean logits over the test views of every video of an `data.eval_dataset`.

    Shows a progress bar on stderr (videos, videos/s and, when `total` is known, the ETA).

    Args:
      model: an `i3d.InceptionI3d` through Logits.
      dataset: `data.eval_dataset` elements.
      total: the number of videos (e.g. `data.videos_in(files)`), or None if unknown.
      desc: the bar's label (e.g. the stream).
      should_stop: optional callable; when it returns true, the videos so far are returned.

    Returns:
      (media ids [N] str, labels [N] int, logits [N, classes] float32), in file order.

    Raises:
      ValueError: naming the shard and media id of a video whose label is not one of the
        model's classes, or whose logits are not finite (NaN weights, a broken input): an
        accuracy computed from them would mean nothing.
    """
    from tqdm import tqdm

    @tf.function(reduce_retracing=True)
    def video_logits(views):
        logits, _ = model(views, is_training=False)
        return tf.reduce_mean(logits, axis=0)

    classes = model.num_classes
    ids, labels, logits = [], [], []
    bar = tqdm(total=total, desc=desc, unit='video', file=sys.stderr, dynamic_ncols=True)
    with contextlib.closing(bar):
        for item in dataset:
            if should_stop is not None and should_stop():
                break
            label, media_id = int(item['label']), item['media_id'].numpy().decode()
            if not 0 <= label < classes:
                shard = item['shard'].numpy().decode() if 'shard' in item else 'a shard'
                raise ValueError(
                    f"{shard}: video {media_id} has label {label}, not one of the model's "
                    f'{classes} classes (0..{classes - 1})'
                )
            found = video_logits(item['views']).numpy()
            if found.shape != (classes,) or not np.all(np.isfinite(found)):
                shard = item['shard'].numpy().decode() if 'shard' in item else 'a shard'
                raise ValueError(f'{shard}: video {media_id}: the model gave non-finite logits')
            logits.append(found)
            labels.append(label)
            ids.append(media_id)
            bar.update(1)
    return ids, np.array(labels, np.int64), np.array(logits, np.float32).reshape(-1, classes)


def accuracies(labels, logits):
    """dict: top1, top5 (video accuracy), mean_class (mean per-class top-1), videos."""
    if len(labels) == 0:
        return {'top1': float('nan'), 'top5': float('nan'), 'mean_class': float('nan'), 'videos': 0}
    ranked = np.argsort(-logits, axis=1)
    top1 = ranked[:, 0] == labels
    top5 = (ranked[:, :5] == labels[:, None]).any(axis=1)
    per_class = [top1[labels == c].mean() for c in np.unique(labels)]
    return {
        'top1': float(top1.mean()),
        'top5': float(top5.mean()),
        'mean_class': float(np.mean(per_class)),
        'videos': len(labels),
    }


def confusion(labels, logits, num_classes):
    """[true class, predicted class] counts."""
    matrix = np.zeros((num_classes, num_classes), np.int64)
    np.add.at(matrix, (labels, logits.argmax(axis=1)), 1)
    return matrix


def write_reports(output_dir, name, ids, labels, logits, class_names):
    """Writes <name>_predictions.csv, <name>_confusion.csv and <name>_confusion.png.

    Returns:
      The paths written.
    """
    os.makedirs(output_dir, exist_ok=True)
    predictions = os.path.join(output_dir, f'{name}_predictions.csv')
    ranked = np.argsort(-logits, axis=1)
    with files.atomic_output(predictions) as tmp, open(tmp, 'w', newline='') as f:
        writer = csv.writer(f)
        writer.writerow(['media_id', 'label', 'predicted', 'correct', 'top5', 'logit'])
        for media_id, label, row, logit in zip(ids, labels, ranked, logits, strict=True):
            writer.writerow(
                [
                    media_id,
                    class_names[label],
                    class_names[row[0]],
                    int(row[0] == label),
                    ' '.join(class_names[i] for i in row[:5]),
                    f'{logit[row[0]]:.6g}',
                ]
            )
    matrix = confusion(labels, logits, len(class_names))
    confusion_csv = os.path.join(output_dir, f'{name}_confusion.csv')
    with files.atomic_output(confusion_csv) as tmp, open(tmp, 'w', newline='') as f:
        writer = csv.writer(f)
        writer.writerow(['true \\ predicted', *class_names])
        for name_, row in zip(class_names, matrix, strict=True):
            writer.writerow([name_, *row])
    png = os.path.join(output_dir, f'{name}_confusion.png')
    pictures.write_confusion_png(png, matrix, class_names, name)
    return [predictions, confusion_csv, png]


def confusion_report(name, labels, logits, class_names, k=10):
    """The lines printed after the table: the `k` most frequent confusions of `name`."""
    matrix = confusion(labels, logits, len(class_names))
    found = pictures.confusion_lines(matrix, class_names, k)
    head = f'{name}: the {k} most frequent confusions (true -> predicted: videos)'
    return '\n'.join([head, *(f'  {line}' for line in found)])
