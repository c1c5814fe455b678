"""Classifies one clip with I3D, printing DeepMind's evaluate_sample.py report.

    python evaluate_sample.py                       # RGB stream on DeepMind's cricket clip
    python evaluate_sample.py --video=clip.mp4      # any video: 25 fps, resize, crop
    python evaluate_sample.py --eval_type=joint --video=clip.mp4 \
        --flow_checkpoint=checkpoints/flow_imagenet/model

prints

    Norm of logits: 83.241676

    Top classes and probabilities
    0.98856294 17.640398 playing cricket
    ...

`joint` sums the logits of the two streams (paper: two-stream fusion by averaging
logits; the argmax is the same). Raw videos go through `preprocess/` (TV-L1 flow for
the flow stream); DeepMind's preprocessed .gif samples and .npy arrays are used as is.
"""

import os
import sys

import numpy as np
import tensorflow as tf
from absl import app, flags

import model_io
from common import files
from inference import streams as clip_streams
from inference import whole_video
from preprocess import model_inputs, samples, sources

DEFAULT_CHECKPOINTS = {
    'rgb': os.path.join('checkpoints', 'rgb_scratch', 'model'),
    'flow': os.path.join('checkpoints', 'flow_imagenet', 'model'),
}

FLAGS = flags.FLAGS
flags.DEFINE_enum('eval_type', 'rgb', ['rgb', 'flow', 'joint'], 'Stream(s) to run.')
flags.DEFINE_string(
    'checkpoint', None, 'Checkpoint of the single stream run (rgb or flow eval_type).'
)
flags.DEFINE_string('rgb_checkpoint', DEFAULT_CHECKPOINTS['rgb'], 'RGB stream checkpoint.')
flags.DEFINE_string(
    'flow_checkpoint', DEFAULT_CHECKPOINTS['flow'],
    'Flow stream checkpoint (convert DeepMind flow_imagenet with import_weights.py).',
)  # fmt: skip
flags.DEFINE_string(
    'video', None,
    'Raw video (.mp4, .avi, ...), shard (.tfrecord), DeepMind .gif or .npy. '
    'Default: the cricket sample.',
)  # fmt: skip
flags.DEFINE_string(
    'flow_video', None,
    'Preprocessed flow .gif/.npy when --video is a preprocessed RGB clip (default: its '
    '*_flow twin). Not needed for raw videos.',
)  # fmt: skip
flags.DEFINE_string(
    'media_id', None, 'When --video is a .tfrecord shard: the video to use (default: first).'
)
flags.DEFINE_integer(
    'num_frames',
    model_inputs.MAX_TEST_FRAMES,
    'Frames to use (paper: whole ~10 s videos, 250 frames); 0 = the whole video, any '
    'length, exact, in bounded memory (inference/whole_video.py).',
    lower_bound=0,
)
flags.DEFINE_integer('top_k', 20, 'Number of classes printed.', lower_bound=1)
flags.DEFINE_string(
    'label_map', os.path.join('data', 'label_map.txt'), 'Class names, one per line.'
)
flags.DEFINE_enum(
    'compute_dtype', 'float32', ['float32', 'bfloat16'],
    'Convolution precision; bfloat16 is ~2x faster on CPUs with AVX512-BF16.',
)  # fmt: skip


def _in_repo(path):
    """Relative default paths are looked up in the repository if not in the cwd."""
    if os.path.isabs(path) or os.path.exists(path) or os.path.exists(path + '.index'):
        return path
    return files.repo_path(path)


def stream_checkpoints(eval_type, checkpoint, rgb_checkpoint, flow_checkpoint):
    """{stream: checkpoint path} for the requested evaluation."""
    streams = ['rgb', 'flow'] if eval_type == 'joint' else [eval_type]
    paths = {'rgb': rgb_checkpoint, 'flow': flow_checkpoint}
    if checkpoint:
        if eval_type == 'joint':
            raise ValueError(
                '--checkpoint is for one stream; use --rgb_checkpoint/--flow_checkpoint'
            )
        paths[eval_type] = checkpoint
    return {s: _in_repo(paths[s]) for s in streams}


