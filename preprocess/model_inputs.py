"""One clip -> network inputs for the RGB and/or flow stream.

Accepts a raw video (decoded and preprocessed as in the paper, see `video` and `flow`),
DeepMind's preprocessed sample GIFs (RGB stored as (x+1)/2, flow as f+0.5 with a zero
third channel) and .npy arrays of network input ([T,H,W,C] or [1,T,H,W,C], used as is).
"""

import os

import numpy as np
from absl import logging
from PIL import Image, ImageSequence

from common import streams as stream_records
from preprocess import flow as flow_lib
from preprocess import video

STREAM_CHANNELS = {'rgb': 3, 'flow': 2}
MAX_TEST_FRAMES = 250  # Paper: test on whole videos of up to ~10 s (250 frames).


def _frame_limit(max_frames):
    return max_frames if max_frames else MAX_TEST_FRAMES


# A network input this far outside [-1, 1] is almost surely unscaled (e.g. uint8 pixels).
INPUT_RANGE_WARNING = 1.5
STREAM_SCALING = {'rgb': 'x / 127.5 - 1 for pixels x', 'flow': 'pixel flow / 20, truncated'}


def load_gif(path, stream, max_frames=None):
    """Reads DeepMind's preprocessed GIF of one stream as network input (float32).

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
    third_constant = bool(np.all(pixels[..., 2] == pixels[0, 0, 0, 2]))
    if third_constant != (stream == 'flow'):
        holds, third = ('flow', 'constant') if third_constant else ('RGB', 'not constant')
        raise video.VideoError(
            f'{path}: holds {holds} (its third channel is {third}), but the {stream} stream '
            'was asked for'
        )
    if stream == 'rgb':
        return pixels * 2.0 - 1.0  # stored as (x + 1) / 2
    return pixels[..., :2] - 0.5  # stored as f + 0.5, third channel zero


def load_npy(path, stream, max_frames=None):
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
            STREAM_SCALING.get(stream, ''),
        )
    return clip


def from_frames(frames, streams, on_flow_pair=None, flow=None):
    """RGB uint8 frames at 25 fps, short side 256 -> {stream: centre-cropped input}.

    Args:
      frames: uint8 [T, H, W, 3].
      streams: subset of ('rgb', 'flow').
      on_flow_pair: optional callable invoked once per computed flow pair.
      flow: precomputed pixel flow [T-1, H, W, 2] (from a shard); computed if None.
    """
    out = {}
    if 'rgb' in streams:
        out['rgb'] = video.rgb_to_model_input(video.center_crop(frames))
    if 'flow' in streams:
        if flow is None:
            if len(frames) < 2:
                raise video.VideoError('optical flow needs at least 2 frames')
            flow = flow_lib.tvl1_flow(frames, on_flow_pair)
        if len(flow) == 0:
            raise video.VideoError('no flow frames (shards built with --flow=false?)')
        out['flow'] = flow_lib.flow_to_model_input(video.center_crop(flow))
    return out


def find_shard_example(path, media_id=None):
    """The example `media_id` (default: the first) of a shard, parsed but not decoded
    (`schema.parse_encoded`).

    Raises:
      video.VideoError: unreadable shard or no such video.
    """
    import tensorflow as tf

    from preprocess import schema

    video.check_readable_file(path)
    try:
        for serialized in tf.data.TFRecordDataset(path):
            if media_id is None or schema.media_id(serialized) == media_id:
                return schema.parse_encoded(serialized)
    except (tf.errors.OpError, ValueError) as e:
        raise video.VideoError(f'{path}: unreadable shard ({type(e).__name__})') from None
    raise video.VideoError(
        f'{path}: no video' + (f' with media id {media_id!r}' if media_id else '')
    )


def load_shard_example(path, media_id=None, max_frames=None, need_flow=True):
    """Decoded (rgb uint8, pixel flow) of one video in a TFRecord shard.

    Only the frames used are decoded: the first `max_frames` RGB frames and the flow
    between them (none when `need_flow` is false).

    Args:
      path: a shard written by preprocess.build_shards.
      media_id: which video; default: the first.
      max_frames: RGB frames to decode (default: all).
      need_flow: whether to decode the flow frames.

    Raises:
      video.VideoError: unreadable shard or no such video.
    """
    import tensorflow as tf

    from preprocess import schema

    example = find_shard_example(path, media_id)
    try:
        rgb = schema.decode_rgb(example['rgb_encoded'][:max_frames]).numpy()
        flow_count = stream_records.FLOW.frames_in(len(rgb)) if need_flow else 0
        flow = schema.decode_flow(example['flow_encoded'][:flow_count], rgb.shape[1:3])
    except tf.errors.OpError as e:
        raise video.VideoError(
            f'{path}: undecodable frame ({" ".join(e.message.split())})'
        ) from None
    return rgb, flow.numpy()


def flow_sibling(path):
    """DeepMind names paired samples `*_rgb.gif` / `*_flow.gif`: the flow twin, if any."""
    stem, ext = os.path.splitext(path)
    if stem.endswith('_rgb') and os.path.exists(stem[: -len('rgb')] + 'flow' + ext):
        return stem[: -len('rgb')] + 'flow' + ext
    return None


def load_streams(path, streams, max_frames=None, flow_path=None, flow_progress=None, media_id=None):
    """Loads the inputs of the requested streams for one clip.

    Args:
      path: a raw video, a shard (.tfrecord) from preprocess.build_shards, or a
        preprocessed .gif / .npy of the first stream requested.
      streams: subset of ('rgb', 'flow').
      max_frames: frame cap (default: 250, the paper's test length).
      flow_path: for preprocessed clips, the flow file when `path` is the RGB one;
        defaults to the `*_flow.*` twin of a `*_rgb.*` file.
      flow_progress: optional factory, called with the number of flow pairs to compute,
        returning the callable to invoke once per pair (e.g. a progress bar's update).
      media_id: for a .tfrecord shard, which video (default: the first).

    Returns:
      {stream: float32 [T, H, W, C]}.

    Raises:
      video.VideoError: unreadable or empty input, or wrong number of channels.
    """
    ext = os.path.splitext(path)[1].lower()
    if media_id is not None and ext != '.tfrecord':
        raise video.VideoError(f'{path}: --media_id applies only to .tfrecord shards')
    if ext in ('.gif', '.npy'):
        return _load_preprocessed(path, streams, max_frames, flow_path)
    limit = _frame_limit(max_frames)
    flow, on_flow_pair = None, None
    if ext == '.tfrecord':
        frames, flow = load_shard_example(path, media_id, limit, 'flow' in streams)
    else:
        frames = video.read_video(path, max_frames=limit)
        if flow_progress and 'flow' in streams:
            on_flow_pair = flow_progress(len(frames) - 1)
    try:
        return from_frames(frames, streams, on_flow_pair, flow)
    except video.VideoError as e:
        raise video.VideoError(f'{path}: {e}') from None


def _load_preprocessed(path, streams, max_frames, flow_path):
    """DeepMind-style .gif / .npy clips, one file per stream."""
    paths = dict(zip(streams, [path, flow_path or flow_sibling(path)], strict=False))
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
        if clip.shape[-1] != STREAM_CHANNELS[stream]:
            raise video.VideoError(
                f'{stream_path}: has {clip.shape[-1]} channels; the {stream} stream needs '
                f'{STREAM_CHANNELS[stream]}'
            )
        out[stream] = clip
    return out
