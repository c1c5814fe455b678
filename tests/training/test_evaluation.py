"""training.evaluation: per-video logits of the traced model, accuracies."""

import numpy as np
import pytest
import tensorflow as tf
from sequence_examples import example as _example
from sequence_examples import shard as _shard

import i3d
from preprocess import streams
from training import data, evaluation


@pytest.mark.slow
def test_predict_on_videos_of_every_length_equals_the_eager_model(tmp_path):
    """Retraced with unknown lengths, the Logits pool once gave NaN for clips of <= 8 frames."""
    lengths = (1, 2, 7, 8, 9, 16)
    shard = _shard(
        tmp_path / 'e.tfrecord',
        [_example(frames=n, height=40, width=48, label=n % 3) for n in lengths],
    )
    model = i3d.InceptionI3d(num_classes=3)
    dataset = data.eval_dataset([shard], streams.RGB, 32, max_frames=250)
    ids, labels, logits = evaluation.predict(model, dataset)
    assert ids == [f'v{n}' for n in lengths] and list(labels) == [n % 3 for n in lengths]
    assert logits.shape == (len(lengths), 3) and np.all(np.isfinite(logits))
    for row, item in zip(logits, dataset, strict=True):
        eager, _ = model(item['views'], is_training=False)
        np.testing.assert_allclose(row, tf.reduce_mean(eager, axis=0), rtol=1e-5, atol=1e-5)


class _BrokenModel:
    """Stands for a model with NaN weights: logits of the right shape, all NaN."""

    num_classes = 3

    def __call__(self, views, is_training):
        return tf.fill([tf.shape(views)[0], self.num_classes], np.nan), {}


def test_predict_refuses_non_finite_logits(tmp_path):
    shard = _shard(tmp_path / 'e.tfrecord', [_example(frames=3, height=40, width=48)])
    dataset = data.eval_dataset([shard], streams.RGB, 32)
    with pytest.raises(ValueError, match=r'v3: the model gave non-finite logits'):
        evaluation.predict(_BrokenModel(), dataset)


def test_accuracies():
    labels = np.array([0, 1, 2, 2])
    logits = np.eye(3, dtype=np.float32)[[0, 2, 2, 1]]
    found = evaluation.accuracies(labels, logits)
    assert found['top1'] == 0.5 and found['top5'] == 1.0 and found['videos'] == 4
    assert found['mean_class'] == pytest.approx((1 + 0 + 0.5) / 3)


def test_confusion_report_lists_the_ten_most_frequent_confusions_of_a_known_table():
    # 12 confusions of distinct counts 1..12 (true c -> predicted c + 1), 5 correct per class.
    labels, predicted = [], []
    for c in range(12):
        labels += [c] * (c + 1 + 5)
        predicted += [(c + 1) % 13] * (c + 1) + [c] * 5
    names = [f'class{c}' for c in range(13)]
    logits = np.eye(13, dtype=np.float32)[predicted]
    report = evaluation.confusion_report('rgb', np.array(labels), logits, names)
    assert report.splitlines() == [
        'rgb: the 10 most frequent confusions (true -> predicted: videos)',
        *(f'  class{c} -> class{c + 1}: {c + 1}' for c in range(11, 1, -1)),
    ]


def test_reports_are_both_csvs_and_the_picture(tmp_path):
    labels = np.array([0, 0, 1, 2])
    logits = np.eye(3, dtype=np.float32)[[0, 1, 1, 2]]
    written = evaluation.write_reports(
        str(tmp_path), 'flow', ['a', 'b', 'c', 'd'], labels, logits, ['x', 'y', 'z']
    )
    assert [p.rsplit('/', 1)[1] for p in written] == [
        'flow_predictions.csv',
        'flow_confusion.csv',
        'flow_confusion.png',
    ]
    with open(written[2], 'rb') as f:
        assert f.read(8) == b'\x89PNG\r\n\x1a\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        p.rsplit('/', 1)[1] for p in written
    )
