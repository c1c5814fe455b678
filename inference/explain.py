"""Grad-CAM (Selvaraju et al. 2017) of I3D on whole clips, in bounded memory.

For a class c and an endpoint A (Mixed_5c by default, Mixed_4f for twice the resolution),
the heat is relu(sum_k alpha_k A_k) with alpha_k the mean over (t, h, w) of
d logit_c / d A_k, upsampled in time and space to the input and scaled by its maximum
over the clip (1 = the hottest place of the whole clip; an all-zero map stays zero).

Whole videos go through the chunks of `inference.whole_video` (Mixed_5c's plan): the
logit of the whole clip is the Logits pool's weighted sum of Mixed_5c steps, so chunk i
owns the logit's share of its kept Mixed_5c steps; the gradient of that share, inside
the chunk, is exact (kept steps see no chunk edge), and the shares' gradients sum to the
whole clip's. Endpoint activations are kept for the endpoint steps under the kept
Mixed_5c steps, which are exact for the same reason. The network input is spooled to a
temporary raw file on disk (the chunks are read twice, and flow is too slow to compute
twice), and so are the kept activations; both are read and written by explicit calls,
never memory-mapped (a mapping's touched pages count as the process's memory and would
grow with the video), so memory stays bounded; disk use is the input's size (~0.6 MB per
224x224 RGB frame) plus the endpoint's (Mixed_5c: 25 kB per frame).
"""

import os
import shutil
import tempfile

import cv2
import numpy as np
import tensorflow as tf

from common import files
from inference import whole_video
from preprocess import streams, video

# Backward passes keep every activation of a chunk: ~3x the forward's ~9 MB per frame.
DEFAULT_CHUNK_FRAMES = 160
MAX_GIF_FRAMES = 1000  # PIL holds a GIF's frames in memory; an MP4 is streamed


def check_endpoint(net, endpoint):
    """Raises ValueError unless `endpoint` of the network `net` (class or model) has a
    spatio-temporal grid (I3D: up to Mixed_5c)."""
    if endpoint not in whole_video.grid_endpoints(net):
        raise ValueError(
            f'--explain_endpoint: {endpoint!r} is not one of '
            + ', '.join(whole_video.grid_endpoints(net))
        )


def resolve_class(value, labels):
    """A class index from `--explain_class` (an index or a class name); None stays None.

    Raises:
      ValueError: an index out of range or an unknown name.
    """
    if value is None or value == '':
        return None
    text = str(value).strip()
    if text.lstrip('-').isdigit():
        index = int(text)
        if not 0 <= index < len(labels):
            raise ValueError(f'--explain_class: {index} is not in [0, {len(labels) - 1}]')
        return index
    if text not in labels:
        raise ValueError(f'--explain_class: {text!r} is not a class of the label map')
    return list(labels).index(text)


def _step_weights(model, total_steps, keep_from, keep_to, local_start, local_steps):
    """The weight of each feature endpoint step of a chunk in the whole clip's classifier
    input (`time_weights`); zero outside the chunk's kept steps (other chunks own them)."""
    weights = np.asarray(model.time_weights(total_steps))
    out = np.zeros(local_steps, np.float32)
    out[keep_from - local_start : keep_to - local_start] = weights[keep_from:keep_to]
    return out


def chunk_gradients(model, clip, class_index, step_weights, endpoint=None):
    """The endpoint's activations and d(share of logit `class_index`)/d(activations).

    The share is `model.classifier_input` with time weights `step_weights` (the clip's own
    `model.time_weights` for a whole clip), times the classifier's column: the logit
    without its bias when the clip is one chunk.

    Args:
      model: a network of the zoo through its classifier (e.g. `i3d.InceptionI3d`),
        called as `model(x, is_training=False)`.
      clip: float32 [1, T, H, W, C].
      class_index: int (a Python int or an int32 scalar tensor).
      step_weights: float32 [T at the feature endpoint].
      endpoint: whose activations (default the feature endpoint).

    Returns:
      (activations, gradients), float32 [1, T_e, H_e, W_e, C_e] each.
    """
    with tf.GradientTape() as tape:
        tape.watch(clip)
        _, points = model(clip, is_training=False)
        activations = points[endpoint or model.FEATURE_ENDPOINT]
        features = model.classifier_input(points[model.FEATURE_ENDPOINT], step_weights)
        w, _ = model.logits_variables
        column = tf.gather(tf.reshape(w, [w.shape[-2], w.shape[-1]]), class_index, axis=1)
        share = tf.reduce_sum(features * column[None])
    gradients = tape.gradient(share, activations)
    return tf.cast(activations, tf.float32), tf.cast(gradients, tf.float32)


