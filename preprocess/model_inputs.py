"""Clips stored as network input, one file per stream: DeepMind's preprocessed sample
GIFs (RGB stored as (x+1)/2, flow as f+0.5 with a zero third channel) and .npy arrays
([T,H,W,C] or [1,T,H,W,C], used as is).

Raw videos and shards take `preprocess.clip_input`'s path (the preprocessing of
`video` and `flow`); this module only reads what is already preprocessed.
"""

import os

import numpy as np
from absl import logging
from PIL import Image, ImageSequence

from preprocess import streams as records
from preprocess import video


def _frame_limit(max_frames):
    return max_frames if max_frames else video.MAX_TEST_FRAMES


# A network input this far outside [-1, 1] is almost surely unscaled (e.g. uint8 pixels).
INPUT_RANGE_WARNING = 1.5


def load_gif(path, name, max_frames=None):
    """Reads DeepMind's preprocessed GIF of the stream `name` as network input (float32).

    Raises:
      video.VideoError: if the file cannot be read as a GIF, or holds the other stream
        (a flow GIF's third channel is constant, an RGB GIF's is not).
    """
    video.check_readable_file(path)
    try:
        with Image.open(path) as im:
            frames = []
            for frame in ImageSequence.Iterator(im):
                frames.append(np.asarray(frame.convert('RGB')))
                if len(frames) >= _frame_limit(max_frames):
                    break
    except (OSError, ValueError) as e:
        raise video.VideoError(f'{path}: cannot read GIF ({e})') from None
    pixels = np.stack(frames).astype(np.float32) / 255.0
    stream = records.STREAMS[name]
    # A stream of fewer than 3 channels (flow) is stored with a constant third one.
    third_constant = bool(np.all(pixels[..., 2] == pixels[0, 0, 0, 2]))
    if third_constant != (stream.channels < 3):
        holds, third = ('flow', 'constant') if third_constant else ('RGB', 'not constant')
        raise video.VideoError(
            f'{path}: holds {holds} (its third channel is {third}), but the {name} stream '
            'was asked for'
        )
    scale, offset = stream.sample_gif
    return pixels[..., : stream.channels] * scale + offset


def load_npy(path, name, max_frames=None):
    """Reads a .npy clip of network input, [T,H,W,C] or DeepMind's [1,T,H,W,C].

    Only the frames used are read from disk (memory-mapped). Values far outside
    [-1, 1] draw a warning on stderr; NaN or infinity is refused.

    Raises:
      video.VideoError: unreadable file, wrong shape or dtype, non-finite values.
    """
    video.check_readable_file(path)
    try:
        array = np.load(path, mmap_mode='r', allow_pickle=False)
    except (OSError, ValueError) as e:
        raise video.VideoError(f'{path}: cannot read .npy ({e})') from None
    if not isinstance(array, np.ndarray) or array.dtype.kind not in 'fiub':
        kind = getattr(array, 'dtype', type(array).__name__)
        raise video.VideoError(f'{path}: holds {kind} values; expected numbers')
    if array.ndim == 5 and array.shape[0] == 1:
        array = array[0]
    if array.ndim != 4:
        raise video.VideoError(f'{path}: expected [T,H,W,C] or [1,T,H,W,C], got {array.shape}')
    clip = np.asarray(array[: _frame_limit(max_frames)], dtype=np.float32)
    if not np.all(np.isfinite(clip)):
        raise video.VideoError(f'{path}: holds NaN or infinite values')
    if clip.size and np.max(np.abs(clip)) > INPUT_RANGE_WARNING:
        logging.warning(
            '%s: values span [%g, %g], but the network expects [-1, 1] (%s); the result '
            'is likely meaningless',
            path,
            clip.min(),
            clip.max(),
            records.STREAMS[name].scaling,
        )
    return clip


def flow_sibling(path):
    """DeepMind names paired samples `*_rgb.gif` / `*_flow.gif`: the flow twin, if any."""
    stem, ext = os.path.splitext(path)
    if stem.endswith('_rgb') and os.path.exists(stem[: -len('rgb')] + 'flow' + ext):
        return stem[: -len('rgb')] + 'flow' + ext
    return None


def load_preprocessed(path, names, max_frames=None, flow_path=None):
    """Loads DeepMind-style .gif / .npy clips of the streams `names`, one file each.

    Args:
      path: the clip of the first stream requested.
      names: stream names, subset of ('rgb', 'flow').
      max_frames: frame cap (default: 250, the paper's test length).
      flow_path: the flow file when `path` is the RGB one; defaults to the `*_flow.*`
        twin of a `*_rgb.*` file.

    Returns:
      {name: float32 [T, H, W, C]}.

    Raises:
      video.VideoError: unreadable or empty clip, or wrong number of channels.
    """
    paths = dict(zip(names, [path, flow_path or flow_sibling(path)], strict=False))
    out = {}
    for stream, stream_path in paths.items():
        if stream_path is None:
            raise video.VideoError(
                f'{path}: a preprocessed clip holds one stream; pass the flow file too'
            )
        ext = os.path.splitext(stream_path)[1].lower()
        if ext == '.gif':
            clip = load_gif(stream_path, stream, max_frames)
        elif ext == '.npy':
            clip = load_npy(stream_path, stream, max_frames)
        else:
            raise video.VideoError(f'{stream_path}: a preprocessed clip is a .gif or .npy')
        if clip.shape[0] == 0:
            raise video.VideoError(f'{stream_path}: the clip has no frames')
        channels = records.STREAMS[stream].channels
        if clip.shape[-1] != channels:
            raise video.VideoError(
                f'{stream_path}: has {clip.shape[-1]} channels; the {stream} stream needs '
                f'{channels}'
            )
        out[stream] = clip
    return out
