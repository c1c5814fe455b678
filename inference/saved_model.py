"""The SavedModel of export_saved_model.py: signatures over the streams' models.

See export_saved_model.py for the signatures. Kept apart from the script so that tests and
other tools can build and save the export without the script's flags.
"""

import os
import shutil

import tensorflow as tf

import i3d
import model_io
from common import files
from common import label_map as label_maps

CHANNELS = {'rgb': 3, 'flow': 2}


def _spec(channels, name):
    # Unknown rank on purpose: a loaded signature does not check the shapes it is fed, and
    # with a declared rank TensorFlow folds the rank check away; `_check_clip` checks it.
    del channels
    return tf.TensorSpec(None, tf.float32, name=name)


def _check_clip(x, name):
    """One clear error for a clip that breaks the signature's contract (a loaded signature
    does not check shapes itself)."""
    contract = f'{name}: expected float32 [batch, frames, height, width, {CHANNELS[name]}]'
    # Padded so that reading it cannot fail before the checks have reported.
    shape = tf.concat([tf.shape(x), tf.ones([5], tf.int32)], axis=0)
    checks = [
        tf.debugging.assert_rank(x, 5, message=contract),
        tf.debugging.assert_equal(shape[4], CHANNELS[name], message=contract),
        tf.debugging.assert_positive(
            shape[1:4], message=f'{name}: need at least 1 frame of at least 1x1 pixels'
        ),
    ]
    with tf.control_dependencies(checks):
        return tf.ensure_shape(tf.identity(x), [None, None, None, None, CHANNELS[name]])


def _window_weights(length, window):
    """Weight of each position in the mean of all VALID stride-1 window means over a
    dimension of `length` (window clamped to the length, as i3d.Logits does): the number
    of windows covering it / (windows * window size). Works on dynamic lengths."""
    window = tf.minimum(window, length)
    windows = length - window + 1
    i = tf.range(length)
    covering = tf.minimum(i, windows - 1) - tf.maximum(0, i - window + 1) + 1
    return tf.cast(covering, tf.float32) / tf.cast(windows * window, tf.float32)


def clamped_logits(mixed_5c, w, b):
    """i3d.Logits (avg pool [2,7,7] VALID clamped, 1x1x1 conv, mean over time) for clips
    whose size is only known at run time: the pool, the conv and the mean are linear, so
    the logits are the conv of one weighted average of Mixed_5c. Where the pooled map is
    larger than 1x1 (inputs above 224 px) its positions are averaged too."""
    shape = tf.shape(mixed_5c)
    weights = [_window_weights(shape[d + 1], k) for d, k in enumerate(i3d.LOGITS_POOL)]
    pooled = tf.einsum('bthwc,t,h,w->bc', mixed_5c, *weights)
    return tf.matmul(pooled, tf.reshape(w, [w.shape[-2], w.shape[-1]])) + b


class I3DExport(tf.Module):
    """The streams' models (trunks to Mixed_5c + classifiers) and serving functions."""

    def __init__(self, trunks, classifiers, label_map):
        super().__init__()
        self.trunks = trunks
        self.classifiers = classifiers  # {stream: (w, b)}
        self.class_names_file = tf.saved_model.Asset(label_map)
        # One traced network per stream, called by every signature that needs it.
        self.forward = {
            s: tf.function(self._forward(s), input_signature=[_spec(CHANNELS[s], s)])
            for s in trunks
        }

    def _forward(self, stream):
        def forward(x):
            mixed_5c, _ = self.trunks[stream](_check_clip(x, stream), is_training=False)
            logits = clamped_logits(mixed_5c, *self.classifiers[stream])
            return logits, tf.reduce_mean(mixed_5c, axis=(1, 2, 3))

        return forward

    def _stream(self, stream, x):
        return self.forward[stream](x)

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
        rgb_logits, rgb_features = self._stream('rgb', rgb)
        flow_logits, flow_features = self._stream('flow', flow)
        features = tf.concat([rgb_features, flow_features], axis=-1)
        return self._outputs(rgb_logits + flow_logits, features)

    def rgb_0_1(self, rgb):
        outputs = self.rgb(rgb * 2.0 - 1.0)
        return outputs | {'default': outputs['logits']}

    def class_names(self):
        text = tf.strings.strip(tf.io.read_file(self.class_names_file))
        lines = tf.strings.strip(tf.strings.split(text, '\n'))
        return {'class_names': tf.boolean_mask(lines, tf.strings.length(lines) > 0)}


def build(checkpoints, label_map):
    """(module, {signature name: concrete function}) for the given streams.

    Raises:
      ValueError: on a checkpoint problem or a label map of the wrong length.
    """
    trunks, classifiers, classes = {}, {}, set()
    for stream, path in checkpoints.items():
        model, channels = model_io.load(path)
        if channels != CHANNELS[stream]:
            raise ValueError(f'{path}: a {channels}-channel model cannot be the {stream} stream')
        classes.add(model.num_classes)
        classifiers[stream] = tuple(tf.Variable(v) for v in model.logits_variables)
        trunks[stream], _ = model_io.load(path, final_endpoint='Mixed_5c')
    labels = label_maps.read(label_map)
    if classes != {len(labels)}:
        raise ValueError(
            f'{label_map}: {len(labels)} names for models of {sorted(classes)} classes'
        )
    module = I3DExport(trunks, classifiers, label_map)
    signatures = {}
    for stream in checkpoints:
        fn = tf.function(getattr(module, stream), input_signature=[_spec(CHANNELS[stream], stream)])
        signatures[stream] = fn.get_concrete_function()
    if 'rgb' in checkpoints:
        fn = tf.function(module.rgb_0_1, input_signature=[_spec(3, 'rgb')])
        signatures['rgb_0_1'] = signatures['default'] = fn.get_concrete_function()
    if len(checkpoints) == 2:
        fn = tf.function(module.joint, input_signature=[_spec(3, 'rgb'), _spec(2, 'flow')])
        signatures['joint'] = fn.get_concrete_function()
    signatures['class_names'] = tf.function(module.class_names, input_signature=[])
    signatures['class_names'] = signatures['class_names'].get_concrete_function()
    signatures['serving_default'] = signatures.get('joint', signatures.get('rgb'))
    if signatures['serving_default'] is None:
        del signatures['serving_default']
    return module, signatures


def export(module, signatures, output, overwrite=False):
    """Saves to a temporary folder, then renames it to `output` (never half a SavedModel)."""
    if os.path.exists(output) and not overwrite:
        raise ValueError(f'{output}: exists (pass --overwrite to replace it)')
    tmp = files.temporary_name(output.rstrip('/'))
    tf.saved_model.save(module, tmp, signatures=signatures)
    if os.path.exists(output):
        shutil.rmtree(output)
    os.replace(tmp, output)
    return output
