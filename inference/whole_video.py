"""Exact whole-video I3D inference in bounded memory: overlapping temporal chunks, stitched.

A single pass over a long video needs ~9 MB per frame. Here the frames stream in and the
network runs on chunks of at most `chunk_frames` frames; the chunks overlap by the
network's temporal receptive field and start on multiples of its temporal stride, so the
stitched endpoint (e.g. Mixed_5c) equals one pass over the whole clip, and so do the
features (the classifier's input, `i3d.classifier_input`) and the logits, which are reduced
chunk by chunk (the Logits layer is an average pool over pairs of time steps, an affine
1x1x1 conv and a mean over time: a weighted mean of per-piece pools, then the conv).

Why chunks must know the clip length: every convolution and pool uses SAME padding, and
with stride 2 the padding before the clip (Conv3d_1a: 2 or 3 frames; MaxPool3d_4a: 0 or
1) depends on the length's parity. Chunks whose length is congruent to the clip's modulo
the stride (8 at Mixed_5c) pad exactly as the whole clip does, so their outputs sit on the
same grid; outputs whose receptive field crosses a chunk edge (that is not the clip's own
edge) differ, and are discarded: `geometry` derives that margin from the network's temporal
layers (`temporal_layers`, zoo.py; I3D's Mixed_5c: 47 frames before, 54 after).
"""

import dataclasses
import math
from collections.abc import Iterable

import numpy as np
import tensorflow as tf

import zoo

DEFAULT_CHUNK_FRAMES = zoo.DEFAULT_CHUNK_FRAMES


