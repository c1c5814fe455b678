"""Canonical arrays into a model: every tensor must match one variable (name and shape) and
vice versa. Loads TensorFlow (i3d, model_io)."""

import numpy as np

import i3d
import model_io
from weights import names


def new_model(num_classes, in_channels):
    """A fresh InceptionI3d with its variables made, for `in_channels` input channels."""
    return model_io.build(i3d.InceptionI3d(num_classes=num_classes), in_channels)


def assign_weights(model, canonical_arrays, source):
    """Assigns {canonical name: array} to the model, requiring a 1:1 match.

    Shapes must agree up to leading singleton axes (BatchNorm statistics are stored
    as [C] by DeepMind's Sonnet 1 and as [1,1,1,1,C] by Sonnet 2 and Flax).

    Returns:
      The number of tensors assigned.

    Raises:
      ValueError: listing every missing, unexpected or mis-shaped tensor.
    """
    targets = names.model_targets(model)
    missing = sorted(set(targets) - set(canonical_arrays))
    unexpected = sorted(set(canonical_arrays) - set(targets))
    problems = []
    if missing:
        problems.append(f'{len(missing)} missing (e.g. {missing[:3]})')
    if unexpected:
        problems.append(f'{len(unexpected)} unexpected (e.g. {unexpected[:3]})')
    for name in sorted(set(targets) & set(canonical_arrays)):
        shape = tuple(targets[name][0])
        value = np.asarray(canonical_arrays[name])
        if _squeeze_leading(value.shape) != _squeeze_leading(shape):
            problems.append(f'{name}: shape {value.shape} != model {shape}')
    if problems:
        raise ValueError(f'{source}: weights do not match the model: ' + '; '.join(problems))
    for name, (shape, assign) in targets.items():
        assign(np.asarray(canonical_arrays[name], np.float32).reshape(shape))
    return len(targets)


def _squeeze_leading(shape):
    shape = tuple(shape)
    while len(shape) > 1 and shape[0] == 1:
        shape = shape[1:]
    return shape


def import_arrays(canonical_arrays, source):
    """Builds a model shaped like the arrays and loads them into it.

    Returns:
      (model, number of tensors assigned).

    Raises:
      ValueError: if the arrays are not a whole I3D (e.g. no Logits), or do not match.
    """
    for name in (names.DEEPMIND_FIRST_W, names.DEEPMIND_LOGITS_W):
        if name not in canonical_arrays:
            raise ValueError(f'{source}: no {name}: not a complete I3D checkpoint')
    num_classes = canonical_arrays[names.DEEPMIND_LOGITS_W].shape[-1]
    in_channels = canonical_arrays[names.DEEPMIND_FIRST_W].shape[3]
    model = new_model(num_classes, in_channels)
    count = assign_weights(model, canonical_arrays, source)
    return model, count
