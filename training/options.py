"""The command line shared by train_rgb.py and train_flow.py, read into a `Config`.

Each option is declared once, as a `Config` field with its default, help and bounds;
`define_flags` makes the flags from the fields (the two scripts differ only by their stream)
and `from_flags`, called from the scripts' `main`, reads them back. The recipes are absl
flagfiles under configs/ (`--flagfile=configs/kinetics_rgb.flags`).
"""

import dataclasses
import os
import sys

from absl import app, flags

import zoo
from common import cli, kernels
from preprocess import video
from training import data

OPTIMIZERS = ('adam', 'sgd')
# Paper (SGD momentum 0.9) learning rate; Adam's default is ours (not published).
DEFAULT_LR = {'sgd': 0.1, 'adam': 1e-4}
WEIGHT_DECAY = 1e-7  # DeepMind's README
DROPOUT_KEEP_PROB = 0.5  # paper / DeepMind's README
PAPER_FRAMES, PAPER_CROP = zoo.PAPER_SAMPLING.train_frames, zoo.PAPER_SAMPLING.crop
# Clip lengths whose training step crashes TensorFlow 2.21 with oneDNN (a segmentation fault
# in Conv3d_1a's filter gradient, 7 frames at stride 2): measured in a process per length,
# 1-13 frames at 16, 32, 64 and 224 px; only 5 crashed, and not with Eigen's kernels.
ONEDNN_CRASHING_FRAMES = (5,)


def _option(
    default=dataclasses.MISSING,
    help='',
    lower=None,
    upper=None,
    choices=None,
    stream=None,
    resume=None,
):
    """A Config field and its flag: default, help, bounds, enum choices, (`stream`) the
    attribute of the stream record whose value is the flag's default instead, and what a
    resumed run may do with it (`resume`): 'fixed' (stored; a resume must keep it), 'free'
    (stored; may change), None (not stored as given: recorded in a derived form, e.g. the
    learning-rate options as the schedule, or not at all)."""
    metadata = dict(
        help=help, lower=lower, upper=upper, choices=choices, stream=stream, resume=resume
    )
    return dataclasses.field(default=default, metadata=metadata)


def stored_fields(resume):
    """The names of the Config fields stored as given, 'fixed' or 'free' on resume."""
    return tuple(f.name for f in dataclasses.fields(Config) if f.metadata['resume'] == resume)


