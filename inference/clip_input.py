"""Network input of a whole clip, one frame at a time: what `whole_video.Runner` consumes.

The same preprocessing as `preprocess.model_inputs` (25 fps, short side 256, centre
crop 224, RGB to [-1, 1], TV-L1 flow truncated to +-20 px), streamed so that a video of
any length is never held in memory: a raw video is decoded twice, once to count its
frames (the network's padding depends on the count) and once to feed the model; a shard
example holds its frame count and decodes a few frames at a time.
"""

import numpy as np

from common import streams as stream_records
from preprocess import flow as flow_lib
from preprocess import model_inputs, video

SHARD_SLICE = 16  # encoded shard frames decoded at a time
PREPROCESSED = ('.gif', '.npy')  # DeepMind-style network input, one file per stream
SHARD = '.tfrecord'
STORED_INPUTS = (*PREPROCESSED, SHARD)  # inputs that carry their flow (no TV-L1 to run)


def decode_sliced(encoded, decode, path=''):
    """Decodes encoded frames a few at a time (`schema.decode_rgb` / `decode_flow`).

    Raises:
      video.VideoError: naming `path`, on a frame that does not decode.
    """
    import tensorflow as tf

    for start in range(0, int(encoded.shape[0]), SHARD_SLICE):
        try:
            frames = decode(encoded[start : start + SHARD_SLICE]).numpy()
        except tf.errors.OpError as e:
            reason = ' '.join(e.message.split())
            raise video.VideoError(f'{path}: undecodable frame ({reason})') from None
        yield from frames


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


def count_frames(path, limit=None):
    """Frames of a raw video at 25 fps, counting no further than `limit` (a decoding pass:
    no resize, nothing kept)."""
    return sum(1 for _ in video.iter_video(path, max_frames=limit, short_side=None))


def stream_input(path, stream, media_id=None, frame_count=None, example=None):
    """(frame count, iterator of float32 [H, W, C] network input) of one stream of a clip.

    Args:
      path: a raw video or a shard (.tfrecord) of preprocess.build_shards.
      stream: 'rgb' or 'flow'.
      media_id: for a shard, which video (default: the first).
      frame_count: RGB frames to use (of a raw video: at most its `count_frames`);
        default: all.
      example: of a shard, the example already read (`find_shard_example`), so the
        shard is not scanned again.

    Raises:
      video.VideoError: unreadable or empty clip, or too short for flow.
    """
    if path.lower().endswith(SHARD):
        from preprocess import schema

        if example is None:
            example = model_inputs.find_shard_example(path, media_id)
        encoded = example['rgb_encoded'][:frame_count]
        count = int(encoded.shape[0])
        if stream == 'rgb':
            frames = decode_sliced(encoded, schema.decode_rgb, path)
        else:
            if count > 1 and int(example['flow_encoded'].shape[0]) == 0:
                raise video.VideoError(f'{path}: no flow frames (shards built with --flow=false?)')
            encoded = example['flow_encoded'][: stream_records.FLOW.frames_in(count)]
            count = int(encoded.shape[0])
            frames = decode_sliced(encoded, schema.decode_flow, path)
    else:
        count = count_frames(path) if frame_count is None else frame_count
        frames = video.iter_video(path, max_frames=count)
        if stream == 'flow':
            count, frames = stream_records.FLOW.frames_in(count), _pairwise_flow(frames)
    if count < 1:
        what = 'no decodable frames' if stream == 'rgb' else 'no flow (fewer than 2 frames?)'
        raise video.VideoError(f'{path}: {what}')
    return count, _model_input(stream, frames)


def clip_inputs(path, streams, media_id=None, flow_path=None, max_frames=None):
    """The network input of every requested stream of a clip, streamed, and whether the
    clip was cut at `max_frames`.

    Preprocessed clips (.gif, .npy: one file per stream, DeepMind's samples) are read
    whole (up to the cap); raw videos and shards stream, so memory stays bounded.

    Args:
      path: a raw video, a shard (.tfrecord), or a preprocessed .gif / .npy.
      streams: subset of ('rgb', 'flow').
      media_id: for a shard, which video (default: the first).
      flow_path: for a preprocessed clip, its flow file (default: the `*_flow` twin).
      max_frames: use at most this many RGB frames (flow: the pairs between them);
        None: the whole clip.

    Returns:
      ({stream: (frame count, iterator of network input frames)}, whether cut).

    Raises:
      video.VideoError: as `stream_input`, or for a bad preprocessed clip.
    """
    if media_id is not None and not path.lower().endswith(SHARD):
        raise video.VideoError(f'{path}: --media_id applies only to .tfrecord shards')
    spare = None if max_frames is None else max_frames + 1  # one more tells if it is cut
    if path.lower().endswith(PREPROCESSED):
        arrays = model_inputs.load_streams(
            path, streams, spare or np.iinfo(np.int64).max, flow_path
        )
        if max_frames is not None:
            arrays, cut = first_frames(arrays, max_frames, path)
        else:
            cut = False
        return {s: (len(a), iter(a)) for s, a in arrays.items()}, cut
    example = None
    if path.lower().endswith(SHARD):
        example = model_inputs.find_shard_example(path, media_id)
        available = int(example['rgb_encoded'].shape[0])
    else:
        available = count_frames(path, spare)
    count = available if max_frames is None else min(available, max_frames)
    inputs = {s: stream_input(path, s, media_id, count, example) for s in streams}
    return inputs, count < available


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
    preprocessed = path.lower().endswith(PREPROCESSED)
    # A preprocessed flow file holds network frames already (DeepMind's: as many as RGB).
    caps = {
        s: num_frames if preprocessed else stream_records.STREAMS[s].frames_in(num_frames)
        for s in inputs
    }
    cut = any(len(clip) > caps[s] for s, clip in inputs.items())
    return {s: clip[: max(1, caps[s])] for s, clip in inputs.items()}, cut
