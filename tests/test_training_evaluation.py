"""training.evaluation: per-video logits of the traced model, accuracies."""

import numpy as np
import pytest
import tensorflow as tf
from test_training_data import _example, _shard

import i3d
from common import streams
from training import data, evaluation


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
