"""Network input of a whole clip, one frame at a time: what `whole_video.Runner` consumes.

The same preprocessing as `preprocess.model_inputs` (25 fps, short side 256, centre
crop 224, RGB to [-1, 1], TV-L1 flow truncated to +-20 px), streamed so that a video of
any length is never held in memory: a raw video is decoded twice, once to count its
frames (the network's padding depends on the count) and once to feed the model; a shard
example holds its frame count and decodes a few frames at a time.
"""

import os

import numpy as np

from preprocess import flow as flow_lib
from preprocess import model_inputs, video

SHARD_SLICE = 16  # encoded shard frames decoded at a time


def shard_example(path, media_id):
    """The parsed, still encoded example `media_id` (default: the first) of a shard."""
    import tensorflow as tf

    from preprocess import schema

    try:
        for serialized in tf.data.TFRecordDataset(path):
            if media_id is None or schema.media_id(serialized) == media_id:
                return schema.parse_encoded(serialized)
    except (tf.errors.OpError, ValueError) as e:
        raise video.VideoError(f'{path}: unreadable shard ({type(e).__name__})') from None
    raise video.VideoError(
        f'{path}: no video' + (f' with media id {media_id!r}' if media_id else '')
    )


def decode_sliced(encoded, decode):
    """Decodes encoded frames a few at a time (`schema.decode_rgb` / `decode_flow`)."""
    for start in range(0, int(encoded.shape[0]), SHARD_SLICE):
        yield from decode(encoded[start : start + SHARD_SLICE]).numpy()


def _pairwise_flow(frames):
    pairwise = flow_lib.PairwiseFlow()
    for frame in frames:
        field = pairwise.push(frame)
        if field is not None:
            yield field


def _model_input(stream, frames):
    for frame in frames:
        crop = video.center_crop(frame)
        if stream == 'rgb':
            yield video.rgb_to_model_input(crop)
        else:
            yield flow_lib.flow_to_model_input(crop)


def count_frames(path):
    """Frames of a raw video at 25 fps (a decoding pass: no resize, nothing kept)."""
    return sum(1 for _ in video.iter_video(path, short_side=None))


def stream_input(path, stream, media_id=None, frame_count=None):
    """(frame count, iterator of float32 [H, W, C] network input) of one stream of a clip.

    Args:
      path: a raw video or a shard (.tfrecord) of preprocess.build_shards.
      stream: 'rgb' or 'flow'.
      media_id: for a shard, which video (default: the first).
      frame_count: of a raw video, when already known (`count_frames`).

    Raises:
      video.VideoError: unreadable or empty clip, or too short for flow.
    """
    if path.lower().endswith('.tfrecord'):
        from preprocess import schema

        example = shard_example(path, media_id)
        if stream == 'rgb':
            encoded, decode = example['rgb_encoded'], schema.decode_rgb
        else:
            encoded, decode = example['flow_encoded'], schema.decode_flow
        count = int(encoded.shape[0])
        frames = decode_sliced(encoded, decode)
    else:
        count = count_frames(path) if frame_count is None else frame_count
        frames = video.iter_video(path)
        if stream == 'flow':
            count, frames = count - 1, _pairwise_flow(frames)
    if count < 1:
        what = 'no decodable frames' if stream == 'rgb' else 'no flow (fewer than 2 frames?)'
        raise video.VideoError(f'{path}: {what}')
    return count, _model_input(stream, frames)


def clip_inputs(path, streams, media_id=None, flow_path=None):
    """{stream: (frame count, iterator of network input)} for every requested stream.

    Preprocessed clips (.gif, .npy: one file per stream, DeepMind's samples) are small and
    read whole; raw videos and shards stream.

    Raises:
      video.VideoError: as `stream_input`, or for a bad preprocessed clip.
    """
    if os.path.splitext(path)[1].lower() in ('.gif', '.npy'):
        arrays = model_inputs.load_streams(path, streams, np.iinfo(np.int64).max, flow_path)
        return {s: (len(a), iter(a)) for s, a in arrays.items()}
    count = None if path.lower().endswith('.tfrecord') else count_frames(path)
    return {s: stream_input(path, s, media_id, count) for s in streams}


def first_frames(inputs, num_frames, path):
    """Cuts clips loaded with one frame to spare to `num_frames` (flow: the pairs between).

    Args:
      inputs: {stream: array} from `model_inputs.load_streams(..., num_frames + 1, ...)`.
      num_frames: the frame cap.
      path: the clip; a raw video or shard has one flow field fewer than frames, a
        preprocessed .gif/.npy flow file holds the network's flow frames directly.

    Returns:
      (inputs cut to the cap, whether the clip was longer).
    """
    preprocessed = os.path.splitext(path)[1].lower() in ('.gif', '.npy')
    caps = {'rgb': num_frames, 'flow': num_frames if preprocessed else num_frames - 1}
    cut = any(len(clip) > caps[s] for s, clip in inputs.items())
    return {s: clip[: max(1, caps[s])] for s, clip in inputs.items()}, cut
