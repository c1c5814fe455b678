"""The command line shared by train_rgb.py and train_flow.py, read into a `Config`.

Flags are defined here once (the two scripts differ only by their stream) and read
only by `from_flags`, called from the scripts' `main`.
"""

import dataclasses
import os
import sys

from absl import app, flags

from common import cli, kernels
from preprocess import video
from training import data

OPTIMIZERS = ('adam', 'sgd')
# Paper (SGD momentum 0.9) learning rate; Adam's default is ours (not published).
DEFAULT_LR = {'sgd': 0.1, 'adam': 1e-4}
WEIGHT_DECAY = 1e-7  # DeepMind's README
DROPOUT_KEEP_PROB = 0.5  # paper / DeepMind's README
PAPER_FRAMES, PAPER_CROP = 64, 224
# Clip lengths whose training step crashes TensorFlow 2.21 with oneDNN (a segmentation fault
# in Conv3d_1a's filter gradient, 7 frames at stride 2): measured in a process per length,
# 1-13 frames at 16, 32, 64 and 224 px; only 5 crashed, and not with Eigen's kernels.
ONEDNN_CRASHING_FRAMES = (5,)


@dataclasses.dataclass
class Config:
    """Everything a training run needs; field names are the flag names."""

    train_data: str
    model_dir: str
    eval_data: str | None = None
    init_checkpoint: str | None = None
    num_classes: int = 0
    train_steps: int = 100
    batch_size: int = 6
    num_frames: int = PAPER_FRAMES
    crop_size: int = PAPER_CROP
    optimizer: str = 'adam'
    learning_rate: float | None = None
    lr_boundaries: tuple[int, ...] = ()
    lr_values: tuple[float, ...] = ()
    weight_decay: float = WEIGHT_DECAY
    dropout_keep_prob: float = DROPOUT_KEEP_PROB
    seed: int | None = None
    deterministic: bool = False
    strategy: str = 'mirrored'
    cpu_replicas: int = 1
    compute_dtype: str = 'float32'
    freeze_backbone: bool = False
    freeze_bn: bool = False
    precise_bn_batches: int = 0
    sync_batch_norm: bool = False
    eval_every: int = 0
    checkpoint_every: int = 1000
    keep_checkpoints: int = 5
    summary_every: int = 10
    eval_max_frames: int = video.MAX_TEST_FRAMES
    shuffle_buffer: int = 0  # 0 = data.shuffle_buffer_size's: max(32, number of shards)

    def schedule(self):
        """(boundaries, values) of the piecewise-constant learning rate."""
        base = self.learning_rate or DEFAULT_LR[self.optimizer]
        values = self.lr_values or tuple(base * 0.1**i for i in range(len(self.lr_boundaries) + 1))
        if len(values) != len(self.lr_boundaries) + 1:
            raise ValueError(
                f'--lr_values needs {len(self.lr_boundaries) + 1} values for '
                f'{len(self.lr_boundaries)} --lr_boundaries, got {len(values)}'
            )
        if list(self.lr_boundaries) != sorted(set(self.lr_boundaries)):
            raise ValueError(f'--lr_boundaries must increase: {self.lr_boundaries}')
        return tuple(self.lr_boundaries), tuple(values)

    def validate(self):
        """Refuses settings that contradict each other (before any work).

        Raises:
          ValueError: naming the flags.
        """
        frozen = [f'--{n}' for n in ('freeze_bn', 'freeze_backbone') if getattr(self, n)]
        if frozen and self.sync_batch_norm:
            # Sync BN computes batch moments, frozen BN uses the moving ones: both cannot hold.
            raise ValueError(
                f'--sync_batch_norm contradicts {frozen[0]} (BatchNorm in inference mode '
                'uses no batch statistics to synchronize); drop one of them'
            )
        if frozen and self.precise_bn_batches:
            raise ValueError(
                f'--precise_bn_batches={self.precise_bn_batches} would recompute the BatchNorm '
                f'statistics that {frozen[0]} keeps fixed, so the saved model would differ from '
                'the trained one; drop one of them'
            )
        onednn = os.environ.get(kernels.VARIABLE, '1') != '0'
        if onednn and self.num_frames in ONEDNN_CRASHING_FRAMES:
            n = self.num_frames
            raise ValueError(
                f"--num_frames={n}: TensorFlow's oneDNN filter gradient of the first "
                f'convolution (7 frames, stride 2) crashes the process on {n}-frame clips; '
                f'use {n - 1} or {n + 1}, or set TF_ENABLE_ONEDNN_OPTS=0'
            )
        if self.deterministic and self.seed is None:  # else each run draws its own seed
            raise ValueError('--deterministic needs --seed (a run without one draws its own)')
        if self.strategy == 'multi_worker' and self.seed is None:
            # Every worker must read the same record order (training/data.py).
            raise ValueError(
                '--strategy=multi_worker needs --seed: every worker must draw the same '
                'record order, crops and dropout'
            )
        self.schedule()


