"""Classifies one clip with I3D, printing DeepMind's evaluate_sample.py report.

    python evaluate_sample.py                       # RGB stream on DeepMind's cricket clip
    python evaluate_sample.py --video=clip.mp4      # any video: 25 fps, resize, crop
    python evaluate_sample.py --eval_type=joint --imagenet_pretrained --video=clip.mp4
    python evaluate_sample.py --eval_type=rgb600    # Kinetics-600 (rgb_scratch_kin600)
    python evaluate_sample.py --explain=cam.mp4     # also Grad-CAM of the top class

prints

    Norm of logits: 83.241676

    Top classes and probabilities
    0.98856294 17.640398 playing cricket
    ...

`joint` sums the logits of the two streams (paper: two-stream fusion by averaging
logits; the argmax is the same). As in DeepMind's script, `--imagenet_pretrained` picks
rgb_imagenet + flow_imagenet and its absence rgb_scratch + flow_scratch; unlike DeepMind's,
it defaults to false, since only rgb_scratch installs offline (`make weights`); the others
come from `make weights-deepmind`. Raw videos go through `preprocess/` (TV-L1 flow for
the flow stream, its pairs on all cores); DeepMind's preprocessed .gif samples and .npy
arrays are used as is.
"""

import common.kernels  # noqa: F401  (before TensorFlow: see common/kernels.py)

# isort: split
import os
import sys

import numpy as np
import tensorflow as tf
from absl import app, flags

import zoo
from common import cli, files, flag_aliases, label_map
from preprocess import video as video_lib

# model_io, inference and preprocess.samples are imported where used: they load TensorFlow,
# and the flags are checked before that (common/startup.py).

EVAL_STREAMS = {'rgb': ['rgb'], 'rgb600': ['rgb'], 'flow': ['flow'], 'joint': ['rgb', 'flow']}

FLAGS = flags.FLAGS
flags.DEFINE_enum(
    'eval_type',
    'rgb',
    list(EVAL_STREAMS),
    'Stream(s) to run: rgb, flow, joint (sum of both), rgb600 (Kinetics-600 RGB).',
)
flags.DEFINE_boolean(
    'imagenet_pretrained',
    False,
    'Default checkpoints rgb_imagenet + flow_imagenet instead of rgb_scratch + flow_scratch '
    '(DeepMind defaults to true; only rgb_scratch installs offline).',
)
flags.DEFINE_string(
    'checkpoint', None, 'Checkpoint of the single stream run (rgb, rgb600 or flow eval_type).'
)
flags.DEFINE_string(
    'rgb_checkpoint',
    None,
    'RGB stream checkpoint (default: checkpoints/<rgb_scratch|rgb_imagenet|rgb_scratch_kin600>/'
    'model).',
)
flags.DEFINE_string(
    'flow_checkpoint',
    None,
    'Flow stream checkpoint (default: checkpoints/<flow_scratch|flow_imagenet>/model).',
)
flags.DEFINE_string(
    'video',
    None,
    'Raw video (.mp4, .avi, ...), shard (.tfrecord), DeepMind .gif or .npy. '
    'Default: the cricket sample.',
)
flags.DEFINE_string(
    'flow_video',
    None,
    'Preprocessed flow .gif/.npy when --video is a preprocessed RGB clip (default: its '
    '*_flow twin). Not needed for raw videos.',
)
flags.DEFINE_string(
    'media_id', None, 'When --video is a .tfrecord shard: the video to use (default: first).'
)
flags.DEFINE_integer(
    'max_frames',
    video_lib.MAX_TEST_FRAMES,
    'First N frames of the video (paper: whole ~10 s videos, 250 frames); 0 = the whole '
    'video, any length, exact, in bounded memory (inference/whole_video.py).',
    lower_bound=0,
)
flag_aliases.define('num_frames', 'max_frames')
flags.DEFINE_integer('top_k', 20, 'Number of classes printed.', lower_bound=1)
flags.DEFINE_string(
    'label_map',
    None,
    'Class names, one per line (default: those the training run recorded beside the '
    'checkpoint, else data/label_map.txt, or data/label_map_600.txt for a 600-class model).',
)
flags.DEFINE_enum(
    'compute_dtype',
    'float32',
    ['float32', 'bfloat16'],
    'Convolution precision; bfloat16 is ~2x faster on CPUs with AVX512-BF16.',
)
flags.DEFINE_string(
    'explain',
    None,
    'Also write the Grad-CAM of the class (--explain_class, default the top one) over the '
    'input frames, RGB and flow side by side, to this .mp4 or .gif (inference/explain.py).',
)
flags.DEFINE_string(
    'explain_class', None, 'With --explain: the class explained, an index or a name.'
)
flags.DEFINE_string(
    'explain_endpoint',
    None,
    "With --explain: the layer explained (default the network's feature endpoint, I3D's "
    'Mixed_5c; Mixed_4f: twice the resolution in space and time).',
)


def default_checkpoint(eval_type, stream, imagenet_pretrained):
    """Path of DeepMind's checkpoint for `stream` of `eval_type` (zoo.py's I3D releases),
    checked to be installed. No ImageNet-initialised Kinetics-600 model was released:
    rgb600 takes rgb_scratch_kin600 either way.

    Raises:
      ValueError: if it is not, naming the command that installs it.
    """
    classes = 600 if eval_type == 'rgb600' else 400
    fits = [r for r in zoo.get('i3d').released if (r.stream, r.classes) == (stream, classes)]
    name = next((r for r in fits if r.imagenet == bool(imagenet_pretrained)), fits[0]).name
    path = files.here_or_in_repo(os.path.join('checkpoints', name, 'model'))
    if not os.path.exists(path + '.index'):
        raise ValueError(
            f"{path}: no checkpoint (DeepMind's {name}); create it with: "
            + zoo.install_command(name, path)
        )
    return path


