"""Saving and restoring the zoo's networks as `tf.train.Checkpoint` files, by explicit path.

A checkpoint is the prefix written by `save` (e.g. `checkpoints/rgb_scratch/model`, with
`model.index` and `model.data-*` beside it). Its network, number of classes and input
channels are read from the file, so callers only say where it is.
"""

import json
import os
import re
import typing

import tensorflow as tf

import zoo
from common import files
from preprocess import streams

MODEL_KEY = 'model'  # tf.train.Checkpoint(model=...): training saves under it too


def _variable_key(path_below_model):
    return f'{MODEL_KEY}/{path_below_model}/.ATTRIBUTES/VARIABLE_VALUE'


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
        recorded = [p for p in recorded_checkpoints(path) if not _removed(p)]
        if recorded:  # a training --model_dir: its latest checkpoint (as latest_intact)
            path = recorded[-1]
        else:
            path = os.path.join(path, 'model')
    if path.endswith('.index'):
        path = path[: -len('.index')]
    if not os.path.exists(path + '.index'):
        name = os.path.basename(os.path.dirname(os.path.abspath(path)))
        if zoo.released(name)[1]:  # e.g. the default checkpoints/flow_scratch/model
            how = f"DeepMind's {name}; create it with: {zoo.install_command(name, path)}"
        else:
            how = (
                'train one, or convert weights with import_weights.py (`make weights`: '
                'Kinetics-400 RGB)'
            )
        raise ValueError(f'{path}: no checkpoint found (expected {path}.index); {how}')
    return path


class Spec(typing.NamedTuple):
    """What a checkpoint's index says of the model in it."""

    network: type  # the zoo's class (e.g. i3d.InceptionI3d)
    num_classes: int | None  # None: saved without its classifier
    in_channels: int


def read_spec(prefix):
    """The network, classes and input channels stored in a checkpoint (its index only).

    Raises:
      ValueError: if the file is not a checkpoint of one of the zoo's networks.
    """
    try:
        shapes = dict(tf.train.list_variables(prefix))
    except (tf.errors.OpError, ValueError) as e:
        raise ValueError(f'{prefix}: unreadable checkpoint ({type(e).__name__})') from None
    prefix_len = len(MODEL_KEY) + 1
    keys = {
        k[prefix_len : -len('/.ATTRIBUTES/VARIABLE_VALUE')]
        for k in shapes
        if k.startswith(MODEL_KEY + '/') and k.endswith('/.ATTRIBUTES/VARIABLE_VALUE')
    }
    _, network = zoo.of_checkpoint(keys)
    if network is None:
        main = zoo.network_class(zoo.names()[0])
        raise ValueError(
            f'{prefix}: not an {main.__name__} checkpoint of this project (no '
            f'{_variable_key(main.FIRST_KERNEL_KEY)}), nor one of another network of zoo.py; '
            'DeepMind TF1 checkpoints must be converted with import_weights.py first.'
        )
    logits_w = _variable_key(network.LOGITS_KERNEL_KEY)
    first_w = _variable_key(network.FIRST_KERNEL_KEY)
    num_classes = shapes[logits_w][-1] if logits_w in shapes else None
    return Spec(network, num_classes, shapes[first_w][-2])


# What TensorFlow raises on a damaged checkpoint: a truncated data file is an IndexError
# ("Read less bytes than requested") from the Python reader, a flipped byte a DataLossError
# (each tensor's stored CRC32C is checked as it is read), a missing data file a NotFoundError.
DAMAGE = (tf.errors.OpError, ValueError, IndexError)


def _one_line(error):
    """A TensorFlow or Python error's message as one short line."""
    reason = getattr(error, 'message', None) or str(error) or type(error).__name__
    reason = re.sub(r'\{\{[^}]*\}\}', '', reason)  # TF's "{{function_node ...}}" noise
    reason = ' '.join(reason.split())
    return reason[:300] + '...' if len(reason) > 300 else reason


def damaged(prefix, error):
    """The one-line ValueError for a checkpoint TensorFlow could not read."""
    reason = _one_line(error)
    return ValueError(
        f'{prefix}: damaged checkpoint ({reason}); write it again (e.g. with import_weights.py) '
        'or restore it from a copy'
    )


def verify(prefix):
    """Reads every tensor of a checkpoint once, so damage is found before any work.

    TensorFlow checks each tensor's stored CRC32C while reading it: truncated, corrupted
    and missing data files are all caught here. `restore` (and so `load`) checks the same
    for the tensors it reads; use this one only where nothing is restored.

    Raises:
      ValueError: naming the checkpoint and the damage.
    """
    try:
        reader = tf.train.load_checkpoint(prefix)
        for name in reader.get_variable_to_shape_map():
            reader.get_tensor(name)
    except DAMAGE as e:
        raise damaged(prefix, e) from None


