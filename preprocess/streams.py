"""What differs between the RGB and the flow stream: one small record each.

Every stage asks the record instead of testing the stream's name: the shard key and
decoder of its frames, how its pixels become network input (numpy for inference, TF for
the tf.data readers), how many frames it has in a stretch of video, what a left-right
flip does to it, the dtype its pixels are kept in, and the paper's training schedule.
`train_rgb.py` and `train_flow.py` only pass one of these to `training.loop`.

Light on purpose (no TensorFlow import): the pool's decoding workers use it too.
"""

import contextlib
import dataclasses
from collections.abc import Callable

import numpy as np

from preprocess import flow as flow_lib
from preprocess import video


def _decode_rgb(encoded, frame_shape=None):
    from preprocess import schema  # TensorFlow: only where a shard is read

    del frame_shape  # an RGB frame carries its size
    return schema.decode_rgb(encoded)


def _decode_flow(encoded, frame_shape=None):
    from preprocess import schema

    return schema.decode_flow(encoded, frame_shape)


def _rgb_of_video(frames, threads=None):
    del threads  # nothing to compute: the decoded frames are the RGB stream's pixels
    return iter(frames)


def _flow_of_video(frames, threads=None):
    # TV-L1 from the previous frame (None at the first), `threads` pairs at once.
    with contextlib.closing(flow_lib.fields(frames, threads)) as pairs:
        for _, field in pairs:
            yield field


def _rgb_picture(model_input):
    # Undoes `video.rgb_to_model_input`: the frames the network sees.
    return np.round((np.clip(model_input, -1.0, 1.0) + 1.0) * (255.0 / 2.0)).astype(np.uint8)


def _flow_picture(model_input):
    from common import pictures

    # Undoes `flow.flow_to_model_input` (back to pixels, +-20), on the colour wheel.
    bound = flow_lib.FLOW_BOUND
    return pictures.flow_to_rgb(np.asarray(model_input) * bound, bound)


def _rgb_to_model_input_tf(frames):
    import tensorflow as tf

    return tf.cast(frames, tf.float32) * (2.0 / 255.0) - 1.0


def _flow_to_model_input_tf(flow):
    import tensorflow as tf

    # Already truncated to [-20, 20] by the shard writer's quantization; clipped again so
    # that any pixel flow gives the network's range.
    bound = flow_lib.FLOW_BOUND
    return tf.clip_by_value(flow, -bound, bound) / bound