def stream_checkpoints(
    eval_type, checkpoint, rgb_checkpoint, flow_checkpoint, imagenet_pretrained=False
):
    """{stream: checkpoint path} for the requested evaluation (rgb600 runs the rgb stream)."""
    streams = EVAL_STREAMS[eval_type]
    paths = {'rgb': rgb_checkpoint, 'flow': flow_checkpoint}
    if checkpoint:
        if eval_type == 'joint':
            raise ValueError(
                '--checkpoint is for one stream; use --rgb_checkpoint/--flow_checkpoint'
            )
        paths[streams[0]] = checkpoint
    return {
        s: files.here_or_in_repo(paths[s])
        if paths[s]
        else default_checkpoint(eval_type, s, imagenet_pretrained)
        for s in streams
    }


def _with_progress(count, frames):
    """(count, frames) whose iteration shows a TV-L1 progress bar on stderr."""
    from tqdm import tqdm

    bar = tqdm(frames, total=count, desc='TV-L1 flow', unit='pair', file=sys.stderr, leave=False)
    return count, iter(bar)


def load_checkpoints(streams_to_ckpt, num_labels, label_map_path, compute_dtype='float32'):
    """The streams' models, loaded (and so checked) before any video is decoded.

    Cheap checks first (each file's index: input channels, classes), then one read of each
    checkpoint's weights, which finds any damage.

    Returns:
      {stream: model}.

    Raises:
      ValueError: missing or damaged checkpoint, wrong input channels for its stream,
        class counts that differ between the streams or from the label map.
    """
    import model_io

    compute_dtype = tf.as_dtype(compute_dtype)
    num_classes, _ = model_io.check_classifiers(streams_to_ckpt)
    if num_labels != num_classes:
        raise ValueError(f'{label_map_path}: {num_labels} labels for a {num_classes}-class model')
    return {
        stream: model_io.load(path, compute_dtype=compute_dtype, stream=stream)[0]
        for stream, path in streams_to_ckpt.items()
    }


def report(logits, labels, top_k):
    """DeepMind's printout: norm, then `probability logit class` lines."""
    probs = tf.nn.softmax(logits).numpy()
    lines = [f'Norm of logits: {np.linalg.norm(logits):f}', '', 'Top classes and probabilities']
    for i in np.argsort(logits)[::-1][:top_k]:
        lines.append(f'{probs[i]!s} {logits[i]!s} {labels[i]}')
    return '\n'.join(lines)


def main(argv):
    cli.reject_stray_arguments(argv)
    try:
        flag_aliases.apply()
        if not FLAGS.explain and (FLAGS.explain_class or FLAGS['explain_endpoint'].present):
            raise ValueError('--explain_class and --explain_endpoint need --explain=<.mp4|.gif>')
        for flag in ('video', 'flow_video', 'label_map'):
            cli.check_exists(flag, FLAGS[flag].value and files.here_or_in_repo(FLAGS[flag].value))
        ckpts = stream_checkpoints(
            FLAGS.eval_type,
            FLAGS.checkpoint,
            FLAGS.rgb_checkpoint,
            FLAGS.flow_checkpoint,
            FLAGS.imagenet_pretrained,
        )
        if FLAGS.label_map:
            label_map_path = files.here_or_in_repo(FLAGS.label_map)
            labels = label_map.read(label_map_path)
        else:
            from inference import class_names

            labels, label_map_path, _ = class_names.for_checkpoints(ckpts)
        from inference import explain, whole_video
        from preprocess import clip_input, samples

        if FLAGS.explain:  # cheap checks first: before any checkpoint or video is read
            explain.check_request(FLAGS.explain)
            explain_class = explain.resolve_class(FLAGS.explain_class, labels)
        dtype = tf.as_dtype(FLAGS.compute_dtype)
        models = load_checkpoints(ckpts, len(labels), label_map_path, dtype)
        streams = list(ckpts)
        video, flow_video = FLAGS.video, FLAGS.flow_video
        if video is None:
            video = samples.sample_path(streams[0])
            if len(streams) == 2:
                flow_video = flow_video or samples.sample_path('flow')
        inputs, cut = clip_input.clip_inputs(
            video, streams, FLAGS.media_id, flow_video, FLAGS.max_frames or None
        )
        if cut:
            print(
                f'{video}: longer than {FLAGS.max_frames} frames; using the first '
                f'{FLAGS.max_frames} (--max_frames=0: the whole video)',
                file=sys.stderr,
            )
        for name in inputs:
            if clip_input.computes(video, name):  # TV-L1 is the slow part
                inputs[name] = _with_progress(*inputs[name])
        if FLAGS.explain:
            logits, _ = explain.explain(
                models,
                inputs,
                FLAGS.explain,
                labels,
                explain_class,
                FLAGS.explain_endpoint,
            )
        else:
            logits = whole_video.clip_logits(models, inputs)
    except ValueError as e:
        sys.exit(f'error: {e}')
    print(report(logits, labels, FLAGS.top_k))


if __name__ == '__main__':
    app.run(main)
