"""2D -> 3D inflation (paper section 2.4) from TF-slim's ImageNet Inception-v1.

Both use BatchNorm with an offset, no scale and eps 1e-3, and no conv bias before it.
slim's 1001-way ImageNet classifier is dropped (weights.names); I3D has the time axis and a
new classifier, which keeps its initialisation. Loads TensorFlow (model_io).
"""

import numpy as np

from weights import assign, names, output, tf1


def read_slim_checkpoint(path):
    """Reads a TF-slim Inception-v1 checkpoint into {canonical name: 2D array}."""
    reader, variables = tf1.open_checkpoint(path)
    if not names.is_slim(variables):
        raise ValueError(
            f'{path}: not a TF-slim inception_v1 checkpoint (no InceptionV1/ names); it is '
            f'{tf1.kind(variables)}'
        )
    wanted = [n for n in variables if names.canonical_from_slim(n) is not None]
    return {
        names.canonical_from_slim(n): a for n, a in tf1.read_tensors(reader, path, wanted).items()
    }


def inflate(arrays_2d, model):
    """2D arrays -> the model's 3D shapes: kernels repeated over time and divided by k_t.

    k_t is the model's (DeepMind's): 7 for Conv3d_1a_7x7, 3 for the 3x3 units, 1 for 1x1,
    so a video of one repeated image gives the 2D network's activations (the paper's
    "boring video"). When the model takes 2 input channels (flow), the first kernel is
    averaged over RGB and repeated over the flow channels (cross-modality initialisation).
    """
    kernels = {f'{scope}/conv_3d/w': unit for scope, unit in model.named_units()}
    out = dict(arrays_2d)
    for name, value in arrays_2d.items():
        if name in kernels and value.ndim == 4:
            k_t = kernels[name].kernel_shape[0]
            out[name] = np.repeat(value[None] / np.float32(k_t), k_t, axis=0)
    first = names.DEEPMIND_FIRST_W
    in_channels = kernels[first].w.shape[3]
    if first in out and out[first].ndim == 5 and out[first].shape[3] != in_channels:
        out[first] = np.repeat(out[first].mean(axis=3, keepdims=True), in_channels, axis=3)
    return out


def inflate_slim_checkpoint(path, in_channels=3, num_classes=400):
    """An I3D model holding the inflated slim weights and a new `num_classes` head.

    Returns:
      (model, number of tensors taken from the checkpoint).

    Raises:
      ValueError: on `in_channels` other than 3 (RGB) or 2 (flow), which no tool takes,
        or a checkpoint problem.
    """
    output.check_in_channels(in_channels)
    model = assign.new_model(num_classes, in_channels)
    arrays = inflate(read_slim_checkpoint(path), model)
    taken = len(arrays)
    # The new head keeps its initialisation; it goes through the 1:1 check like the rest.
    w, b = model.logits_variables
    arrays[names.DEEPMIND_LOGITS_W] = w.numpy()
    arrays[names.DEEPMIND_LOGITS_B] = b.numpy()
    assign.assign_weights(model, arrays, path)
    return model, taken
