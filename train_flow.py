"""Trains (or fine-tunes) the optical-flow stream of I3D on shards of preprocess.build_shards.

    python train_flow.py --train_data='data/ucf101/train-*.tfrecord' \
        --eval_data='data/ucf101/test-*.tfrecord' --model_dir=runs/ucf101_flow \
        --init_checkpoint=checkpoints/flow_imagenet/model --train_steps=5000

shows a progress bar (step, loss, clips/s, ETA), writes checkpoints, TensorBoard
summaries and train_log.jsonl (one line per step) to --model_dir, prints the evaluation
of --eval_data and the last checkpoint. Re-run the same command after a crash to resume.
All flags: training/options.py (or --helpfull); the loop: training/loop.py.
"""

import common.kernels  # noqa: F401  (before TensorFlow: see common/kernels.py)

# isort: split
from absl import app, flags

from preprocess import streams
from training import options

STREAM = streams.FLOW
options.define_flags(STREAM)


def main(argv):
    options.check(argv, flags.FLAGS)
    from training import loop  # loads TensorFlow: after the cheap checks

    loop.cli_main(argv, STREAM, flags.FLAGS)


if __name__ == '__main__':
    app.run(main)