@dataclasses.dataclass
class Config:
    """Everything a training run needs: each field is a flag of the same name, declared here
    once (`define_flags` makes the flags from these fields)."""

    train_data: str = _option(help='Training shards: glob(s), comma-separated.')
    model_dir: str = _option(help='Checkpoints and TensorBoard summaries go here.')
    network: str = _option('i3d', 'The network to train, by its name in zoo.py.', resume='fixed')
    eval_data: str | None = _option(
        None, 'Shards evaluated every --eval_every steps and at the end.', resume='free'
    )
    init_checkpoint: str | None = _option(
        None,
        'Checkpoint to fine-tune from (e.g. checkpoints/rgb_scratch/model); the logits are '
        'skipped when the class count differs. Ignored when --model_dir holds a checkpoint.',
        resume='free',
    )
    num_classes: int = _option(
        0, 'Classes; 0 = the lines of label_map.txt beside the shards.', lower=0
    )
    # Outside the flags (library use, tests) a short run; the flags take the stream's
    # schedule (paper: RGB 115k, flow 155k).
    train_steps: int = _option(
        100,
        'Total steps (paper: RGB 115k, flow 155k).',
        lower=1,
        stream='train_steps',
        resume='free',
    )
    batch_size: int = _option(
        6, 'Global batch: clips per step over all replicas.', lower=1, resume='fixed'
    )
    num_frames: int = _option(
        PAPER_FRAMES, 'Frames per training clip (paper: 64).', lower=1, resume='fixed'
    )
    crop_size: int = _option(
        PAPER_CROP, 'Crop side in pixels (paper: 224).', lower=1, resume='fixed'
    )
    optimizer: str = _option(
        'adam', 'adam (the card) or sgd (momentum 0.9, paper).', choices=OPTIMIZERS, resume='fixed'
    )
    learning_rate: float | None = _option(
        None, 'Initial rate; default 0.1 for sgd (paper), 1e-4 for adam.'
    )
    lr_boundaries: tuple[int, ...] = _option(
        (),
        'Steps where the rate changes (piecewise constant); empty = constant.',
        stream='lr_boundaries',
    )
    lr_values: tuple[float, ...] = _option(
        (), 'Rates before/between/after the boundaries; default /10 at each.'
    )
    weight_decay: float = _option(
        WEIGHT_DECAY, 'L2 on conv weights: wd * sum(w^2) / 2.', lower=0, resume='fixed'
    )
    dropout_keep_prob: float = _option(
        DROPOUT_KEEP_PROB, 'Before the classifier.', lower=0, upper=1, resume='fixed'
    )
    seed: int | None = _option(None, 'Makes init, data order, crops and dropout reproducible.')
    deterministic: bool = _option(
        False,
        'Bit-reproducible compute (TensorFlow op determinism): with --seed, two runs and a '
        'killed-and-resumed run give bit-equal losses and weights (see README).',
        resume='free',
    )
    strategy: str = _option(
        'mirrored',
        'mirrored: local GPUs (else CPU); multi_worker: hosts from TF_CONFIG.',
        choices=('mirrored', 'multi_worker', 'one_device'),
        resume='free',
    )
    cpu_replicas: int = _option(
        1,
        'Split the CPU into N logical devices (N replicas; tests, demos).',
        lower=1,
        resume='free',
    )
    compute_dtype: str = _option(
        'float32', 'Convolution dtype.', choices=('float32', 'bfloat16'), resume='fixed'
    )
    freeze_backbone: bool = _option(
        False, 'Train only the logits (paper "fixed features"; BN frozen).', resume='fixed'
    )
    freeze_bn: bool = _option(
        False, 'BatchNorm in inference mode while training (offsets still train).', resume='fixed'
    )
    precise_bn_batches: int = _option(
        0,
        'Before each evaluation and the final save, recompute the BN moving statistics '
        'over this many training batches (0 = keep the moving averages).',
        lower=0,
        resume='free',
    )
    sync_batch_norm: bool = _option(False, 'Batch statistics over all replicas.', resume='fixed')
    eval_every: int = _option(
        0, 'Evaluate --eval_data every N steps (0 = at the end).', lower=0, resume='free'
    )
    checkpoint_every: int = _option(
        1000, 'Save every N steps (and always at the end).', lower=1, resume='free'
    )
    keep_checkpoints: int = _option(5, 'Checkpoints kept in --model_dir.', lower=1, resume='free')
    summary_every: int = _option(10, 'TensorBoard summaries every N steps.', lower=1, resume='free')
    eval_max_frames: int = _option(
        video.MAX_TEST_FRAMES, 'Evaluation: first N frames of each video.', lower=1, resume='free'
    )
    shuffle_buffer: int = _option(
        0,
        f'Videos in the shuffle buffer; 0 = one per shard, at least {data.SHUFFLE_BUFFER}.',
        lower=0,
        resume='fixed',
    )

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
        if self.network not in zoo.names():
            raise ValueError(f'--network={self.network}: not in zoo.py ({", ".join(zoo.names())})')
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


REQUIRED = ('train_data', 'model_dir')


def define_flags(stream, flag_values=flags.FLAGS):
    """Defines a flag per `Config` field (its default, help, bounds and choices) on
    `flag_values`; defaults that differ per stream come from `stream`."""
    for field in dataclasses.fields(Config):
        meta = field.metadata
        default = getattr(stream, meta['stream']) if meta['stream'] else field.default
        if default is dataclasses.MISSING:
            default = None
        bounds = {f'{k}_bound': meta[k] for k in ('lower', 'upper') if meta[k] is not None}
        if meta['choices']:
            flags.DEFINE_enum(
                field.name, default, meta['choices'], meta['help'], flag_values=flag_values
            )
        elif field.type is bool:
            flags.DEFINE_bool(field.name, default, meta['help'], flag_values=flag_values)
        elif field.type in (int, int | None):
            flags.DEFINE_integer(
                field.name, default, meta['help'], **bounds, flag_values=flag_values
            )
        elif field.type in (float, float | None):
            flags.DEFINE_float(field.name, default, meta['help'], **bounds, flag_values=flag_values)
        elif str(field.type).startswith('tuple'):
            flags.DEFINE_list(
                field.name, [str(v) for v in default], meta['help'], flag_values=flag_values
            )
        else:
            flags.DEFINE_string(field.name, default, meta['help'], flag_values=flag_values)
    flags.mark_flags_as_required(list(REQUIRED), flag_values=flag_values)


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
