"""The SavedModel of export_saved_model.py: signatures over the streams' models.

See export_saved_model.py for the signatures. Kept apart from the script so that tests and
other tools can build and save the export without the script's flags.
"""

import contextlib
import os
import shutil
import tempfile

import tensorflow as tf

import model_io
from common import files
from common import label_map as label_maps
from inference import class_names, whole_video
from preprocess import streams


def _spec(name):
    # Unknown rank on purpose: a loaded signature does not check the shapes it is fed, and
    # with a declared rank TensorFlow folds the rank check away; `_check_clip` checks it.
    return tf.TensorSpec(None, tf.float32, name=name)


def _check_clip(x, name):
    """One clear error for a clip that breaks the signature's contract (a loaded signature
    does not check shapes itself)."""
    channels = streams.STREAMS[name].channels
    contract = f'{name}: expected float32 [batch, frames, height, width, {channels}]'
    # Padded so that reading it cannot fail before the checks have reported.
    shape = tf.concat([tf.shape(x), tf.ones([5], tf.int32)], axis=0)
    checks = [
        tf.debugging.assert_rank(x, 5, message=contract),
        tf.debugging.assert_equal(shape[4], channels, message=contract),
        tf.debugging.assert_positive(shape[0], message=f'{name}: need at least 1 clip (batch 0)'),
        tf.debugging.assert_positive(
            shape[1:4], message=f'{name}: need at least 1 frame of at least 1x1 pixels'
        ),
    ]
    with tf.control_dependencies(checks):
        # After the shape checks (a NaN-free tensor of the wrong rank is still wrong); one
        # pass over the input, small beside the network's: NaN or inf would otherwise come
        # out as finite logits (max pools and BatchNorm do not all propagate them).
        finite = tf.debugging.assert_all_finite(
            x, message=f'{name}: the clip holds NaN or infinite values'
        )
    with tf.control_dependencies([finite]):
        return tf.ensure_shape(tf.identity(x), [None, None, None, None, channels])


def _batch(x):
    """The batch size of a clip; 1 for a scalar (whose rank the stream's check refuses)."""
    return tf.concat([tf.shape(x), [1]], axis=0)[0]


def chunked_forward(net, trunk, x, w, b, chunk_frames):
    """(logits, features) equal to one pass of `trunk` (a clip -> the feature endpoint of
    the network `net`, e.g. I3D's Mixed_5c) and its classifier (`w`, `b`) over the clips
    `x`, run inside the graph as `whole_video`'s overlapping chunks, stitched by the same
    rules: memory is bounded by `chunk_frames`, not by the clip's length (a clip of at most
    `chunk_frames` frames is one pass). `features` is the classifier's input
    (`net.classifier_input`): logits == features @ w + b."""
    geo = whole_video.geometry(net)
    plan = whole_video.chunk_table(tf.shape(x)[1], chunk_frames, geo)
    outputs = plan[-1, 3]  # feature endpoint time steps of the whole clip
    time_weights = net.time_weights(outputs)

    def body(i, pooled):
        start, end, keep_from, keep_to = tf.unstack(plan[i])
        features = trunk(x[:, start:end])
        local = start // geo.stride
        kept = features[:, keep_from - local : keep_to - local]
        # The head is linear (I3D: the pool, the 1x1x1 conv and the mean): the whole clip's
        # logits are the classifier of the sum of its pieces' classifier inputs.
        pooled += net.classifier_input(kept, time_weights[keep_from:keep_to])
        return i + 1, pooled

    zeros = tf.zeros([tf.shape(x)[0], w.shape[-2]])
    # One chunk at a time: a chunk's network pass does not depend on the previous one, so
    # TensorFlow may otherwise run several at once and multiply the memory.
    _, pooled = tf.while_loop(
        lambda i, _: i < tf.shape(plan)[0], body, (0, zeros), parallel_iterations=1
    )
    logits = tf.matmul(pooled, tf.reshape(w, [w.shape[-2], w.shape[-1]])) + b
    return logits, pooled


