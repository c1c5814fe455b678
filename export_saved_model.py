"""Exports I3D as a TensorFlow SavedModel for TF Serving, TF Hub-style loading, any TF 2.

    python export_saved_model.py --rgb_checkpoint=checkpoints/rgb_scratch/model \
        [--flow_checkpoint=checkpoints/flow_scratch/model] --output=exported/i3d

writes the SavedModel folder `exported/i3d` and prints its signatures. Signatures, each on
float32 [batch, frames, height, width, C] clips (any frame count and size >= 1):

  rgb      rgb in [-1, 1] (C = 3)                  -> logits, probabilities, features
  flow     flow in [-1, 1] (C = 2)                 -> the same (with --flow_checkpoint)
  joint    rgb and flow: logits summed (two-stream fusion), features concatenated
  rgb_0_1  rgb in [0, 1] (rescaled inside to [-1, 1])    -> logits, probabilities, features
  default  rgb_input in [-1, 1] -> default (the logits averaged over time): exactly TF Hub
           i3d-kinetics-400's contract, so code written for the Hub module (FVD) gets its
           numbers; like the module, no rescaling (feed [-1, 1], not [0, 1]: README)
  class_names                                      -> class_names (from the asset file)

`features` is the classifier's input (1024 per stream: Mixed_5c through the Logits head's
[2,7,7] pool, averaged over time), so `features @ w + b == logits`. `serving_default` is
`joint` when both streams are given, else `rgb`. Clips longer than --chunk_frames run as
overlapping temporal chunks inside the graph (inference/whole_video.py's plan), so the outputs
equal one pass over the whole clip while the memory is bounded by the chunk, not the clip.
"""

import common.kernels  # noqa: F401  (before TensorFlow: see common/kernels.py)

# isort: split
import sys

from absl import app, flags

import zoo
from common import cli, files

FLAGS = flags.FLAGS
flags.DEFINE_string('rgb_checkpoint', None, 'RGB stream checkpoint.')
flags.DEFINE_string('flow_checkpoint', None, 'Flow stream checkpoint (optional).')
flags.DEFINE_string(
    'label_map',
    None,
    'Class names, one per line (default: those the training run recorded beside the '
    'checkpoint, else data/label_map.txt for a 400-class model, data/label_map_600.txt for '
    '600).',
)
flags.DEFINE_string('output', None, 'SavedModel folder to create.', required=True)
flags.DEFINE_bool('overwrite', False, 'Replace an existing --output.')
flags.DEFINE_integer(
    'chunk_frames',
    zoo.DEFAULT_CHUNK_FRAMES,
    'Frames per network call inside the signatures: longer clips run as overlapping chunks '
    '(exact, as extract_features.py --window=0); memory grows with it (I3D: ~9 MB per frame '
    "at 224x224, plus the input clip). At least the network's temporal receptive field "
    '(I3D: 110 frames; checked before the export).',
)


def main(argv):
    cli.reject_stray_arguments(argv)
    checkpoints = {
        s: p for s, p in (('rgb', FLAGS.rgb_checkpoint), ('flow', FLAGS.flow_checkpoint)) if p
    }
    try:
        if not checkpoints:
            raise ValueError('give --rgb_checkpoint and/or --flow_checkpoint')
        # The output first: building the models takes ~20 s.
        files.check_saved_model_output(FLAGS.output, FLAGS.overwrite)
        for stream, path in checkpoints.items():
            cli.check_checkpoint(f'{stream}_checkpoint', path)
        if FLAGS.label_map:
            cli.check_exists('label_map', files.here_or_in_repo(FLAGS.label_map))
        from inference import saved_model  # loads TensorFlow: after the cheap checks

        with saved_model.label_map_file(checkpoints, FLAGS.label_map) as label_map:
            module, signatures = saved_model.build(checkpoints, label_map, FLAGS.chunk_frames)
            saved_model.export(module, signatures, FLAGS.output, FLAGS.overwrite)
    except (ValueError, OSError) as e:
        sys.exit(f'error: {e}')
    print(f'{FLAGS.output}: signatures {", ".join(sorted(signatures))}')


if __name__ == '__main__':
    app.run(main)