class GradCam:
    """Grad-CAM of one model on whole clips (its traced function is reused across chunks).

    Args:
      model: a network of the zoo through its classifier (e.g. `i3d.InceptionI3d`).
      endpoint: the layer explained (one with a temporal grid; default the feature
        endpoint, I3D's Mixed_5c).
      chunk_frames: frames per forward + backward pass (memory grows with it).
    """

    def __init__(self, model, endpoint=None, chunk_frames=DEFAULT_CHUNK_FRAMES):
        endpoint = endpoint or model.FEATURE_ENDPOINT
        check_endpoint(model, endpoint)
        self._model = model
        self._endpoint = endpoint
        self._chunk_frames = chunk_frames
        self._geo = whole_video.geometry(model, endpoint)
        self._geo_f = whole_video.geometry(model)  # the feature endpoint's: the chunk plan
        channels = model.input_channels
        self._traced = tf.function(
            lambda x, c, t: chunk_gradients(model, x, c, t, endpoint),
            input_signature=[
                tf.TensorSpec([1, None, None, None, channels], tf.float32),
                tf.TensorSpec([], tf.int32),
                tf.TensorSpec([None], tf.float32),
            ],
        )

    def steps(self, clip, class_index, folder):
        """relu(sum_k alpha_k A_k) on the endpoint's grid, for a whole clip.

        Args:
          clip: float32 [T, H, W, C], sliceable by rows (a numpy array or a files.RawArray).
          class_index: int.
          folder: where the endpoint's kept activations are spooled.

        Returns:
          float32 [T_e, H_e, W_e], >= 0 (in memory: 4 bytes per cell of the grid).
        """
        total = len(clip)
        chunks = whole_video.plan_chunks(total, self._chunk_frames, self._geo_f)
        ratio = self._geo_f.stride // self._geo.stride
        steps_f = self._geo_f.output_length(total)
        steps = self._geo.output_length(total)
        kept, alpha_sum, count = None, 0.0, 0
        for chunk in chunks:
            x = tf.constant(np.asarray(clip[chunk.start : chunk.end], np.float32)[None])
            local_f = chunk.start // self._geo_f.stride
            local_steps = self._geo_f.output_length(chunk.end - chunk.start)
            weights = _step_weights(
                self._model, steps_f, chunk.keep_from, chunk.keep_to, local_f, local_steps
            )
            acts, grads = self._traced(x, tf.constant(class_index, tf.int32), tf.constant(weights))
            grads = grads.numpy()[0]
            alpha_sum = alpha_sum + grads.sum(axis=(0, 1, 2))  # partial sums add up exactly
            count = grads.shape[1] * grads.shape[2]
            local = chunk.start // self._geo.stride
            lo, hi = chunk.keep_from * ratio, min(chunk.keep_to * ratio, steps)
            acts = acts.numpy()[0, lo - local : hi - local]
            if kept is None:
                path = os.path.join(folder, 'activations.raw')
                kept = files.RawArray(path, (steps, *acts.shape[1:]), create=True)
            kept[lo:hi] = acts
        alpha = (alpha_sum / (count * steps)).astype(np.float32)
        cam = np.zeros(kept.shape[:3], np.float32)
        for start in range(0, steps, 64):  # bounded memory
            cam[start : start + 64] = np.maximum(kept[start : start + 64] @ alpha, 0.0)
        kept.close()
        return cam

    @property
    def stride(self):
        """Input frames per endpoint time step."""
        return self._geo.stride


def frame_heat(cam, stride, index, size, scale):
    """The heat of input frame `index`: `cam` interpolated in time (step t centred on
    frames [stride * t, stride * (t + 1))), resized bilinearly to `size` (H, W), / scale.

    Returns:
      float32 [H, W] in [0, 1] (all zero when `scale` is 0).
    """
    position = (index - (stride - 1) / 2.0) / stride
    position = min(max(position, 0.0), len(cam) - 1.0)
    low = int(np.floor(position))
    high = min(low + 1, len(cam) - 1)
    frac = position - low
    step = (1.0 - frac) * np.asarray(cam[low]) + frac * np.asarray(cam[high])
    height, width = size
    heat = cv2.resize(step.astype(np.float32), (width, height), interpolation=cv2.INTER_LINEAR)
    if scale <= 0:
        return np.zeros((height, width), np.float32)
    return np.clip(heat / scale, 0.0, 1.0)


def heat_map(cam, stride, size, frames):
    """Every frame's heat as one float32 [frames, H, W] array (for short clips and tests)."""
    scale = float(np.max(cam)) if cam.size else 0.0
    return np.stack([frame_heat(cam, stride, k, size, scale) for k in range(frames)])


def spool(frames, total, path):
    """Writes `total` frames from an iterator to a raw float32 file; returns it (a files.RawArray).

    Raises:
      ValueError: if the iterator yields another number of frames.
    """
    out = None
    got = 0
    for frame in frames:
        frame = np.asarray(frame, np.float32)
        if got >= total:
            raise ValueError(f'expected {total} frames, got more')
        if out is None:
            out = files.RawArray(path, (total, *frame.shape), create=True)
        out[got : got + 1] = frame[None]
        got += 1
    if got != total or out is None:
        raise ValueError(f'expected {total} frames, got {got}')
    return out


