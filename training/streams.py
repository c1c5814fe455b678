"""What differs between the RGB and the flow stream: one small record each.

`train_rgb.py` and `train_flow.py` only pass one of these to `training.loop`.
"""

import dataclasses

import tensorflow as tf

from preprocess import flow as flow_lib


@dataclasses.dataclass(frozen=True)
class Stream:
    """A stream of the two-stream network.

    Attributes:
      name: 'rgb' or 'flow'.
      channels: input channels of the network (3 RGB, 2 flow x/y).
      encoded_key: key of `preprocess.schema.parse_encoded` holding its frames.
      negate_x_on_flip: a left-right flip also negates channel 0 (flow x).
      frame_lag: frames of video per model frame minus one: flow field t needs video
        frames t and t+1, so a video of T frames gives T - 1 flow fields.
      train_steps: the paper's training length (DeepMind's README).
      lr_boundaries: steps where the learning rate drops 10x (paper schedule).
    """

    name: str
    channels: int
    encoded_key: str
    negate_x_on_flip: bool
    frame_lag: int
    train_steps: int
    lr_boundaries: tuple[int, ...]

    def to_model_input(self, frames):
        """Decoded frames -> network input in [-1, 1] (float32).

        RGB uint8 is rescaled; flow (pixels, already truncated to [-20, 20] by the
        shard writer's quantization) is divided by 20 as in the paper.
        """
        if self.name == 'rgb':
            return tf.cast(frames, tf.float32) * (2.0 / 255.0) - 1.0
        return tf.clip_by_value(frames, -flow_lib.FLOW_BOUND, flow_lib.FLOW_BOUND) / (
            flow_lib.FLOW_BOUND
        )

    def flip(self, clip):
        """Left-right flip of a [..., T, H, W, C] clip; flow x changes sign."""
        flipped = tf.reverse(clip, axis=[-2])
        if self.negate_x_on_flip:
            flipped = tf.concat([-flipped[..., :1], flipped[..., 1:]], axis=-1)
        return flipped


# DeepMind's schedule (README / paper): RGB 115k steps, learning rate /10 at 97k and 108k.
# Flow trained 155k steps; its drop points were not published, so RGB's are kept.
RGB = Stream('rgb', 3, 'rgb_encoded', False, 0, 115_000, (97_000, 108_000))
FLOW = Stream('flow', 2, 'flow_encoded', True, 1, 155_000, (97_000, 108_000))
STREAMS = {s.name: s for s in (RGB, FLOW)}
