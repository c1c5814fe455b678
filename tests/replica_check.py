"""Run by tests/test_training_replicas.py in its own process (it splits the CPU in two).

Prints JSON with:
- losses2 / losses1 / weights: 3 SGD-momentum steps with BatchNorm statistics frozen, on
  2 replicas and on 1, same global batch of 4 different clips (the per-replica BatchNorm
  statistics of training mode differ by design between the two set-ups; with them, a
  randomly initialised I3D on 2-clip batches is so ill-conditioned that float rounding
  alone moves the second update by ~1e-4: measured, so frozen statistics are compared).
- replica_gap / moved: BatchNorm in training mode, 2 replicas seeing different clips;
  the largest difference between the two replicas' copies of any moving statistic, and
  how far the statistics moved from their initial values.
"""

import json

import numpy as np
import tensorflow as tf

from common import streams
from training import cluster, options
from training.trainer import Trainer

cluster.setup_devices(2)
CLIPS = tf.random.stateless_uniform((4, 6, 32, 32, 3), (5, 6), -1, 1)
LABELS = tf.constant([0, 2, 1, 2], tf.int64)


def trainer(devices, freeze_bn):
    config = options.Config(
        'x',
        'y',
        batch_size=4,
        optimizer='sgd',
        learning_rate=0.01,
        dropout_keep_prob=1.0,
        weight_decay=1e-4,
        freeze_bn=freeze_bn,
    )
    strategy = tf.distribute.MirroredStrategy(devices)
    return Trainer(config, streams.RGB, strategy, 3, seed=0), strategy


two, _ = trainer(['/cpu:0', '/cpu:1'], True)
one, _ = trainer(['/cpu:0'], True)
losses2 = [two.train_step((CLIPS, LABELS))['loss'] for _ in range(3)]
losses1 = [one.train_step((CLIPS, LABELS))['loss'] for _ in range(3)]
weights = max(
    float(np.abs(a.numpy() - b.numpy()).max())
    for a, b in zip(two.model.trainable_variables, one.model.trainable_variables, strict=True)
)
bn, strategy = trainer(['/cpu:0', '/cpu:1'], False)
bn.train_step((CLIPS, LABELS))
replica_gap, moved = 0.0, 0.0
for variable in bn.model.variables:
    if 'moving' in variable.name:
        copies = [v.numpy() for v in strategy.experimental_local_results(variable)]
        replica_gap = max(replica_gap, float(np.abs(copies[0] - copies[1]).max()))
        if 'average' in variable.name:
            initial = 1.0 if 'variance' in variable.name else 0.0
            moved = max(moved, float(np.abs(copies[0] - initial).max()))
print(
    json.dumps(
        {
            'losses2': losses2,
            'losses1': losses1,
            'weights': weights,
            'replica_gap': replica_gap,
            'moved': moved,
        }
    )
)
