"""Run by tests/training/test_replicas.py in its own process (it splits the CPU in two).

Prints JSON with:
- losses2 / losses1 / weights: 3 SGD-momentum steps with BatchNorm statistics frozen, on
  2 replicas and on 1, same global batch of 4 different clips (the per-replica BatchNorm
  statistics of training mode differ by design between the two set-ups; with them, a
  randomly initialised network on 2-clip batches is so ill-conditioned that float rounding
  alone moves the second update by ~1e-4: measured, so frozen statistics are compared).
- replica_gap / moved: BatchNorm in training mode, 2 replicas seeing different clips;
  the largest difference between the two replicas' copies of any moving statistic, and
  how far the statistics moved from their initial values.
With the argument `batch_norm` it checks instead (its own process: two MirroredStrategy
objects over the same devices reuse collective keys, and TensorFlow then pairs one's
all-reduce with the other's cached one, "Shape mismatch in the collective instance"):
- precise_stats / precise_moved: precise BN over one batch of 4 clips split on 2 replicas
  against precise BN on 1 replica over the two halves as two batches (the average of the
  per-replica batch moments); the largest difference of any statistic relative to its
  largest value, and how far the statistics moved.
- sync_loss / sync_stats / sync_moved: then `--sync_batch_norm`, one step on the 2 replicas
  (2 clips each) against one step on 1 replica with the 4 clips in one batch (BatchNorm in
  training mode): the losses, the largest relative difference of any moving statistic
  (sync BN computes them over the global batch; without it the replicas' moments differ)
  and how far the step moved them.
"""

import json
import sys

import numpy as np
import tensorflow as tf
import tiny_net

from preprocess import streams
from training import batch_norm, cluster, options
from training.trainer import Trainer

cluster.setup_devices(2)
# The zoo's smallest network (tests/tiny_net.py): what is checked is the training machinery
# (the strategy's replicas, BatchNorm's cross-replica and precise moments), which runs the
# same BatchNorm modules (layers/batch_norm.py) in any network; I3D's full step costs
# minutes of tracing here.
tiny_net.register()
CLIPS = tf.random.stateless_uniform((4, 6, 32, 32, 3), (5, 6), -1, 1)
# The sync BN step's clips: others than precise BN's, whose moments the moving statistics
# already hold after it (a step on those would barely move them).
OTHER_CLIPS = tf.random.stateless_uniform((4, 6, 32, 32, 3), (7, 8), -1, 1) * 2.0
LABELS = tf.constant([0, 2, 1, 2], tf.int64)


def trainer(devices, freeze_bn, sync_batch_norm=False):
    config = options.Config(
        'x',
        'y',
        network=tiny_net.NAME,
        batch_size=4,
        optimizer='sgd',
        learning_rate=0.01,
        dropout_keep_prob=1.0,
        weight_decay=1e-4,
        freeze_bn=freeze_bn,
        sync_batch_norm=sync_batch_norm,
    )
    strategy = tf.distribute.MirroredStrategy(devices)
    return Trainer(config, streams.RGB, strategy, 3, seed=0), strategy


def moving(model):
    return [v.numpy() for v in model.variables if 'moving' in v.name and 'average' in v.name]


def largest_gap(a, b, relative=False):
    scale = (lambda y: np.abs(y).max() + 1e-6) if relative else (lambda y: 1.0)
    return max(float(np.abs(x - y).max() / scale(y)) for x, y in zip(a, b, strict=True))


def replicas():
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
    return {
        'losses2': losses2,
        'losses1': losses1,
        'weights': weights,
        'replica_gap': replica_gap,
        'moved': moved,
    }


def batch_norms():
    synced, strategy2 = trainer(['/cpu:0', '/cpu:1'], False, sync_batch_norm=True)
    whole, strategy1 = trainer(['/cpu:0'], False)
    initial = moving(whole.model)
    batch_norm.precise_bn(synced.model, strategy2, iter([synced.distribute((CLIPS,))[0]]), 1)
    halves = iter([whole.distribute((CLIPS[:2],))[0], whole.distribute((CLIPS[2:],))[0]])
    batch_norm.precise_bn(whole.model, strategy1, halves, 2)
    # Relative to each statistic's size: deep layers' variances reach ~10.
    precise_stats = largest_gap(moving(synced.model), moving(whole.model), relative=True)
    precise_moved = largest_gap(moving(whole.model), initial)
    before = moving(whole.model)
    loss2 = synced.train_step((OTHER_CLIPS, LABELS))['loss']
    loss1 = whole.train_step((OTHER_CLIPS, LABELS))['loss']
    return {
        'sync_loss': [loss2, loss1],
        'sync_stats': largest_gap(moving(synced.model), moving(whole.model), relative=True),
        'sync_moved': largest_gap(moving(whole.model), before),
        'precise_stats': precise_stats,
        'precise_moved': precise_moved,
    }


print(json.dumps(batch_norms() if sys.argv[1:] == ['batch_norm'] else replicas()))
