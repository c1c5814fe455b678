"""Name-based (TF1-style) checkpoints for tests: what DeepMind's and slim's Savers write."""

import os
import shutil

import numpy as np
import tensorflow as tf


def write(prefix, arrays):
    """Writes a checkpoint holding exactly `arrays` ({variable name: array}) at `prefix`."""
    os.makedirs(os.path.dirname(os.path.abspath(prefix)), exist_ok=True)
    names = sorted(arrays)
    tf.raw_ops.SaveV2(
        prefix=str(prefix),
        tensor_names=names,
        shape_and_slices=[''] * len(names),
        tensors=[tf.constant(np.asarray(arrays[n])) for n in names],
    )
    return str(prefix)


def index_variables(index_file, scratch_dir):
    """[(name, shape)] of a checkpoint given only its `.index` file (no data needed)."""
    os.makedirs(scratch_dir, exist_ok=True)
    prefix = os.path.join(scratch_dir, 'model.ckpt')
    shutil.copy(index_file, prefix + '.index')
    return tf.train.list_variables(prefix)
