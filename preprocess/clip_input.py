"""One clip -> the network input of its streams: the one clip-input path of inference.

A clip is a raw video (25 fps, short side 256, centre crop 224, TV-L1 flow computed
here: `preprocess.video` and `preprocess.flow`), an example of a build_shards shard (its
stored frames and flow, decoded a few at a time), or DeepMind-style preprocessed .gif /
.npy files (network input already, `preprocess.model_inputs`). `pixels` is the decoding
pass that evaluate_sample.py (through `clip_inputs`, streamed into `whole_video.Runner`)
and extract_features (`extract.prepare`, into its work files) share; each stream's
record (`preprocess.streams`) turns the pixels into network input. Streams, so that a video of
any length is never held in memory: a raw video is decoded twice for evaluate_sample.py,
once to count its frames (the network's padding depends on the count) and once to feed
the model, with its TV-L1 pairs computed in the second pass only, several at once
(`preprocess.flow.fields`: all the process's cores). No TensorFlow import for a raw
video: the pool's decoding workers run this.
"""

import itertools

import numpy as np

from common import files
from preprocess import model_inputs, video
from preprocess import streams as records

SHARD_SLICE = 16  # encoded shard frames decoded at a time
PREPROCESSED = ('.gif', '.npy')  # DeepMind-style network input, one file per stream
STORED_INPUTS = (*PREPROCESSED, files.SHARD_EXTENSION)  # inputs that carry their flow


def is_shard(path):
    return path.lower().endswith(files.SHARD_EXTENSION)


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
        for serialized in tf.data.TFRecordDataset(path, buffer_size=files.TFRECORD_BUFFER_BYTES):
            if media_id is None or schema.media_id(serialized) == media_id:
                return schema.parse_encoded(serialized)
    except (tf.errors.OpError, ValueError) as e:
        raise video.VideoError(f'{path}: unreadable shard ({type(e).__name__})') from None
    raise video.VideoError(
        f'{path}: no video' + (f' with media id {media_id!r}' if media_id else '')
    )