def _flow_progress(total):
    from tqdm import tqdm

    bar = tqdm(total=total, desc='TV-L1 flow', unit='pair', file=sys.stderr, leave=False)
    return bar.update


def run(streams_to_ckpt, inputs, compute_dtype=tf.float32):
    """Sums the logits of each stream's model on its input.

    Returns:
      float32 logits [num_classes].

    Raises:
      ValueError: on a checkpoint problem.
    """
    total = None
    for stream, path in streams_to_ckpt.items():
        model, _ = model_io.load(path, compute_dtype=compute_dtype)
        logits, _ = model(tf.constant(inputs[stream][None]), is_training=False)
        total = logits[0] if total is None else total + logits[0]
    return total.numpy()


def check_checkpoints(streams_to_ckpt, num_labels, label_map):
    """Fails fast (before decoding a video) on checkpoints that cannot serve the run.

    Raises:
      ValueError: missing checkpoint, wrong input channels for its stream, class counts
        that differ between the streams or from the label map.
    """
    classes = set()
    for stream, path in streams_to_ckpt.items():
        prefix = model_io.resolve(path)
        num_classes, in_channels = model_io.read_spec(prefix)
        if in_channels != model_inputs.STREAM_CHANNELS[stream]:
            raise ValueError(
                f'{prefix}: expects {in_channels}-channel input, but the {stream} stream has '
                f'{model_inputs.STREAM_CHANNELS[stream]} (wrong --eval_type or checkpoint?)'
            )
        if num_classes is None:
            raise ValueError(f'{prefix}: checkpoint has no Logits layer')
        classes.add(num_classes)
    if len(classes) > 1:
        raise ValueError(f'the two streams have different numbers of classes: {sorted(classes)}')
    if num_labels not in classes:
        raise ValueError(f'{label_map}: {num_labels} labels for a {classes.pop()}-class model')


def report(logits, labels, top_k):
    """DeepMind's printout: norm, then `probability logit class` lines."""
    probs = tf.nn.softmax(logits).numpy()
    lines = [f'Norm of logits: {np.linalg.norm(logits):f}', '', 'Top classes and probabilities']
    for i in np.argsort(logits)[::-1][:top_k]:
        lines.append(f'{probs[i]!s} {logits[i]!s} {labels[i]}')
    return '\n'.join(lines)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(
            f'Unexpected arguments: {argv[1:]} (write boolean flags as --flag=false)'
        )
    try:
        ckpts = stream_checkpoints(
            FLAGS.eval_type, FLAGS.checkpoint, FLAGS.rgb_checkpoint, FLAGS.flow_checkpoint
        )
        labels = sources.read_label_map(_in_repo(FLAGS.label_map))
        check_checkpoints(ckpts, len(labels), FLAGS.label_map)
        streams = list(ckpts)
        video, flow_video = FLAGS.video, FLAGS.flow_video
        if video is None:
            video = samples.sample_path(streams[0])
            if len(streams) == 2:
                flow_video = flow_video or samples.sample_path('flow')
        if FLAGS.num_frames == 0:
            inputs = clip_streams.clip_inputs(video, streams, FLAGS.media_id, flow_video)
            logits = whole_video.clip_logits(
                ckpts, inputs, compute_dtype=tf.as_dtype(FLAGS.compute_dtype)
            )
        else:  # one frame to spare tells whether the video is longer
            inputs = model_inputs.load_streams(
                video, streams, FLAGS.num_frames + 1, flow_video, _flow_progress, FLAGS.media_id
            )
            inputs, cut = clip_streams.first_frames(inputs, FLAGS.num_frames, video)
            if cut:
                n = FLAGS.num_frames
                print(f'{video}: longer than {n} frames; using the first {n} '
                      '(--num_frames=0: the whole video)', file=sys.stderr)  # fmt: skip
            logits = run(ckpts, inputs, tf.as_dtype(FLAGS.compute_dtype))
    except ValueError as e:
        sys.exit(f'error: {e}')
    print(report(logits, labels, FLAGS.top_k))


if __name__ == '__main__':
    app.run(main)
