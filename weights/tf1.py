"""Name-based TF checkpoints (what DeepMind's and TF-slim's Savers write), read by name.

Loads TensorFlow (model_io).
"""

import tensorflow as tf

import model_io
from weights import names as names_


def open_checkpoint(path):
    """(reader, {variable name: shape}) of a TF checkpoint.

    Raises:
      ValueError: one line, if it cannot be read.
    """
    try:
        reader = tf.train.load_checkpoint(path)
    except (tf.errors.OpError, ValueError):
        raise ValueError(f'{path}: not a readable TF checkpoint') from None
    return reader, reader.get_variable_to_shape_map()


def read_tensors(reader, path, names):
    """{name: array}; a truncated or corrupted data file is a one-line error."""
    try:
        return {name: reader.get_tensor(name) for name in names}
    except model_io.DAMAGE as e:
        raise model_io.damaged(path, e) from None


def kind(names):
    """What kind of checkpoint these variable names make, for messages."""
    if any(n.startswith(f'{model_io.MODEL_KEY}/') for n in names):
        return "this project's format already (use it as it is, no import needed)"
    if names_.is_slim(names):
        return 'a TF-slim Inception-v1 checkpoint (use --source=inception_v1_2d)'
    if names_.looks_deepmind(names):
        return 'a DeepMind I3D checkpoint (use --source=deepmind)'
    return 'neither a DeepMind I3D nor a TF-slim Inception-v1 checkpoint'