class I3DExport(tf.Module):
    """The streams' models (trunks to the feature endpoint + classifiers) and serving
    functions."""

    def __init__(self, trunks, classifiers, label_map, chunk_frames):
        super().__init__()
        self.trunks = trunks
        self.classifiers = classifiers  # {stream: (w, b)}
        self.class_names_file = tf.saved_model.Asset(label_map)
        self._chunk_frames = chunk_frames
        # One traced network per stream, called by every signature that needs it; `scale`
        # and `shift` map the input to [-1, 1] chunk by chunk (rgb_0_1: 2, -1), so that no
        # rescaled copy of a whole long clip is made.
        scalar = tf.TensorSpec([], tf.float32)
        self.forward = {
            s: tf.function(self._forward(s), input_signature=[_spec(s), scalar, scalar])
            for s in trunks
        }

    def _forward(self, stream):
        def forward(x, scale, shift):
            x = _check_clip(x, stream)

            def trunk(clip):
                return self.trunks[stream](clip * scale + shift, is_training=False)[0]

            net = self.trunks[stream]
            return chunked_forward(net, trunk, x, *self.classifiers[stream], self._chunk_frames)

        return forward

    def _stream(self, stream, x, scale=1.0, shift=0.0):
        return self.forward[stream](x, scale, shift)

    @staticmethod
    def _outputs(logits, features):
        return {
            'logits': logits,
            'probabilities': tf.nn.softmax(logits),
            'features': features,
        }

    def rgb(self, rgb):
        return self._outputs(*self._stream('rgb', rgb))

    def flow(self, flow):
        return self._outputs(*self._stream('flow', flow))

    def joint(self, rgb, flow):
        # Checked first: the streams' outputs could not be summed, after two network passes.
        same = tf.debugging.assert_equal(
            _batch(rgb),
            _batch(flow),
            message='joint: rgb and flow must hold the same number of clips (batch sizes differ)',
        )
        with tf.control_dependencies([same]):
            rgb, flow = tf.identity(rgb), tf.identity(flow)
        rgb_logits, rgb_features = self._stream('rgb', rgb)
        flow_logits, flow_features = self._stream('flow', flow)
        features = tf.concat([rgb_features, flow_features], axis=-1)
        return self._outputs(rgb_logits + flow_logits, features)

    def rgb_0_1(self, rgb):
        return self._outputs(*self._stream('rgb', rgb, 2.0, -1.0))

    def default(self, rgb_input):
        # TF Hub i3d-kinetics-400's contract, decoded from its graph: `rgb_input` goes to
        # Conv3d_1a_7x7 unscaled (so [-1, 1]), `default` is RGB/inception_i3d/Mean.
        logits, _ = self._stream('rgb', rgb_input)
        return {'default': logits}

    def class_names(self):
        text = tf.strings.strip(tf.io.read_file(self.class_names_file))
        lines = tf.strings.strip(tf.strings.split(text, '\n'))
        return {'class_names': tf.boolean_mask(lines, tf.strings.length(lines) > 0)}


def check_checkpoints(checkpoints, label_map):
    """Reads each checkpoint's index and the label map (cheap): fails before any model is
    built.

    Returns:
      {stream: checkpoint prefix}.

    Raises:
      ValueError: `model_io.check_classifiers`' errors, or a label map of another
        length.
    """
    num_classes, prefixes = model_io.check_classifiers(checkpoints)
    labels = label_maps.read(label_map)
    if num_classes != len(labels):
        raise ValueError(f'{label_map}: {len(labels)} names for models of {num_classes} classes')
    return prefixes


@contextlib.contextmanager
def label_map_file(checkpoints, label_map=None):
    """The label map the export ships: `label_map` when given (looked up in the repository
    when not found here), else `class_names.for_checkpoints`' choice, written to a
    temporary label_map.txt (removed on exit) when a training run recorded the names.

    Raises:
      ValueError: `class_names.for_checkpoints`' errors.
    """
    if label_map:
        yield files.here_or_in_repo(label_map)
        return
    found = class_names.for_checkpoints(checkpoints)
    if found.label_map:
        yield found.label_map
        return
    with tempfile.TemporaryDirectory(prefix='i3d-export-') as folder:
        yield label_maps.write(os.path.join(folder, label_maps.FILENAME), found.names)