def restore(model, prefix):
    """Restores every variable of `model` (possibly truncated) from `prefix`, checked.

    Parts of the checkpoint the model does not have (e.g. Logits for a feature
    extractor) are ignored (and not read); a variable of the model missing from the file
    is an error. Every tensor read is checked against its stored CRC32C, so a truncated,
    corrupted or missing data file is found here, in the one read of the weights.

    Raises:
      ValueError: naming the checkpoint: damaged, or not holding the model's variables.
    """
    try:
        status = tf.train.Checkpoint(**{MODEL_KEY: model}).read(prefix)
    except ValueError as e:  # e.g. a tensor of another shape: the file is fine
        raise ValueError(f'{prefix}: does not fit the model ({_one_line(e)})') from None
    except DAMAGE as e:
        raise damaged(prefix, e) from None
    try:
        status.assert_existing_objects_matched().expect_partial()
    except AssertionError as e:
        missing = ' '.join(str(e).split())[:200]
        raise ValueError(
            f'{prefix}: does not hold every variable of the model ({missing})'
        ) from None
    return model


def check_stream(prefix, in_channels, stream):
    """Refuses a checkpoint whose input channels are not those of `stream` ('rgb'/'flow').

    The one check of a checkpoint against its stream: `load(stream=...)` and
    `check_classifiers` call it, and through them every script.

    Raises:
      ValueError: naming the checkpoint, its channels and the stream it would fit.
    """
    want = streams.STREAMS[stream].channels
    if in_channels != want:
        fits = streams.of_channels(in_channels)
        fits = f'for the {fits.name} stream' if fits else 'for no stream'
        raise ValueError(
            f'{prefix}: takes {in_channels}-channel input ({fits}), but the {stream} stream '
            f'has {want}'
        )


# The name training runs give their checkpoints: <model_dir>/ckpt-<step>.
CHECKPOINT_PREFIX = 'ckpt'


def checkpoint_step(prefix):
    """The step N of a training checkpoint `.../ckpt-N` (-1 for a prefix without one)."""
    found = re.search(r'-(\d+)$', prefix)
    return int(found.group(1)) if found else -1


def recorded_checkpoints(model_dir):
    """The checkpoints of a training run's folder, oldest first.

    Those its `checkpoint` state file lists, and any `ckpt-N.index` beside them: a run
    killed between writing a checkpoint and recording it, or a lost state file, must not
    make a resume start over (and overwrite the run).
    """
    state = tf.train.get_checkpoint_state(model_dir)
    paths = []
    if state is not None:
        paths = list(state.all_model_checkpoint_paths)
        if state.model_checkpoint_path not in paths:
            paths.append(state.model_checkpoint_path)
    paths = [p if os.path.isabs(p) else os.path.join(model_dir, p) for p in paths]
    pattern = os.path.join(_glob_escape(model_dir), f'{CHECKPOINT_PREFIX}-*.index')
    for index in tf.io.gfile.glob(pattern):
        if index[: -len('.index')] not in paths:
            paths.append(index[: -len('.index')])
    return sorted(paths, key=checkpoint_step)


def _problem(prefix):
    """None for an intact checkpoint, else what is wrong with it (reads every tensor)."""
    if not tf.io.gfile.exists(prefix + '.index'):
        return f'{prefix}: damaged checkpoint ({prefix}.index is missing)'
    try:
        verify(prefix)
    except ValueError as e:
        return str(e).split('; write it again')[0]
    return None


def _removed(prefix):
    """True when none of a recorded checkpoint's files is left (the user deleted it)."""
    return not tf.io.gfile.glob(_glob_escape(prefix) + '.*')


def _glob_escape(path):
    """`path` with glob's special characters escaped (tf.io.gfile.glob has no escape)."""
    return re.sub(r'([*?\[])', r'[\1]', path)


def latest_intact(model_dir):
    """The newest checkpoint of a training run's folder, verified (for resuming).

    Checkpoints whose files are all gone (deleted by the user, e.g. after the error below)
    are passed over, so that deleting a damaged latest checkpoint resumes from the one
    before it.

    Args:
      model_dir: a training --model_dir (with TensorFlow's `checkpoint` state file).

    Returns:
      The prefix of its latest checkpoint, every tensor of it read and checked; None if
      the folder records no checkpoint (or all recorded ones were deleted).

    Raises:
      ValueError: if the latest is damaged; the message names it, what is wrong, and the
        newest intact older checkpoint (or says there is none).
    """
    recorded = [p for p in recorded_checkpoints(model_dir) if not _removed(p)]
    if not recorded:
        return None
    latest = recorded[-1]
    problem = _problem(latest)
    if problem is None:
        return latest
    older = next((p for p in reversed(recorded[:-1]) if _problem(p) is None), None)
    hint = (
        f'the newest intact one is {older}: delete {latest}.* to resume from it'
        if older
        else 'no intact older checkpoint is left; use another --model_dir to start again'
    )
    raise ValueError(f'{problem}; cannot resume: {hint}')