def define_flags(stream):
    """Defines the training flags; defaults that differ per stream come from `stream`."""
    flags.DEFINE_string('train_data', None, 'Training shards: glob(s), comma-separated.')
    flags.DEFINE_string('model_dir', None, 'Checkpoints and TensorBoard summaries go here.')
    flags.mark_flags_as_required(['train_data', 'model_dir'])
    flags.DEFINE_string(
        'eval_data', None, 'Shards evaluated every --eval_every steps and at the end.'
    )
    flags.DEFINE_string(
        'init_checkpoint',
        None,
        'Checkpoint to fine-tune from (e.g. checkpoints/rgb_scratch/model); the logits are '
        'skipped when the class count differs. Ignored when --model_dir holds a checkpoint.',
    )
    flags.DEFINE_integer(
        'num_classes', 0, 'Classes; 0 = the lines of label_map.txt beside the shards.', 0
    )
    flags.DEFINE_integer(
        'train_steps', stream.train_steps, 'Total steps (paper: RGB 115k, flow 155k).', 1
    )
    flags.DEFINE_integer('batch_size', 6, 'Global batch: clips per step over all replicas.', 1)
    flags.DEFINE_integer('num_frames', PAPER_FRAMES, 'Frames per training clip (paper: 64).', 1)
    flags.DEFINE_integer('crop_size', PAPER_CROP, 'Crop side in pixels (paper: 224).', 1)
    flags.DEFINE_enum(
        'optimizer', 'adam', OPTIMIZERS, 'adam (the card) or sgd (momentum 0.9, paper).'
    )
    flags.DEFINE_float(
        'learning_rate', None, 'Initial rate; default 0.1 for sgd (paper), 1e-4 for adam.'
    )
    flags.DEFINE_list(
        'lr_boundaries',
        [str(b) for b in stream.lr_boundaries],
        'Steps where the rate changes (piecewise constant); empty = constant.',
    )
    flags.DEFINE_list(
        'lr_values', [], 'Rates before/between/after the boundaries; default /10 at each.'
    )
    flags.DEFINE_float('weight_decay', WEIGHT_DECAY, 'L2 on conv weights: wd * sum(w^2) / 2.', 0)
    flags.DEFINE_float('dropout_keep_prob', DROPOUT_KEEP_PROB, 'Before the classifier.', 0, 1)
    flags.DEFINE_integer('seed', None, 'Makes init, data order, crops and dropout reproducible.')
    flags.DEFINE_bool(
        'deterministic',
        False,
        'Bit-reproducible compute (TensorFlow op determinism): with --seed, two runs and a '
        'killed-and-resumed run give bit-equal losses and weights (see README).',
    )
    flags.DEFINE_enum(
        'strategy',
        'mirrored',
        ['mirrored', 'multi_worker', 'one_device'],
        'mirrored: local GPUs (else CPU); multi_worker: hosts from TF_CONFIG.',
    )
    flags.DEFINE_integer(
        'cpu_replicas', 1, 'Split the CPU into N logical devices (N replicas; tests, demos).', 1
    )
    flags.DEFINE_enum('compute_dtype', 'float32', ['float32', 'bfloat16'], 'Convolution dtype.')
    flags.DEFINE_bool(
        'freeze_backbone', False, 'Train only the logits (paper "fixed features"; BN frozen).'
    )
    flags.DEFINE_bool(
        'freeze_bn', False, 'BatchNorm in inference mode while training (offsets still train).'
    )
    flags.DEFINE_integer(
        'precise_bn_batches',
        0,
        'Before each evaluation and the final save, recompute the BN moving statistics '
        'over this many training batches (0 = keep the moving averages).',
        0,
    )
    flags.DEFINE_bool('sync_batch_norm', False, 'Batch statistics over all replicas.')
    flags.DEFINE_integer('eval_every', 0, 'Evaluate --eval_data every N steps (0 = at the end).', 0)
    flags.DEFINE_integer('checkpoint_every', 1000, 'Save every N steps (and always at the end).', 1)
    flags.DEFINE_integer('keep_checkpoints', 5, 'Checkpoints kept in --model_dir.', 1)
    flags.DEFINE_integer('summary_every', 10, 'TensorBoard summaries every N steps.', 1)
    flags.DEFINE_integer(
        'eval_max_frames', video.MAX_TEST_FRAMES, 'Evaluation: first N frames of each video.', 1
    )
    flags.DEFINE_integer(
        'shuffle_buffer',
        0,
        f'Videos in the shuffle buffer; 0 = one per shard, at least {data.SHUFFLE_BUFFER}.',
        0,
    )


def from_flags(argv, values):
    """Rejects stray argv; returns the Config of the parsed flags `values`.

    Raises:
      app.UsageError: stray arguments (e.g. `--flag false` with a space).
    """
    cli.reject_stray_arguments(argv)
    fields = {f.name for f in dataclasses.fields(Config)}
    config = Config(**{name: values[name].value for name in fields})
    try:
        config.lr_boundaries = tuple(int(b) for b in config.lr_boundaries)
        config.lr_values = tuple(float(v) for v in config.lr_values)
    except ValueError as e:
        raise app.UsageError(f'--lr_boundaries/--lr_values: {e}') from None
    return config


def check(argv, values):
    """What can be refused before the loop loads TensorFlow (common/startup.py): stray
    arguments, contradicting flags, data patterns that match nothing. Exits with one
    `error:` line; the loop checks all again."""
    config = from_flags(argv, values)
    try:
        config.validate()
        data.list_files(config.train_data)
        if config.eval_data:
            data.list_files(config.eval_data)
    except ValueError as e:
        sys.exit(f'error: {e}')
