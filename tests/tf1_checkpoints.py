"""Source weights for tests: name-based (TF1-style) checkpoints as DeepMind's and slim's
Savers write them, and random arrays under their names."""

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


def deepmind_index(shared_path, scratch_dir, name):
    """[(name, shape)] of DeepMind's released checkpoint `name` (its real variable index)."""
    index = shared_path('checkpoint-index', f'{name}.model.ckpt.index')
    return index_variables(index, os.path.join(scratch_dir, name))


def slim_units():
    """(slim scope, kernel size, in channels, out channels) of every InceptionV1 conv.

    Built from the channel table I3D uses (i3d.MIXED_CHANNELS), with slim's names: its
    Mixed_5b/Branch_2 says `Conv2d_0a_3x3` where the other blocks say `0b`.
    """
    import i3d  # loads TensorFlow (conftest imports this module; no test needs it then)

    units = [('Conv2d_1a_7x7', 7, 3, 64), ('Conv2d_2b_1x1', 1, 64, 64)]
    units.append(('Conv2d_2c_3x3', 3, 64, 192))
    cin = 192
    for block, (b0, b1a, b1b, b2a, b2b, b3) in i3d.MIXED_CHANNELS.items():
        b2 = 'Conv2d_0a_3x3' if block == 'Mixed_5b' else 'Conv2d_0b_3x3'
        units += [
            (f'{block}/Branch_0/Conv2d_0a_1x1', 1, cin, b0),
            (f'{block}/Branch_1/Conv2d_0a_1x1', 1, cin, b1a),
            (f'{block}/Branch_1/Conv2d_0b_3x3', 3, b1a, b1b),
            (f'{block}/Branch_2/Conv2d_0a_1x1', 1, cin, b2a),
            (f'{block}/Branch_2/{b2}', 3, b2a, b2b),
            (f'{block}/Branch_3/Conv2d_0b_1x1', 1, cin, b3),
        ]
        cin = b0 + b1b + b2b + b3
    return units


def slim_arrays(seed=0):
    """Random weights under slim's exact variable names, scaled to keep activations O(1)."""
    rng = np.random.default_rng(seed)
    arrays = {'global_step': np.int64(1000)}
    for scope, k, cin, cout in slim_units():
        name = f'InceptionV1/{scope}/'
        std = np.sqrt(2.0 / (k * k * cin))
        arrays[name + 'weights'] = rng.normal(0, std, (k, k, cin, cout)).astype(np.float32)
        arrays[name + 'BatchNorm/beta'] = rng.normal(0, 0.1, cout).astype(np.float32)
        arrays[name + 'BatchNorm/moving_mean'] = rng.normal(0, 0.1, cout).astype(np.float32)
        arrays[name + 'BatchNorm/moving_variance'] = rng.uniform(0.5, 2, cout).astype(np.float32)
    logits = 'InceptionV1/Logits/Conv2d_0c_1x1/'
    arrays[logits + 'weights'] = rng.normal(0, 0.03, (1, 1, 1024, 1001)).astype(np.float32)
    arrays[logits + 'biases'] = np.zeros(1001, np.float32)
    return arrays


def canonical_arrays(num_classes=400, channels=3, seed=1):
    """{canonical (DeepMind) name: random array in [0.5, 1.5)} of every model variable."""
    import i3d  # loads TensorFlow (see slim_units)
    import model_io
    from weights import names

    model = model_io.build(i3d.InceptionI3d(num_classes=num_classes), channels)
    rng = np.random.default_rng(seed)
    return {
        name: rng.uniform(0.5, 1.5, shape).astype(np.float32)
        for name, (shape, _) in names.model_targets(model).items()
    }