def load(path, final_endpoint=None, compute_dtype=tf.float32, stream=None):
    """Builds the network of the checkpoint at `path`, shaped like it, and restores it.

    Args:
      path: checkpoint prefix or folder.
      final_endpoint: truncate the network here (e.g. its `FEATURE_ENDPOINT` for
        features); None: through its classifier.
      compute_dtype: tf.float32 or tf.bfloat16.
      stream: 'rgb' or 'flow' to refuse a checkpoint of the other stream (checked before
        anything is built or read).

    Returns:
      (model, input channels).

    Raises:
      ValueError: if there is no usable checkpoint at `path` (missing, damaged, not an
        checkpoint of the zoo, another stream's, an unknown endpoint, no classifier when it
        is needed).
    """
    prefix = resolve(path)
    network, num_classes, in_channels = read_spec(prefix)
    if stream:
        check_stream(prefix, in_channels, stream)
    final_endpoint = final_endpoint or network.LOGITS_ENDPOINT
    endpoints = network.VALID_ENDPOINTS
    if final_endpoint not in endpoints:
        raise ValueError(
            f'{prefix}: {network.__name__} has no endpoint {final_endpoint!r} '
            f'(one of {", ".join(endpoints)})'
        )
    needs_logits = endpoints.index(final_endpoint) >= endpoints.index(network.LOGITS_ENDPOINT)
    if needs_logits and num_classes is None:
        raise ValueError(f'{prefix}: checkpoint has no Logits layer; use a truncated endpoint.')
    model = network(
        num_classes=num_classes or 400,
        final_endpoint=final_endpoint,
        compute_dtype=compute_dtype,
    )
    build(model, in_channels)
    return restore(model, prefix), in_channels


def check_classifiers(checkpoints):
    """Reads each checkpoint's index (cheap): its stream's channels, Logits, one class count.

    Args:
      checkpoints: {'rgb' and/or 'flow': checkpoint path or folder}.

    Returns:
      (the number of classes, {stream: checkpoint prefix}).

    Raises:
      ValueError: missing checkpoint, the other stream's, no Logits, streams whose class
        counts differ (their logits could not be summed).
    """
    prefixes, classes = {}, {}
    for name, path in checkpoints.items():
        prefix = resolve(path)
        _, num_classes, channels = read_spec(prefix)
        check_stream(prefix, channels, name)
        if num_classes is None:
            raise ValueError(f'{prefix}: checkpoint has no Logits layer')
        prefixes[name], classes[name] = prefix, num_classes
    if len(set(classes.values())) > 1:
        raise ValueError(
            f'{prefixes["rgb"]} has {classes["rgb"]} classes but {prefixes["flow"]} has '
            f'{classes["flow"]}: the streams cannot be fused'
        )
    return next(iter(classes.values())), prefixes


# What a training run records beside its checkpoints (training/run_dir.py writes it): read
# here, below training and inference, so that both can ask it of a checkpoint.
SETTINGS_NAME = 'run_settings.json'


def read_settings(model_dir):
    """The stored settings, or None for a folder written before they were kept."""
    path = os.path.join(model_dir, SETTINGS_NAME)
    if not os.path.exists(path):
        return None
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        raise ValueError(f'{path}: unreadable run settings ({e})') from None


def recorded_class_names(checkpoint):
    """(class names, run_settings.json) recorded by the training run that wrote
    `checkpoint` (a prefix, e.g. runs/ucf101_rgb/ckpt-2), or (None, None) when the folder
    holds no settings or the run had no label map (--num_classes alone).

    Raises:
      ValueError: naming the settings file when it is unreadable or its names are not a
        list of distinct strings.
    """
    path = os.path.join(os.path.dirname(os.path.abspath(checkpoint)), SETTINGS_NAME)
    stored = read_settings(os.path.dirname(path))
    names = stored.get('class_names') if isinstance(stored, dict) else None
    if names is None:
        return None, None
    if (
        not isinstance(names, list)
        or not all(isinstance(n, str) and n.strip() and len(n.splitlines()) == 1 for n in names)
        or len(set(names)) != len(names)
    ):
        raise ValueError(f'{path}: class_names is not a list of distinct one-line names')
    return names, path
