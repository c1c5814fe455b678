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


# TensorBoard's image plugin reads a string tensor [width, height, PNG...] (as
# tensorboard's own `image` summary writes it).
_IMAGE_METADATA = summary_pb2.SummaryMetadata(
    plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name='images'),
    data_class=summary_pb2.DATA_CLASS_BLOB_SEQUENCE,
)


def confusion_image(writer, step, matrix, class_names):
    """The evaluation's confusion matrix (evaluate.py's picture) as image `eval/confusion`."""
    from common import pictures

    png = pictures.confusion_png(matrix, class_names, f'eval at step {step}')
    width, height = pictures.png_size(png)
    with writer.as_default(step=step):
        tensor = tf.constant([str(width).encode(), str(height).encode(), png])
        tf.summary.write('eval/confusion', tensor, metadata=_IMAGE_METADATA)
    writer.flush()