def _trunk_of(model):
    """The model's network up to its feature endpoint, sharing nothing: its variables
    copied (the checkpoint is read once)."""
    trunk = model_io.build(type(model)(final_endpoint=model.FEATURE_ENDPOINT), model.input_channels)
    source = {v.name: v for v in model.variables}
    for variable in trunk.variables:
        variable.assign(source[variable.name])
    return trunk


def build(checkpoints, label_map, chunk_frames=whole_video.DEFAULT_CHUNK_FRAMES):
    """(module, {signature name: concrete function}) for the given streams.

    Args:
      checkpoints: {stream: checkpoint path}.
      label_map: the class names file (shipped as an asset).
      chunk_frames: frames per network call inside the signatures (longer clips run as
        overlapping chunks, exactly; memory grows with it).

    Raises:
      ValueError: on a checkpoint problem, a label map of the wrong length or a chunk
        shorter than the network's receptive field.
    """
    prefixes = check_checkpoints(checkpoints, label_map)
    for prefix in prefixes.values():
        network = model_io.read_spec(prefix).network
        whole_video.check_chunk_frames(chunk_frames, whole_video.geometry(network))
    trunks, classifiers = {}, {}
    for stream, prefix in prefixes.items():
        model, _ = model_io.load(prefix, stream=stream)
        classifiers[stream] = tuple(tf.Variable(v) for v in model.logits_variables)
        trunks[stream] = _trunk_of(model)
    module = I3DExport(trunks, classifiers, label_map, chunk_frames)
    signatures = {}
    for stream in checkpoints:
        fn = tf.function(getattr(module, stream), input_signature=[_spec(stream)])
        signatures[stream] = fn.get_concrete_function()
    if streams.RGB.name in checkpoints:  # TF Hub's and the [0, 1] contracts are RGB's
        fn = tf.function(module.rgb_0_1, input_signature=[_spec('rgb')])
        signatures['rgb_0_1'] = fn.get_concrete_function()
        fn = tf.function(module.default, input_signature=[_spec('rgb_input')])
        signatures['default'] = fn.get_concrete_function()
    if len(checkpoints) == 2:
        fn = tf.function(module.joint, input_signature=[_spec('rgb'), _spec('flow')])
        signatures['joint'] = fn.get_concrete_function()
    signatures['class_names'] = tf.function(module.class_names, input_signature=[])
    signatures['class_names'] = signatures['class_names'].get_concrete_function()
    signatures['serving_default'] = signatures.get('joint', signatures.get('rgb'))
    if signatures['serving_default'] is None:
        del signatures['serving_default']
    return module, signatures


def export(module, signatures, output, overwrite=False):
    """Saves to a temporary folder, then renames it to `output` (never half a SavedModel).

    The temporary folder is removed whatever fails; one left by a killed export is
    removed by the next (`files.check_saved_model_output`).

    Raises:
      ValueError: see `files.check_saved_model_output`; or the SavedModel could not be written.
    """
    output = output.rstrip('/') or output
    files.check_saved_model_output(output, overwrite)
    tmp = files.temporary_name(output)
    try:
        tf.saved_model.save(module, tmp, signatures=signatures)
        # Again: another run may have written it meanwhile.
        files.check_saved_model_output(output, overwrite)
        if os.path.exists(output):
            shutil.rmtree(output)
        os.replace(tmp, output)
    except (OSError, tf.errors.OpError) as e:
        reason = getattr(e, 'message', None) or getattr(e, 'strerror', None) or str(e)
        raise ValueError(
            f'{output}: cannot write the SavedModel ({" ".join(reason.split())})'
        ) from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return output