@dataclasses.dataclass(frozen=True)
class Stream:
    """A stream of the two-stream network.

    Attributes:
      name: 'rgb' or 'flow' (flag values, output names, checkpoint folders).
      channels: input channels of the network (3 RGB, 2 flow x/y).
      encoded_key: key of `preprocess.schema.parse_encoded` holding its frames.
      pixel_dtype: dtype of its pixels before scaling (RGB uint8 levels, flow float32
        pixel displacements), as decoded and as kept in extract_features' work files.
      frame_lag: frames of video per model frame minus one: flow field t needs video
        frames t and t+1, so a video of T frames gives T - 1 flow fields.
      negate_x_on_flip: a left-right flip also negates channel 0 (flow x).
      derived: computed from the decoded video (TV-L1 flow: the slow part), not decoded.
      scaling: how its pixels become network input, in words (for warnings).
      sample_gif: (scale, offset) from DeepMind's sample GIFs (pixels in [0, 1], RGB
        stored as (x + 1) / 2, flow as f + 0.5 with a zero third channel) to network input.
      train_steps: the paper's training length (DeepMind's README).
      lr_boundaries: steps where the learning rate drops 10x (paper schedule).
      numpy_input, tf_input, decoder: see `model_input`, `to_model_input`, `decode`.
      of_video: see `from_video`.
      picture_of: see `picture`.
    """

    name: str
    channels: int
    encoded_key: str
    pixel_dtype: type
    frame_lag: int
    negate_x_on_flip: bool
    derived: bool
    scaling: str
    sample_gif: tuple[float, float]
    train_steps: int
    lr_boundaries: tuple[int, ...]
    numpy_input: Callable = dataclasses.field(repr=False)
    tf_input: Callable = dataclasses.field(repr=False)
    decoder: Callable = dataclasses.field(repr=False)
    of_video: Callable = dataclasses.field(repr=False)
    picture_of: Callable = dataclasses.field(repr=False)

    def frames_in(self, video_frames):
        """Frames of this stream in `video_frames` frames of video (flow: one fewer).

        The one rule of every frame cap (`evaluate.py --max_frames`, training's
        `--eval_max_frames`, `evaluate_sample.py`, the shard readers): a cap counts frames
        of video, so both streams of a two-stream prediction see the same stretch.
        """
        return max(video_frames - self.frame_lag, 0)

    def model_input(self, pixels):
        """Pixels (numpy, `pixel_dtype`) -> float32 network input in [-1, 1]."""
        return self.numpy_input(pixels)

    def picture(self, model_input):
        """Network input (numpy [..., H, W, channels]) -> uint8 RGB pictures of it: RGB as
        the frames the network sees, flow on the colour wheel (`pictures.flow_to_rgb`)."""
        return self.picture_of(model_input)

    def from_video(self, frames, threads=None):
        """A video's decoded RGB frames (an iterator, read in order) -> an iterator of this
        stream's pixels, one per frame (None where it has none: flow starts at the second).

        Args:
          frames: iterable of RGB uint8 frames [H, W, 3].
          threads: for a derived stream (flow), frames computed at once (None: the
            process's `preprocess.flow.cores()`); it reads up to 2 x threads frames ahead.
        """
        return self.of_video(frames, threads)

    def to_model_input(self, frames):
        """Decoded frames (a tensor) -> float32 network input in [-1, 1], in the graph."""
        return self.tf_input(frames)

    def decode(self, encoded, frame_shape=None):
        """Encoded shard frames (string [N] tensor) -> pixels [N, H, W, channels] (TF).

        Args:
          encoded: the stream's `encoded_key` entries.
          frame_shape: (height, width) given to an empty result (flow of a 1-frame video).
        """
        return self.decoder(encoded, frame_shape)

    def flip(self, clip):
        """Left-right flip of a [..., T, H, W, C] clip; flow x changes sign."""
        import tensorflow as tf

        flipped = tf.reverse(clip, axis=[-2])
        if self.negate_x_on_flip:
            flipped = tf.concat([-flipped[..., :1], flipped[..., 1:]], axis=-1)
        return flipped


# DeepMind's schedule (README / paper): RGB 115k steps, learning rate /10 at 97k and 108k.
# Flow trained 155k steps; its drop points were not published, so RGB's are kept.
RGB = Stream(
    name='rgb',
    channels=3,
    encoded_key='rgb_encoded',
    pixel_dtype=np.uint8,
    frame_lag=0,
    negate_x_on_flip=False,
    derived=False,
    scaling='x / 127.5 - 1 for pixels x',
    sample_gif=(2.0, -1.0),
    train_steps=115_000,
    lr_boundaries=(97_000, 108_000),
    numpy_input=video.rgb_to_model_input,
    tf_input=_rgb_to_model_input_tf,
    decoder=_decode_rgb,
    of_video=_rgb_of_video,
    picture_of=_rgb_picture,
)
FLOW = Stream(
    name='flow',
    channels=2,
    encoded_key='flow_encoded',
    pixel_dtype=np.float32,
    frame_lag=1,
    negate_x_on_flip=True,
    derived=True,
    scaling='pixel flow / 20, truncated',
    sample_gif=(1.0, -0.5),
    train_steps=155_000,
    lr_boundaries=(97_000, 108_000),
    numpy_input=flow_lib.flow_to_model_input,
    tf_input=_flow_to_model_input_tf,
    decoder=_decode_flow,
    of_video=_flow_of_video,
    picture_of=_flow_picture,
)
STREAMS = {s.name: s for s in (RGB, FLOW)}


def of_channels(channels):
    """The stream whose network takes `channels` input channels, or None."""
    return next((s for s in STREAMS.values() if s.channels == channels), None)


def parse(names, flag='--streams'):
    """Stream names (e.g. a list flag) -> their records, in the order given.

    Raises:
      ValueError: naming `flag`, for an unknown, repeated or missing stream.
    """
    names = tuple(names)
    if not names or set(names) - set(STREAMS) or len(set(names)) < len(names):
        raise ValueError(f'{flag}: rgb, flow or rgb,flow, not {",".join(names)}')
    return tuple(STREAMS[n] for n in names)
