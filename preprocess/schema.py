"""The shard schema: one `tf.train.SequenceExample` per video, MediaPipe's keys.

Written by `build_shards`, read by training and `evaluate_sample.py` through `parse`.
Keys follow MediaPipe's `media_sequence` (Google's released Kinetics pipeline), so its
readers work on our shards:

context
  example/id, clip/media_id, clip/data_path      bytes
  clip/label/index                               int64 list (one label)
  clip/label/string                              bytes list
  clip/start/timestamp, clip/end/timestamp       int64, microseconds in the source
  image/format (JPEG; PNG with --rgb_format=png), image/height, image/width,
  image/channels, image/frame_rate
  FORWARD_FLOW/image/{format (PNG), height, width, channels, frame_rate}
  clip/frame_count (RGB frames), clip/source_frame_rate       (ours, not MediaPipe's)
feature lists
  image/encoded, image/timestamp                 one image / microsecond time per frame
  FORWARD_FLOW/image/encoded, .../timestamp      one PNG per consecutive frame pair

Flow frame t is TV-L1 from RGB frame t to t+1 (T frames -> T-1 flows), quantized to
uint8 over [-20, 20] px (`flow.quantize`) in the R (x) and G (y) channels, B = 0, as in
MediaPipe's FlowToImageCalculator; decode with `(q / 255 - 0.5) * 40`. PNG rather than
MediaPipe's JPEG: it is lossless (a JPEG at quality 100 with 4:2:0 chroma moves flow by
pixels at motion edges, since x and y sit in colour channels; see
benchmarks/preprocess_speed.py), and `tf.io.decode_jpeg` reads PNG too, so MediaPipe's
reader still works.
"""

import cv2
import numpy as np
import tensorflow as tf

from preprocess import flow as flow_lib

FLOW_PREFIX = 'FORWARD_FLOW/'
IMAGE_ENCODED = 'image/encoded'
FLOW_ENCODED = FLOW_PREFIX + 'image/encoded'
LABEL_INDEX = 'clip/label/index'
LABEL_STRING = 'clip/label/string'
MEDIA_ID = 'clip/media_id'
FRAME_RATE = 'image/frame_rate'
FRAME_COUNT = 'clip/frame_count'


def _bytes(values):
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=values))


def _ints(values):
    return tf.train.Feature(int64_list=tf.train.Int64List(value=values))


def _floats(values):
    return tf.train.Feature(float_list=tf.train.FloatList(value=values))


