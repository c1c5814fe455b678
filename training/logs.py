"""What a run writes as it goes: stderr lines and TensorBoard summaries."""

import os
import sys

import tensorflow as tf
from tensorflow.core.framework import summary_pb2

from training import run_dir


def log(message):
    print(message, file=sys.stderr, flush=True)


def fresh_log(model_dir):
    """A run starting from step 0 drops the log of an earlier one killed before any save."""
    path = os.path.join(model_dir, run_dir.LOG_NAME)
    if os.path.exists(path):
        os.remove(path)


def logged(metrics):
    return {k: v for k, v in metrics.items() if k not in ('correct', 'non_finite', 'stop')}


# TensorBoard's scalar plugin metadata, written with core TF (`tf.summary.scalar` needs the
# tensorboard package, which training does not otherwise use).
_SCALAR_METADATA = summary_pb2.SummaryMetadata(
    plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name='scalars'),
    data_class=summary_pb2.DATA_CLASS_SCALAR,
)


def summaries(writer, step, metrics):
    with writer.as_default(step=step):
        for name, value in logged(metrics).items():
            tag = name if '/' in name else f'train/{name}'
            tf.summary.write(tag, tf.constant(value, tf.float32), metadata=_SCALAR_METADATA)
    writer.flush()