def caption_lines(k, count, endpoint, name, index, width):
    """(lines, font scale) of frame `k`'s caption, `width` pixels wide: the frame, its time,
    the layer and the class explained, whole.

    One line when it fits every frame's (the last frame's number is the widest), else the
    frame, time and layer on a first line and the class below, shrunk or wrapped
    (`pictures.fit_text`): the same lines and scale for every frame of a video, so that all
    frames have one size.
    """
    from common import pictures

    head = f'{k}/{count} {k / video.FPS:.2f}s {endpoint}'
    widest = f'{count - 1}/{count} {(count - 1) / video.FPS:.2f}s {endpoint}'
    label = f'{name} ({index})'
    if pictures.text_fits(f'{widest} {label}', width):
        return [f'{head} {label}'], pictures.FONT_SCALE
    lines, scale = pictures.fit_text(label, width)
    return [head, *lines], scale


def _frames(clips, heats, endpoint, name, index):
    """Captioned uint8 frames: each stream's input (RGB as is, flow on the colour wheel of
    `preprocess.show`) under its heat, side by side, one frame at a time."""
    from common import pictures
    from preprocess import show

    order = [s for s in streams.STREAMS if s in clips]
    count = max(len(clips[s]) for s in order)
    height, width = clips[order[0]].shape[1:3]
    scales = {s: float(np.max(heats[s][0])) for s in order}
    for k in range(count):
        row = []
        for s in order:
            if k >= len(clips[s]):  # flow ends one frame before RGB
                row.append(np.full((height, width, 3), 64, np.uint8))
                continue
            pixels = show.to_pixels({s: np.asarray(clips[s][k : k + 1])})[s][0]
            cam, stride = heats[s]
            heat = frame_heat(cam, stride, k, pixels.shape[:2], scales[s])
            row.append(pictures.heat_overlay(pixels, heat))
        lines, scale = caption_lines(k, count, endpoint, name, index, width * len(order))
        bar = pictures.caption(lines, width * len(order), scale=scale)
        yield np.concatenate([np.concatenate(row, axis=1), bar], axis=0)


def _check_disk(folder, inputs):
    """Refuses before any work when the spooled input could not fit on `folder`'s disk."""
    free = shutil.disk_usage(folder).free
    # An upper bound without decoding: 224 x 224 per frame after the centre crop.
    need = sum(count * 224 * 224 * 3 * 4 * 2 for count, _ in inputs.values())
    if need > free:
        raise ValueError(
            f'{folder}: {need / 1e9:.1f} GB needed for the spooled input, {free / 1e9:.1f} GB free'
        )


def check_request(output):
    """The cheap checks of an explanation (before any checkpoint or video is read).

    Raises:
      ValueError: an output that cannot be written.
    """
    from common import pictures

    pictures.check_animation_path(output)


def explain(models, inputs, output, labels, class_index=None, endpoint=None):
    """Classifies a clip and writes the Grad-CAM of a class overlaid on its input.

    Args:
      models: {stream: model through its classifier}.
      inputs: {stream: (frame count, iterator of network input frames)}, e.g. from
        `preprocess.clip_input.clip_inputs`.
      output: the .mp4 or .gif to write.
      labels: class names (for the caption).
      class_index: the class explained; None: the top class of the (summed) logits.
      endpoint: the layer explained (default the networks' feature endpoint).

    Returns:
      (logits summed over the streams, the class explained).

    Raises:
      ValueError: a bad endpoint, output or frame count.
    """
    from common import pictures

    check_request(output)
    for model in models.values():  # before any frame is read
        endpoint = endpoint or model.FEATURE_ENDPOINT
        check_endpoint(model, endpoint)
    longest = max(count for count, _ in inputs.values())
    if output.lower().endswith('.gif') and longest > MAX_GIF_FRAMES:
        raise ValueError(
            f'{output}: a GIF of {longest} frames is built in memory; '
            f'write an .mp4 (at most {MAX_GIF_FRAMES} frames in a GIF)'
        )
    folder = tempfile.mkdtemp(prefix='i3d_explain_')
    clips, logits = {}, None
    try:
        _check_disk(folder, inputs)
        for stream, model in models.items():
            count, frames = inputs[stream]
            clips[stream] = spool(frames, count, os.path.join(folder, f'{stream}.raw'))
            result = whole_video.Runner(model)(clips[stream].frames(), count)
            logits = result.logits if logits is None else logits + result.logits
        if class_index is None:
            class_index = int(np.argmax(logits))
        heats = {}
        for stream, model in models.items():
            sub = os.path.join(folder, stream)
            os.mkdir(sub)
            cam = GradCam(model, endpoint)
            heats[stream] = (cam.steps(clips[stream], class_index, sub), cam.stride)
        frames = _frames(clips, heats, endpoint, labels[class_index], class_index)
        pictures.write_animation(output, frames, video.FPS)
    finally:
        for spooled in clips.values():
            spooled.close()
        shutil.rmtree(folder, ignore_errors=True)
    return logits, class_index