def encode_rgb(frame, image_format='JPEG', quality=100):
    """RGB uint8 frame -> JPEG (Google's choice) or PNG (lossless) bytes."""
    if image_format == 'PNG':
        ok, buf = cv2.imencode('.png', frame[..., ::-1])
    else:
        ok, buf = cv2.imencode('.jpg', frame[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError(f'{image_format} encoding failed')
    return buf.tobytes()


def encode_flow(field):
    """Pixel flow [H, W, 2] -> PNG bytes of the quantized (x, y, 0) image."""
    q = flow_lib.quantize(field)
    image = np.concatenate([q, np.zeros_like(q[..., :1])], axis=-1)
    ok, buf = cv2.imencode('.png', image[..., ::-1])
    if not ok:
        raise ValueError('PNG encoding failed')
    return buf.tobytes()


def make_example(meta, rgb_images, flow_pngs, frame_shape, fps, rgb_format='JPEG'):
    """Builds the SequenceExample of one video.

    Args:
      meta: dict with media_id, path, label_index, label_string, start, end (seconds
        or None), source_fps.
      rgb_images: encoded bytes per frame, in `rgb_format` ('JPEG' or 'PNG').
      flow_pngs: PNG bytes per consecutive pair (empty when flow is off).
      frame_shape: (height, width) of the frames.
      fps: frame rate of the frames.

    Returns:
      tf.train.SequenceExample.
    """
    height, width = frame_shape
    start_us = round((meta.get('start') or 0.0) * 1e6)
    end_us = start_us + round(len(rgb_images) / fps * 1e6)
    times = [start_us + round(i / fps * 1e6) for i in range(len(rgb_images))]
    context = {
        'example/id': _bytes([meta['media_id'].encode()]),
        MEDIA_ID: _bytes([meta['media_id'].encode()]),
        'clip/data_path': _bytes([meta['path'].encode()]),
        LABEL_INDEX: _ints([meta['label_index']]),
        LABEL_STRING: _bytes([meta['label_string'].encode()]),
        'clip/start/timestamp': _ints([start_us]),
        'clip/end/timestamp': _ints([end_us]),
        FRAME_COUNT: _ints([len(rgb_images)]),
        'clip/source_frame_rate': _floats([meta.get('source_fps') or 0.0]),
    }
    lists = {
        IMAGE_ENCODED: [_bytes([j]) for j in rgb_images],
        'image/timestamp': [_ints([t]) for t in times],
    }
    formats = (('', rgb_format.encode(), True), (FLOW_PREFIX, b'PNG', bool(flow_pngs)))
    for prefix, fmt, present in formats:
        if present:
            context[prefix + 'image/format'] = _bytes([fmt])
            context[prefix + 'image/height'] = _ints([height])
            context[prefix + 'image/width'] = _ints([width])
            context[prefix + 'image/channels'] = _ints([3])
            context[prefix + FRAME_RATE] = _floats([fps])
    if flow_pngs:
        lists[FLOW_ENCODED] = [_bytes([p]) for p in flow_pngs]
        lists[FLOW_PREFIX + 'image/timestamp'] = [_ints([t]) for t in times[: len(flow_pngs)]]
    return tf.train.SequenceExample(
        context=tf.train.Features(feature=context),
        feature_lists=tf.train.FeatureLists(
            feature_list={k: tf.train.FeatureList(feature=v) for k, v in lists.items()}
        ),
    )


# Defaults let examples from other MediaPipe-style writers parse: an unlabelled clip reads
# as label -1, an unknown frame rate as 0. Functions, not constants: importing this module
# must not load TensorFlow (the scripts check their flags first, common/startup.py).
def context_spec():
    return {
        MEDIA_ID: tf.io.FixedLenFeature((), tf.string, default_value=''),
        LABEL_INDEX: tf.io.VarLenFeature(tf.int64),
        LABEL_STRING: tf.io.VarLenFeature(tf.string),
        FRAME_RATE: tf.io.FixedLenFeature((), tf.float32, default_value=0.0),
    }


def sequence_spec():
    return {
        IMAGE_ENCODED: tf.io.FixedLenSequenceFeature((), tf.string),
        FLOW_ENCODED: tf.io.FixedLenSequenceFeature((), tf.string, allow_missing=True),
    }


def media_id(serialized):
    """The media id of a serialized example, without decoding its frames."""
    context, _ = tf.io.parse_single_sequence_example(
        serialized, context_features={MEDIA_ID: context_spec()[MEDIA_ID]}
    )
    return context[MEDIA_ID].numpy().decode()


def _first(sparse, default):
    """The first value of a VarLenFeature, or `default` when it has none."""
    return tf.concat([sparse.values, [default]], axis=0)[0]


def parse_encoded(serialized):
    """Parses one serialized example without decoding any image (works inside tf.data).

    Readers pick the frames they need from `rgb_encoded` / `flow_encoded` and decode only
    those with `decode_rgb` / `decode_flow`.

    Returns:
      dict: media_id (string), label (int64), label_string, fps, rgb_encoded (string
      [T]), flow_encoded (string [T-1], or [0] when the example holds no flow).
    """
    context, lists = tf.io.parse_single_sequence_example(
        serialized, context_features=context_spec(), sequence_features=sequence_spec()
    )
    return {
        'media_id': context[MEDIA_ID],
        'label': _first(context[LABEL_INDEX], tf.constant(-1, tf.int64)),
        'label_string': _first(context[LABEL_STRING], tf.constant(b'')),
        'fps': context[FRAME_RATE],
        'rgb_encoded': lists[IMAGE_ENCODED],
        'flow_encoded': lists[FLOW_ENCODED],
    }


def _decode_images(encoded, decode, channels, frame_shape):
    """Decodes a [N] string tensor into uint8 [N, H, W, channels]; N may be 0."""
    spec = tf.TensorSpec((None, None, channels), tf.uint8)
    if frame_shape is None:
        frame_shape = (0, 0)
    empty = tf.zeros(tf.concat([[0], frame_shape, [channels]], axis=0), tf.uint8)
    # tf.map_fn cannot stack zero images of unknown size; frames of a video with no
    # flow (--flow=false, or a single frame) are such an empty list.
    return tf.cond(
        tf.size(encoded) > 0,
        lambda: tf.map_fn(decode, encoded, fn_output_signature=spec),
        lambda: empty,
    )


def decode_rgb(encoded):
    """JPEG/PNG frames (string [N]) -> RGB uint8 [N, H, W, 3]."""
    return _decode_images(
        encoded,
        lambda b: tf.io.decode_jpeg(b, channels=3, dct_method='INTEGER_ACCURATE'),
        3,
        None,
    )


def decode_flow(encoded, frame_shape=None):
    """Flow PNGs (string [N]) -> float32 pixel flow [N, H, W, 2] in [-20, 20].

    Args:
      encoded: string [N].
      frame_shape: (height, width) given to an empty result (N = 0).
    """
    levels = _decode_images(
        encoded, lambda b: tf.io.decode_png(b, channels=3)[..., :2], 2, frame_shape
    )
    return flow_lib.dequantize(tf.cast(levels, tf.float32))


def parse(serialized):
    """Parses and decodes one serialized example (works inside tf.data).

    Returns:
      dict: media_id (string), label (int64), label_string, fps, rgb (uint8
      [T,H,W,3]), flow (float32 pixel flow [T-1,H,W,2]; [0,H,W,2] when not stored).
    """
    example = parse_encoded(serialized)
    rgb = decode_rgb(example.pop('rgb_encoded'))
    example['rgb'] = rgb
    example['flow'] = decode_flow(example.pop('flow_encoded'), tf.shape(rgb)[1:3])
    return example
