"""Video decoding and the paper's RGB preprocessing, used by every tool in the repo.

Frames are decoded with OpenCV, resampled to 25 fps by timestamp (output frame k is the
source frame nearest in time to k/25 s, as in MediaPipe and FFmpeg), resized so the short
side is 256 with bilinear interpolation, and returned as uint8 RGB. The model input is
the 224x224 centre crop (random crop in training) rescaled to [-1, 1].
"""

import math
import os

# FFmpeg's own messages ("moov atom not found", ...) would interleave with progress bars;
# decoding problems are reported by our errors instead. Set it yourself to see them.
os.environ.setdefault('OPENCV_FFMPEG_LOGLEVEL', '-8')

import cv2  # noqa: E402
import numpy as np  # noqa: E402

FPS = 25.0  # Paper: videos are sampled at 25 frames per second.
SHORT_SIDE = 256  # Paper: frames resized so the smaller side is 256 pixels.
CROP_SIZE = 224  # Paper: 224x224 crops (centre crop at test time).
MAX_TEST_FRAMES = 250  # Paper: test on whole videos of up to ~10 s (250 frames at 25 fps).
VIDEO_EXTENSIONS = (
    '.mp4',
    '.avi',
    '.mkv',
    '.webm',
    '.mov',
    '.m4v',
    '.mpg',
    '.mpeg',
    '.flv',
    '.wmv',
)


_EPS = 1e-6  # seconds; timestamps closer than this are equal (float rounding)
SEEK_MARGIN_S = 1.0  # seek this far before a clip's start, then decode forward


class VideoError(ValueError):
    """A video that cannot be used; the message names the file and the problem."""


def check_readable_file(path):
    """Raises VideoError saying why `path` cannot be read as a file, if it cannot."""
    if os.path.isdir(path):
        raise VideoError(f'{path}: is a folder, not a file')
    if not os.path.isfile(path):
        raise VideoError(f'{path}: no such file')
    try:
        with open(path, 'rb') as f:
            f.read(1)
    except OSError as e:
        raise VideoError(f'{path}: cannot read ({e.strerror or e})') from None


def _valid_fps(fps):
    return fps if (fps and math.isfinite(fps) and 0 < fps <= 1000) else None


def open_video(path, start=None):
    """Opens a video for decoding, from about `start` seconds when given.

    Args:
      path: video file.
      start: the caller needs frames from this time on; decoding begins with a seek to
        SEEK_MARGIN_S before it (long Kinetics sources), or at the beginning if the seek
        fails or overshoots.

    Returns:
      (the container's frame rate, or None when its metadata has no valid rate;
       iterator of (timestamp in seconds, BGR uint8 frame) over the decodable frames).
      Timestamps are the container's presentation times; where they are missing or not
      increasing, the previous timestamp plus one nominal frame period is used.

    Raises:
      VideoError: if the file does not exist or OpenCV cannot open it.
    """
    check_readable_file(path)
    cap = cv2.VideoCapture(path)
    if not cap.isOpened():
        cap.release()
        raise VideoError(f'{path}: OpenCV cannot open it as a video')
    fps = _valid_fps(cap.get(cv2.CAP_PROP_FPS))
    period = 1.0 / (fps or FPS)
    if start is not None and start > SEEK_MARGIN_S:
        if cap.set(cv2.CAP_PROP_POS_MSEC, (start - SEEK_MARGIN_S) * 1000.0):
            ok, frame = cap.read()
            ts = cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
            if ok and frame is not None and math.isfinite(ts) and 0 <= ts <= start:
                return fps, _timed_frames(cap, period, first=(ts, frame))
        cap.release()  # no usable seek: decode from the beginning
        cap = cv2.VideoCapture(path)
    return fps, _timed_frames(cap, period)


def _timed_frames(cap, period, first=None):
    try:
        last = None
        if first is not None:
            last = first[0]
            yield first
        while True:
            ok, frame = cap.read()
            if not ok or frame is None:
                return
            ts = cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
            if last is not None and not (math.isfinite(ts) and ts > last):
                ts = last + period
            elif last is None and not (math.isfinite(ts) and ts >= 0):
                ts = 0.0
            last = ts
            yield ts, frame
    finally:
        cap.release()


def _round_half_up(x):
    return math.floor(x + 0.5 + _EPS)