@dataclasses.dataclass(frozen=True)
class Geometry:
    """Temporal receptive field of an endpoint: output t reads input frames
    [stride * t - before, stride * t + after] (worst case over the clip length's residue)."""

    stride: int
    before: int
    after: int
    endpoint: str = dataclasses.field(default='', compare=False)  # whose (for messages)

    @property
    def lead(self) -> int:
        """Outputs at the start of a chunk that may see its (artificial) left edge."""
        return math.ceil(self.before / self.stride)

    @property
    def min_chunk_frames(self) -> int:
        """Shortest chunk that still keeps one exact output."""
        return self.stride * self.lead + self.after + self.stride

    def output_length(self, frames):
        """Time steps of the endpoint for a clip of `frames` frames (SAME: a ceil at each
        stride, which compose into one)."""
        return -(-frames // self.stride)


def _same_pad_before(kernel, stride, length):
    """Padding TensorFlow's SAME adds before an input of `length` frames."""
    remainder = length % stride
    total = max(kernel - (stride if remainder == 0 else remainder), 0)
    return total // 2


def grid_endpoints(net):
    """The endpoints of a network (class or model) with a temporal grid, in order: those
    up to its feature endpoint (the classifier's input)."""
    endpoints = net.VALID_ENDPOINTS
    return endpoints[: endpoints.index(net.FEATURE_ENDPOINT) + 1]


def geometry(net, endpoint=None):
    """The temporal stride and receptive field of `endpoint` of a network (class or
    model; default its feature endpoint), from its `temporal_layers`.

    Raises:
      ValueError: for an endpoint without a temporal grid (e.g. Logits, which mixes all
        time steps).
    """
    endpoint = endpoint or net.FEATURE_ENDPOINT
    if endpoint not in grid_endpoints(net):
        raise ValueError(f'no temporal grid after {net.FEATURE_ENDPOINT}: {endpoint!r}')
    stride, before, after = 1, 0, 0
    for kernel, step in net.temporal_layers(endpoint):
        pads = [_same_pad_before(kernel, step, residue) for residue in range(step)]
        before += stride * max(pads)
        after += stride * (kernel - 1 - min(pads))
        stride *= step
    return Geometry(stride, before, after, endpoint)


@dataclasses.dataclass(frozen=True)
class Chunk:
    """Input frames [start, end) give the endpoint's outputs [keep_from, keep_to) (global)."""

    start: int
    end: int
    keep_from: int
    keep_to: int


def chunk_table(total_frames, chunk_frames, geo):
    """The chunk plan as an int32 [chunks, 4] tensor of rows (start, end, keep_from, keep_to).

    The one definition of the plan: `plan_chunks` evaluates it eagerly for `Runner`, and the
    SavedModel export (inference/saved_model.py) inside its graph, where the clip length is
    only known at run time (so TF ops, not Python's `if`/`min`). Closed form: every chunk
    but the last has the same `length` (the largest <= chunk_frames that pads like the
    clip) and keeps `step` outputs, so chunk i starts at stride * step * i.

    Args:
      total_frames: the clip's frame count (a Python int or an int32 scalar tensor).
      chunk_frames: a Python int, at least the endpoint's `min_chunk_frames` unless the clip
        fits in one chunk (checked by the callers: the graph cannot raise a ValueError).
      geo: the `geometry` of the endpoint whose outputs are stitched.
    """
    total = tf.convert_to_tensor(total_frames, tf.int32)
    outputs = (total + geo.stride - 1) // geo.stride
    length = chunk_frames - (chunk_frames - total % geo.stride) % geo.stride  # pads like the clip
    exact = (length - 1 - geo.after) // geo.stride + 1  # exact outputs from a chunk's start
    step = tf.maximum(exact - geo.lead, 1)  # outputs kept by every chunk but the first/last
    advance = geo.stride * step
    count = tf.where(total <= chunk_frames, 1, 1 + (total - length + advance - 1) // advance)
    index = tf.range(count)
    start = advance * index
    keep_from = tf.where(index == 0, 0, step * index + geo.lead)
    keep_to = tf.where(index == count - 1, outputs, step * (index + 1) + geo.lead)
    return tf.stack([start, tf.minimum(start + length, total), keep_from, keep_to], axis=1)


def check_chunk_frames(chunk_frames, geo):
    """Raises ValueError if chunks of `chunk_frames` frames keep no exact output."""
    least = geo.min_chunk_frames
    if chunk_frames < least:
        raise ValueError(
            f'chunks of {chunk_frames} frames are shorter than the receptive field of '
            f'{geo.endpoint}: use at least {least}'
        )


def plan_chunks(total_frames, chunk_frames, geo):
    """Chunks whose kept outputs tile the endpoint's outputs of the whole clip exactly
    (`chunk_table` as a list; a clip of at most `chunk_frames` frames is one chunk).

    Raises:
      ValueError: if `chunk_frames` is below the network's receptive field.
    """
    if total_frames > chunk_frames:
        check_chunk_frames(chunk_frames, geo)
    rows = chunk_table(total_frames, chunk_frames, geo).numpy()
    return [Chunk(*(int(v) for v in row)) for row in rows]


@dataclasses.dataclass
class Result:
    """Whole-clip outputs: `features` is the classifier's input for the feature endpoint
    (`classifier_input`: logits == features @ w + b), else the endpoint averaged over
    space and time; `steps` the endpoint averaged over space, per time step; `logits` when
    available."""

    features: np.ndarray
    steps: np.ndarray
    logits: np.ndarray | None


def has_logits(model):
    """Whether a model is built through its classifier (`LOGITS_ENDPOINT`)."""
    endpoints = model.VALID_ENDPOINTS
    return endpoints.index(model.final_endpoint) >= endpoints.index(model.LOGITS_ENDPOINT)


def logits_of(model, features):
    """The classifier applied to `classifier_input` features [..., C]: features @ w + b."""
    w, b = (v.numpy() for v in model.logits_variables)
    return features @ w.reshape(w.shape[-2], w.shape[-1]) + b


class Runner:
    """Whole-clip inference with one model (its traced functions are reused across clips).

    Args:
      model: a network of the zoo (e.g. `i3d.InceptionI3d`) built through `endpoint`
        (through its classifier for logits).
      chunk_frames: frames per network call; memory grows with it (I3D: ~9 MB per frame at
        224x224), the recomputed overlap shrinks.
      endpoint: whose outputs are stitched (default the feature endpoint, the classifier's
        input: features and logits).
    """

    def __init__(self, model, chunk_frames=DEFAULT_CHUNK_FRAMES, endpoint=None):
        endpoint = endpoint or model.FEATURE_ENDPOINT
        self._model = model
        self._geometry = geometry(model, endpoint)
        self._chunk_frames = chunk_frames
        spec = tf.TensorSpec([1, None, None, None, model.input_channels], tf.float32)
        # float32 out: the features and logits are reduced in float32 (also for bfloat16).
        self._forward = tf.function(
            lambda x: tf.cast(model(x, is_training=False)[1][endpoint], tf.float32),
            input_signature=[spec],
        )
        self._pooled = endpoint == model.FEATURE_ENDPOINT
        self._logits = self._pooled and has_logits(model)

    def __call__(self, frames: Iterable[np.ndarray], total_frames: int) -> Result:
        """Runs the model over a whole clip streamed frame by frame, in bounded memory.

        Args:
          frames: the clip's network input, one float32 [H, W, C] frame at a time.
          total_frames: how many frames `frames` yields (the padding depends on it).

        Returns:
          Result, equal to one pass of the model over the whole clip (logits when the
          model has its classifier and the endpoint is its feature endpoint).

        Raises:
          ValueError: if `frames` yields another number of frames, or on a bad chunk size.
        """
        if total_frames < 1:
            raise ValueError('the clip has no frames')
        chunks = plan_chunks(total_frames, self._chunk_frames, self._geometry)
        # The classifier's input is a weighted sum over the feature endpoint's time steps:
        # each chunk adds its kept steps' share (their rows of the whole clip's weights).
        weights = self._model.time_weights(self._geometry.output_length(total_frames))
        features = 0.0
        steps, buffer, buffer_start = [], [], 0
        iterator = iter(frames)
        for chunk in chunks:
            del buffer[: chunk.start - buffer_start]  # frames no later chunk needs
            buffer_start = chunk.start
            for frame in iterator:
                buffer.append(np.asarray(frame, np.float32))
                if buffer_start + len(buffer) == chunk.end:
                    break
            got = buffer_start + len(buffer)
            if got < chunk.end:
                raise ValueError(f'expected {total_frames} frames, got {got}')
            out = self._forward(tf.constant(np.stack(buffer[: chunk.end - buffer_start])[None]))
            local = chunk.start // self._geometry.stride
            kept = out[:, chunk.keep_from - local : chunk.keep_to - local].numpy()
            steps.append(kept[0].mean(axis=(1, 2)))
            if self._pooled:
                share = weights[chunk.keep_from : chunk.keep_to]
                features += self._model.classifier_input(tf.constant(kept), share).numpy()[0]
        if next(iterator, None) is not None:
            raise ValueError(f'expected {total_frames} frames, got more')
        steps = np.concatenate(steps)
        if not self._pooled:
            return Result(steps.mean(axis=0), steps, None)
        features = np.asarray(features, np.float32)
        logits = logits_of(self._model, features) if self._logits else None
        return Result(features, steps, logits)


def clip_logits(models, inputs, chunk_frames=DEFAULT_CHUNK_FRAMES):
    """Sum over streams of the whole-clip logits (two-stream fusion), in bounded memory.

    Args:
      models: {stream: model through its classifier}, e.g. from `model_io.load`.
      inputs: {stream: (frame count, iterator of network input frames)}, e.g. from
        `preprocess.clip_input.clip_inputs`.

    Raises:
      ValueError: on a frame count mismatch.
    """
    total = None
    for stream, model in models.items():
        count, frames = inputs[stream]
        logits = Runner(model, chunk_frames)(frames, count).logits
        total = logits if total is None else total + logits
    return total