def decode_sliced(encoded, decode, path=''):
    """Decodes encoded frames a few at a time (a stream's `decode`).

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


def count_frames(path, limit=None):
    """Frames of a raw video at 25 fps, counting no further than `limit` (a decoding pass:
    no resize, nothing kept)."""
    return sum(1 for _ in video.iter_video(path, max_frames=limit, short_side=None))


def shard_frames(example, frame_count=None):
    """Frames of video of a shard example (its RGB frames), at most `frame_count`."""
    count = int(example[records.RGB.encoded_key].shape[0])
    return count if frame_count is None else min(count, frame_count)


def _video_pixels(path, streams, frame_count, flow_threads):
    decoded = video.iter_video(path, max_frames=frame_count)
    # Each stream reads its own copy of the frames; tee holds the few that flow reads
    # ahead (its pairs in flight), so one decoding pass feeds both.
    copies = itertools.tee(decoded, len(streams))
    converted = [s.from_video(c, flow_threads) for s, c in zip(streams, copies, strict=True)]
    try:
        for frame in zip(*converted, strict=True):
            yield {
                s.name: video.center_crop(p)
                for s, p in zip(streams, frame, strict=True)
                if p is not None
            }
    finally:  # stops the flow threads and the decoder now, not when collected
        for pixels in converted:
            if hasattr(pixels, 'close'):
                pixels.close()
        decoded.close()


def _shard_pixels(decoded, count):
    for index in range(count):
        frame = {n: next(frames, None) for n, (lag, frames) in decoded.items() if index >= lag}
        yield {name: video.center_crop(p) for name, p in frame.items() if p is not None}


def pixels(path, names, media_id=None, frame_count=None, example=None, flow_threads=None):
    """The centre-cropped pixels of the streams `names` of a clip, frame by frame.

    Args:
      path: a raw video or a shard (.tfrecord) of preprocess.build_shards.
      names: stream names, e.g. ('rgb', 'flow').
      media_id: for a shard, which video (default: the first).
      frame_count: frames of video to use (default: all).
      example: of a shard, the example already read (`find_shard_example`), so the
        shard is not scanned again.
      flow_threads: TV-L1 pairs of a raw video computed at once (None: all the cores
        `preprocess.flow.cores()` gives this process).

    Returns:
      An iterator yielding, for each frame of video, {name: pixels in the stream's
      `pixel_dtype`} of the streams that have a frame there (flow from the second on).

    Raises:
      video.VideoError: an unreadable shard, or one without the frames of a stream;
        iterating raises it for an unreadable video or an undecodable frame.
    """
    streams = [records.STREAMS[n] for n in names]
    if not is_shard(path):
        return _video_pixels(path, streams, frame_count, flow_threads)
    if example is None:
        example = find_shard_example(path, media_id)
    count = shard_frames(example, frame_count)
    decoded = {}
    for stream in streams:
        encoded = example[stream.encoded_key][: stream.frames_in(count)]
        if stream.frames_in(count) and int(encoded.shape[0]) == 0:
            raise video.VideoError(
                f'{path}: no {stream.name} frames (shards built with --flow=false?)'
            )
        decoded[stream.name] = (stream.frame_lag, decode_sliced(encoded, stream.decode, path))
    return _shard_pixels(decoded, count)


def stream_input(path, name, media_id=None, frame_count=None, example=None):
    """(frame count, iterator of float32 [H, W, C] network input) of one stream of a clip.

    Args:
      path: a raw video or a shard (.tfrecord) of preprocess.build_shards.
      name: 'rgb' or 'flow'.
      media_id, example: see `pixels`.
      frame_count: frames of video to use (of a raw video: at most its `count_frames`);
        default: all.

    Raises:
      video.VideoError: unreadable or empty clip, or too short for the stream.
    """
    stream = records.STREAMS[name]
    if is_shard(path):
        if example is None:
            example = find_shard_example(path, media_id)
        frame_count = shard_frames(example, frame_count)
    elif frame_count is None:
        frame_count = count_frames(path)
    count = stream.frames_in(frame_count)
    if count < 1:
        what = (
            'no decodable frames'
            if frame_count < 1
            else f'{frame_count} frame: the {name} stream needs {stream.frame_lag + 1}'
        )
        raise video.VideoError(f'{path}: {what}')
    frames = pixels(path, [name], media_id, frame_count, example)
    return count, (stream.model_input(p[name]) for p in frames if name in p)


def clip_inputs(path, names, media_id=None, flow_path=None, max_frames=None):
    """The network input of every requested stream of a clip, streamed, and whether the
    clip was cut at `max_frames`.

    Preprocessed clips (.gif, .npy: one file per stream, DeepMind's samples) are read
    whole (up to the cap); raw videos and shards stream, so memory stays bounded.

    Args:
      path: a raw video, a shard (.tfrecord), or a preprocessed .gif / .npy.
      names: stream names, subset of ('rgb', 'flow').
      media_id: for a shard, which video (default: the first).
      flow_path: for a preprocessed clip, its flow file (default: the `*_flow` twin).
      max_frames: use at most this many frames of video (flow: the pairs between them);
        None: the whole clip.

    Returns:
      ({stream: (frame count, iterator of network input frames)}, whether cut).

    Raises:
      video.VideoError: as `stream_input`, or for a bad preprocessed clip.
    """
    if media_id is not None and not is_shard(path):
        raise video.VideoError(f'{path}: --media_id applies only to .tfrecord shards')
    spare = None if max_frames is None else max_frames + 1  # one more tells if it is cut
    if path.lower().endswith(PREPROCESSED):
        arrays = model_inputs.load_preprocessed(
            path, names, spare or np.iinfo(np.int64).max, flow_path
        )
        if max_frames is not None:
            arrays, cut = first_frames(arrays, max_frames, path)
        else:
            cut = False
        return {s: (len(a), iter(a)) for s, a in arrays.items()}, cut
    example = None
    if is_shard(path):
        example = find_shard_example(path, media_id)
        available = shard_frames(example)
    else:
        available = count_frames(path, spare)
    count = available if max_frames is None else min(available, max_frames)
    inputs = {s: stream_input(path, s, media_id, count, example) for s in names}
    return inputs, count < available


def computes(path, name):
    """Whether the stream `name` of the clip at `path` is computed here (TV-L1 on a raw
    video: the slow part) rather than read."""
    return records.STREAMS[name].derived and not path.lower().endswith(STORED_INPUTS)


def first_frames(inputs, num_frames, path):
    """Cuts clips loaded with one frame to spare to `num_frames` (flow: the pairs between).

    Args:
      inputs: {stream: array} from `model_inputs.load_preprocessed(..., num_frames + 1)`.
      num_frames: the frame cap.
      path: the clip; a raw video or shard has one flow field fewer than frames, a
        preprocessed .gif/.npy flow file holds the network's flow frames directly.

    Returns:
      (inputs cut to the cap, whether the clip was longer).
    """
    preprocessed = path.lower().endswith(PREPROCESSED)
    # A preprocessed flow file holds network frames already (DeepMind's: as many as RGB).
    caps = {
        s: num_frames if preprocessed else records.STREAMS[s].frames_in(num_frames) for s in inputs
    }
    cut = any(len(clip) > caps[s] for s, clip in inputs.items())
    return {s: clip[: max(1, caps[s])] for s, clip in inputs.items()}, cut