def resample(frames, fps=FPS, start=None, end=None, max_frames=None, last_period=None):
    """Resamples (timestamp, frame) pairs to a constant rate, nearest frame in time.

    Output frame k is the source frame whose timestamp is nearest to origin + k / fps
    (ties go to the later frame), where the origin is `start` (or the first frame's
    time), as MediaPipe's PacketResamplerCalculator and FFmpeg's fps filter do. A clip of
    duration D (last timestamp + the last frame's duration - origin) gives round(D * fps)
    frames: 10 s give 250 frames whatever the source rate.

    Args:
      frames: iterable of (seconds, frame), timestamps increasing.
      fps: output rate.
      start, end: optional clip bounds in seconds.
      max_frames: stop after this many output frames.
      last_period: how long the last frame is shown when it cannot be measured (a
        one-frame video); defaults to one output period.

    Yields:
      frames (the objects passed in, not copies), streaming: at most a few are held.
    """
    step = 1.0 / fps
    limit = math.inf if max_frames is None else max_frames
    origin = prev = prev_ts = None
    period = last_period
    chosen = []  # frames picked for outputs emitted .. emitted + len - 1
    emitted = k = 0
    stopped_at_end = False
    for ts, frame in frames:
        if origin is None:
            origin = ts if start is None else max(start, ts)
        if prev is not None:
            period = ts - prev_ts
            middle = (prev_ts + ts) / 2
            while origin + k * step < middle - _EPS:  # `prev` is the nearer frame
                chosen.append(prev)
                k += 1
            # The clip lasts at least until this frame (or `end`): these outputs exist.
            known = _round_half_up(((ts if end is None else min(ts, end)) - origin) * fps)
            while chosen and emitted < min(known, limit):
                yield chosen.pop(0)
                emitted += 1
            if emitted >= limit:
                return
        prev, prev_ts = frame, ts
        if end is not None and ts >= end - _EPS:
            stopped_at_end = True
            break
    if prev is None:
        return
    clip_end = prev_ts + (period or step)
    if end is not None and (stopped_at_end or end < clip_end):
        clip_end = end
    if clip_end - origin <= _EPS:  # the clip starts after the video ends
        return
    count = min(max(1, _round_half_up((clip_end - origin) * fps)), limit)
    while k < count:  # the last frame is the nearest for all later times
        chosen.append(prev)
        k += 1
    for frame in chosen[: max(0, count - emitted)]:
        yield frame


def resize_short_side(frame, short_side=SHORT_SIDE):
    """Bilinear resize so that min(height, width) == short_side, keeping the aspect."""
    h, w = frame.shape[:2]
    scale = short_side / min(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    if size == (w, h):
        return frame
    return cv2.resize(frame, size, interpolation=cv2.INTER_LINEAR)


def to_rgb(frame):
    """OpenCV BGR (or grayscale) frame -> RGB uint8."""
    if frame.ndim == 2 or frame.shape[2] == 1:
        return cv2.cvtColor(frame, cv2.COLOR_GRAY2RGB)
    if frame.shape[2] == 4:
        return cv2.cvtColor(frame, cv2.COLOR_BGRA2RGB)
    return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)


def resample_and_resize(
    timed, source_fps, fps=FPS, start=None, end=None, max_frames=None, short_side=SHORT_SIDE
):
    """The paper's frames: (timestamp, BGR frame) pairs -> RGB uint8 at `fps`, short side 256.

    Args:
      timed: from `open_video`.
      source_fps: the container's rate (how long a lone last frame lasts), or None.
      fps, start, end, max_frames: as in `resample`.
      short_side: resize target; None keeps the decoded size.
    """
    last_period = 1.0 / source_fps if source_fps else None
    for frame in resample(timed, fps, start, end, max_frames, last_period):
        frame = to_rgb(frame)
        yield resize_short_side(frame, short_side) if short_side else frame


def iter_video(path, fps=FPS, start=None, end=None, max_frames=None, short_side=SHORT_SIDE):
    """Yields a video's RGB uint8 frames at `fps`, short side `short_side`, one at a time.

    Args:
      path: video file readable by OpenCV (FFmpeg backend).
      fps: output frame rate.
      start, end: optional clip bounds in seconds (Kinetics annotations).
      max_frames: read no more than this many output frames.
      short_side: resize target; None keeps the decoded size.

    Raises:
      VideoError: if the file is missing or unreadable.
    """
    source_fps, timed = open_video(path, start)
    yield from resample_and_resize(timed, source_fps, fps, start, end, max_frames, short_side)


def read_video(path, fps=FPS, start=None, end=None, max_frames=None, short_side=SHORT_SIDE):
    """`iter_video` collected into a uint8 array [T, H, W, 3].

    Raises:
      VideoError: if the file is missing, unreadable or yields no frame.
    """
    out = list(iter_video(path, fps, start, end, max_frames, short_side))
    if not out:
        where = '' if start is None and end is None else f' in [{start}, {end}] s'
        raise VideoError(f'{path}: no decodable frames{where}')
    return np.stack(out)


def center_crop(frames, size=CROP_SIZE):
    """Centre crop [..., H, W, C] frames to size x size (no-op where already smaller)."""
    h, w = frames.shape[-3:-1]
    top, left = max(0, (h - size) // 2), max(0, (w - size) // 2)
    return frames[..., top : top + size, left : left + size, :]


def rgb_to_model_input(frames):
    """uint8 RGB in [0, 255] -> float32 in [-1, 1], the scaling of DeepMind's model."""
    return frames.astype(np.float32) * (2.0 / 255.0) - 1.0
