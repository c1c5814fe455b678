"""TV-L1 optical flow as in the paper, and its storage quantization.

Flow is computed between consecutive 25 fps frames (T frames -> T-1 fields) on the
grayscale image with OpenCV's DualTVL1 at its default parameters, then truncated to
[-20, 20] pixels and rescaled to [-1, 1] for the network. Channel 0 is the horizontal
(x) and channel 1 the vertical (y) displacement, in OpenCV's convention:
prev(y, x) ~= next(y + flow_y, x + flow_x).
"""

import cv2
import numpy as np

FLOW_BOUND = 20.0  # Paper: pixel values truncated to the range [-20, 20].


def _tvl1():
    # Default parameters, as in the paper (tau 0.25, lambda 0.15, theta 0.3, ...).
    return cv2.optflow.DualTVL1OpticalFlow_create()


def to_gray(frame):
    """RGB uint8 frame -> grayscale uint8."""
    return cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)


class PairwiseFlow:
    """TV-L1 flow of a stream of frames, fed one frame at a time.

    `push(frame)` returns the flow from the previous frame to this one (None for the
    first). Holds one grayscale frame, so long videos fit in memory.
    """

    def __init__(self):
        self._algorithm = _tvl1()
        self._prev = None

    def push(self, frame):
        """RGB uint8 frame -> float32 [H, W, 2] (x, y) flow from the previous one, or None."""
        gray = to_gray(frame)
        field = None if self._prev is None else self._algorithm.calc(self._prev, gray, None)
        self._prev = gray
        return field


def iter_flow(frames):
    """Yields TV-L1 flow [H, W, 2] float32 (x, y) between consecutive RGB uint8 frames."""
    pairwise = PairwiseFlow()
    for frame in frames:
        field = pairwise.push(frame)
        if field is not None:
            yield field


def tvl1_flow(frames, on_pair=None):
    """Flow between consecutive RGB uint8 frames [T, H, W, 3] -> float32 [T-1, H, W, 2].

    Args:
      frames: RGB uint8 frames.
      on_pair: optional callable invoked once per computed pair (e.g. a bar update).
    """
    out = np.empty((max(0, len(frames) - 1), *frames.shape[1:3], 2), np.float32)
    for i, field in enumerate(iter_flow(frames)):
        out[i] = field
        if on_pair:
            on_pair()
    return out


def flow_to_model_input(flow):
    """Pixel flow -> network input: truncated to [-20, 20], scaled to [-1, 1]."""
    return np.clip(flow, -FLOW_BOUND, FLOW_BOUND) / FLOW_BOUND


def quantize(flow):
    """Pixel flow -> uint8, 256 levels over [-20, 20] (Google's released pipeline).

    0 maps to -20 px and 255 to +20 px; the step is 40/255 ~ 0.157 px, so the
    dequantized value is within 0.0785 px of the truncated flow.
    """
    scaled = (np.clip(flow, -FLOW_BOUND, FLOW_BOUND) + FLOW_BOUND) * (255.0 / (2 * FLOW_BOUND))
    return np.round(scaled).astype(np.uint8)


def dequantize(quantized):
    """Levels from `quantize` -> pixel flow in [-20, 20].

    Takes a uint8 numpy array, or a float tensor of levels (so tf.data readers share it).
    """
    if isinstance(quantized, np.ndarray):
        quantized = quantized.astype(np.float32)
    return quantized * (2 * FLOW_BOUND / 255.0) - FLOW_BOUND
