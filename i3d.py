"""Inflated 3D ConvNet (I3D), Inception-v1 inflated, as a Sonnet 2 module.

A faithful port of DeepMind's `kinetics-i3d` model (Carreira & Zisserman, CVPR 2017):
same endpoints, layer sizes, padding, pooling, BatchNorm settings and variable layout
(`inception_i3d/<endpoint>/<branch>/<unit>/conv_3d/w`, `.../batch_norm/...`), so that
DeepMind's checkpoints map onto it one name at a time (see `weights/names.py`).

    model = InceptionI3d(num_classes=400, final_endpoint='Logits')
    logits, end_points = model(clip, is_training=False)   # clip: [N, T, 224, 224, 3]

Differences from the original (also listed in README.md):
- The Logits average pool is clamped to the feature map, so clips shorter than 9 frames
  (or smaller than 224 px) still give logits; identical whenever the original works.
- Dropout is applied only when `is_training` is true.
- `compute_dtype=tf.bfloat16` runs convolutions in bfloat16 (variables stay float32).
- Max pools send each output's gradient to one maximum of its window on every path;
  TensorFlow's CPU kernel sends it to all of them (see `layers.pooling`).
- Training-mode BatchNorm runs as one fused kernel (the same function, see `layers.batch_norm`).
- bfloat16 filter gradients over inputs shorter than the kernel are computed in float32,
  where oneDNN's bfloat16 kernel is wrong (see `layers.conv`).
"""

import typing

import sonnet as snt
import tensorflow as tf

from layers import pooling  # looked up at each call: benchmarks.train_speed swaps max_pool
from layers.batch_norm import BatchNorm, batch_norm
from layers.conv import conv3d

# The endpoints with a temporal grid, in order; the last is the classifier's input.
FEATURE_ENDPOINTS = (
    'Conv3d_1a_7x7',
    'MaxPool3d_2a_3x3',
    'Conv3d_2b_1x1',
    'Conv3d_2c_3x3',
    'MaxPool3d_3a_3x3',
    'Mixed_3b',
    'Mixed_3c',
    'MaxPool3d_4a_3x3',
    'Mixed_4b',
    'Mixed_4c',
    'Mixed_4d',
    'Mixed_4e',
    'Mixed_4f',
    'MaxPool3d_5a_2x2',
    'Mixed_5b',
    'Mixed_5c',
)
VALID_ENDPOINTS = (*FEATURE_ENDPOINTS, 'Logits', 'Predictions')

# Channels (b0, b1a, b1b, b2a, b2b, b3) of each Inception block, from DeepMind's i3d.py.
MIXED_CHANNELS = {
    'Mixed_3b': (64, 96, 128, 16, 32, 32),
    'Mixed_3c': (128, 128, 192, 32, 96, 64),
    'Mixed_4b': (192, 96, 208, 16, 48, 64),
    'Mixed_4c': (160, 112, 224, 24, 64, 64),
    'Mixed_4d': (128, 128, 256, 24, 64, 64),
    'Mixed_4e': (112, 144, 288, 32, 64, 64),
    'Mixed_4f': (256, 160, 320, 32, 128, 128),
    'Mixed_5b': (256, 160, 320, 32, 128, 128),
    'Mixed_5c': (384, 192, 384, 48, 128, 128),
}

# Max pools between stages: (window, stride) over (T, H, W); all SAME padding.
POOLS = {
    'MaxPool3d_2a_3x3': ((1, 3, 3), (1, 2, 2)),
    'MaxPool3d_3a_3x3': ((1, 3, 3), (1, 2, 2)),
    'MaxPool3d_4a_3x3': ((3, 3, 3), (2, 2, 2)),
    'MaxPool3d_5a_2x2': ((2, 2, 2), (2, 2, 2)),
}

# Stem convolutions: (output channels, kernel, stride).
STEM_CONVS = {
    'Conv3d_1a_7x7': (64, (7, 7, 7), (2, 2, 2)),
    'Conv3d_2b_1x1': (64, (1, 1, 1), (1, 1, 1)),
    'Conv3d_2c_3x3': (192, (3, 3, 3), (1, 1, 1)),
}

LOGITS_POOL = (2, 7, 7)  # Average pool before the classifier, stride 1, VALID.
# Temporal (kernel, stride) of an Inception block: 3x3x3 convs and branch 3's 3x3x3 pool.
_MIXED_TEMPORAL = (3, 1)


def pool_weights(length, window: int) -> tf.Tensor:
    """Weight of each of `length` positions in the mean of all VALID stride-1 windows of
    `window` (clamped to `length`, as `logits_pool`): the number of windows covering it /
    (windows x window). Works on dynamic lengths (a scalar tensor)."""
    window = tf.minimum(window, length)
    windows = length - window + 1
    i = tf.range(length)
    covering = tf.minimum(i, windows - 1) - tf.maximum(0, i - window + 1) + 1
    return tf.cast(covering, tf.float32) / tf.cast(windows * window, tf.float32)


def classifier_input(mixed_5c: tf.Tensor, time_weights: tf.Tensor | None = None) -> tf.Tensor:
    """The features the classifier sees: `logits_pool`, then the mean over the pooled time
    steps (so a clip's first and last Mixed_5c steps weigh half) and positions (more than
    one only above 224 px), as one weighted sum (`pool_weights`: any shape, also unknown
    under `tf.function`): float32 [N, C]. The classifier is a 1x1x1 conv and the Logits
    layer ends with the mean over time, so `logits == classifier_input(mixed_5c) @ w + b`
    (w, b = `InceptionI3d.logits_variables`, w as [C, classes]). What pytorch-i3d's
    `extract_features` and video_features call the I3D features.

    This is the one statement of the Logits head's pooling rule outside `Logits` itself:
    whole-video inference, the SavedModel's chunked pass and Grad-CAM use it on pieces of a
    long clip.

    Args:
      mixed_5c: [N, T, H, W, C] (a whole clip's, or a piece of one).
      time_weights: None (the clip is whole: `pool_weights(T)`), or float32 [T]: the
        piece's rows of the whole clip's `pool_weights`, so that the pieces' results sum
        to the whole clip's.
    """
    x = tf.cast(mixed_5c, tf.float32)
    shape = tf.shape(x)
    if time_weights is None:
        time_weights = pool_weights(shape[1], LOGITS_POOL[0])
    space = [pool_weights(shape[d + 1], LOGITS_POOL[d]) for d in (1, 2)]
    return tf.einsum('nthwc,t,h,w->nc', x, time_weights, *space)


# The names of tracked attributes below (`_bn`, `_units`, `_branches`, `_conv`, `layers`)
# are part of the checkpoint format (`tf.train.Checkpoint` keys such as
# `model/layers/Logits/_conv/w`): renaming one breaks every saved checkpoint, so they stay
# as they are and the public names are properties. tests/test_model_io.py pins them.


class Unit3D(snt.Module):
    """Conv3D (SAME, no bias) -> BatchNorm (offset only) -> ReLU, as in DeepMind's Unit3D.

    Not `snt.Conv3D`: that creates its kernel in the input's dtype, and bfloat16 compute
    must keep float32 variables.
    """

    def __init__(
        self,
        output_channels: int,
        kernel_shape: tuple[int, int, int] = (1, 1, 1),
        stride: tuple[int, int, int] = (1, 1, 1),
        activation_fn=tf.nn.relu,
        use_batch_norm: bool = True,
        use_bias: bool = False,
        sync_batch_norm: bool = False,
        name: str = 'unit_3d',
    ):
        super().__init__(name=name)
        self._output_channels = output_channels
        self._kernel_shape = tuple(kernel_shape)
        self._stride = tuple(stride)
        self._activation_fn = activation_fn
        self._use_bias = use_bias
        self._bn = batch_norm(cross_replica=sync_batch_norm) if use_batch_norm else None

    @property
    def kernel_shape(self) -> tuple[int, int, int]:
        return self._kernel_shape

    @property
    def stride(self) -> tuple[int, int, int]:
        return self._stride

    @property
    def use_bias(self) -> bool:
        """Whether the convolution has a bias `b` (only the Logits unit)."""
        return self._use_bias

    @property
    def batch_norm(self) -> BatchNorm | None:
        """The BatchNorm after the convolution (`offset`, `moving_mean`, ...), or None."""
        return self._bn

    @snt.once
    def _create_variables(self, inputs):
        in_channels = inputs.shape[-1]
        if in_channels is None:
            raise ValueError(f'{self.name}: the channel dimension of the input must be known.')
        shape = (*self._kernel_shape, in_channels, self._output_channels)
        fan_in = in_channels
        for k in self._kernel_shape:
            fan_in *= k
        # Sonnet 1's default conv initializer: truncated normal, stddev 1/sqrt(fan_in).
        init = snt.initializers.TruncatedNormal(stddev=fan_in**-0.5)
        with tf.name_scope('conv_3d'):
            self.w = tf.Variable(init(shape, tf.float32), name='w')
            if self._use_bias:
                self.b = tf.Variable(tf.zeros((self._output_channels,)), name='b')

    def __call__(
        self, inputs: tf.Tensor, is_training: bool, test_local_stats: bool = False, moments=None
    ) -> tf.Tensor:
        """Conv, BatchNorm (`BatchNorm.__call__`'s arguments), activation."""
        self._create_variables(inputs)
        dtype = inputs.dtype
        net = conv3d(inputs, tf.cast(self.w, dtype), self._stride)
        if self._use_bias:
            net = tf.nn.bias_add(net, tf.cast(self.b, dtype))
        if self._bn is not None:  # in the compute dtype; its statistics are float32
            net = self._bn(net, is_training, test_local_stats, moments)
        if self._activation_fn is not None:
            net = self._activation_fn(net)
        return net


class Branch(snt.Module):
    """A chain of units, optionally behind a 3x3x3 stride-1 max pool (Inception branch 3)."""

    def __init__(
        self, units, pool_first: bool = False, sync_batch_norm: bool = False, name: str = 'branch'
    ):
        super().__init__(name=name)
        self._pool_first = pool_first
        self._units = [Unit3D(c, k, sync_batch_norm=sync_batch_norm, name=n) for n, c, k in units]

    @property
    def pool_first(self) -> bool:
        return self._pool_first

    @property
    def units(self) -> tuple[Unit3D, ...]:
        return tuple(self._units)

    def __call__(self, inputs: tf.Tensor, *batch_norm_args) -> tf.Tensor:
        """`batch_norm_args`: (is_training, test_local_stats, moments) of `Unit3D`."""
        net = pooling.max_pool(inputs, (3, 3, 3), (1, 1, 1)) if self._pool_first else inputs
        for unit in self._units:
            net = unit(net, *batch_norm_args)
        return net


class MixedBlock(snt.Module):
    """Inception block: four branches concatenated on channels."""

    def __init__(self, channels: tuple[int, ...], name: str, sync_batch_norm: bool = False):
        super().__init__(name=name)
        b0, b1a, b1b, b2a, b2b, b3 = channels
        # The released checkpoints name Mixed_5b's second 3x3 conv `Conv3d_0a_3x3`
        # (a typo in the original code); every other block says `Conv3d_0b_3x3`.
        b2_conv = 'Conv3d_0a_3x3' if name == 'Mixed_5b' else 'Conv3d_0b_3x3'
        sync = {'sync_batch_norm': sync_batch_norm}
        self._branches = [
            Branch([('Conv3d_0a_1x1', b0, (1, 1, 1))], name='Branch_0', **sync),
            Branch(
                [('Conv3d_0a_1x1', b1a, (1, 1, 1)), ('Conv3d_0b_3x3', b1b, (3, 3, 3))],
                name='Branch_1',
                **sync,
            ),
            Branch(
                [('Conv3d_0a_1x1', b2a, (1, 1, 1)), (b2_conv, b2b, (3, 3, 3))],
                name='Branch_2',
                **sync,
            ),
            Branch([('Conv3d_0b_1x1', b3, (1, 1, 1))], pool_first=True, name='Branch_3', **sync),
        ]

    @property
    def branches(self) -> tuple[Branch, ...]:
        return tuple(self._branches)

    def __call__(self, inputs: tf.Tensor, *batch_norm_args) -> tf.Tensor:
        """`batch_norm_args`: (is_training, test_local_stats, moments) of `Unit3D`."""
        return tf.concat([b(inputs, *batch_norm_args) for b in self._branches], axis=4)


def logits_pool(net: tf.Tensor) -> tf.Tensor:
    """The Logits layer's [2, 7, 7] stride-1 VALID average pool, clamped to the feature map.

    The original fails on clips shorter than 9 frames (kinetics-i3d #80) and on inputs
    below 224 px; here a dimension shorter than its window is averaged whole (one output
    position), and larger ones are pooled exactly as DeepMind does. The clamp must not
    depend on static shapes, which are unknown in a function traced with `None`
    dimensions (`reduce_retracing=True`): such a dimension is padded to the window with
    copies of its mean, which leaves every window mean equal to the mean of the real
    positions, so one static pool serves every size, traced or eager.

    Args:
      net: Mixed_5c, [batch, T, H, W, C] with T, H, W >= 1 (known or not).

    Returns:
      [batch, max(T - 1, 1), max(H - 6, 1), max(W - 6, 1), C].
    """
    for axis, window in zip((1, 2, 3), LOGITS_POOL, strict=True):
        size = net.shape[axis]
        if size is not None and size >= window:
            continue  # the original pool (the padding below would add nothing)
        missing = window - size if size is not None else tf.maximum(window - tf.shape(net)[axis], 0)
        mean = tf.reduce_mean(tf.cast(net, tf.float32), axis=axis, keepdims=True)
        net = tf.concat([net, tf.repeat(tf.cast(mean, net.dtype), missing, axis=axis)], axis=axis)
    return tf.nn.avg_pool3d(net, (1, *LOGITS_POOL, 1), (1, 1, 1, 1, 1), padding='VALID')


class Logits(snt.Module):
    """Average pool [2,7,7] VALID -> dropout -> 1x1x1 conv with bias -> mean over time."""

    # Checkpoint key of the classifier kernel below the model's key (see the note above).
    KERNEL_KEY = 'layers/Logits/_conv/w'

    def __init__(self, num_classes: int, spatial_squeeze: bool, name: str = 'Logits'):
        super().__init__(name=name)
        self._spatial_squeeze = spatial_squeeze
        self._conv = Unit3D(
            num_classes,
            activation_fn=None,
            use_batch_norm=False,
            use_bias=True,
            name='Conv3d_0c_1x1',
        )

    @property
    def conv(self) -> Unit3D:
        """The classifier: a 1x1x1 convolution with bias `b`, no BatchNorm."""
        return self._conv

    def __call__(
        self,
        inputs: tf.Tensor,
        is_training: bool,
        dropout_keep_prob: float = 1.0,
        dropout_seed: tf.Tensor | None = None,
    ) -> tf.Tensor:
        """Logits [batch, classes] (or [batch, h, w, classes] without `spatial_squeeze`).

        Args:
          inputs: Mixed_5c.
          is_training: Python bool; dropout only when true.
          dropout_keep_prob: keep probability of the dropout.
          dropout_seed: None (a stateful `tf.nn.dropout`), or a stateless seed [2]: the
            mask then depends on the seed only (a resumed run replays it).
        """
        net = logits_pool(inputs)
        if is_training and dropout_keep_prob < 1.0:
            rate = 1.0 - dropout_keep_prob
            if dropout_seed is None:
                net = tf.nn.dropout(net, rate=rate)
            else:
                net = tf.nn.experimental.stateless_dropout(net, rate=rate, seed=dropout_seed)
        logits = tf.cast(self._conv(net, is_training), tf.float32)
        if self._spatial_squeeze:
            logits = tf.squeeze(logits, (2, 3), name='SpatialSqueeze')
        return tf.reduce_mean(logits, axis=1)


class _Call(typing.NamedTuple):
    """What one `InceptionI3d.__call__` asks of its stages."""

    batch_norm: tuple  # (is_training, test_local_stats, moments) of every BatchNorm
    is_training: bool  # dropout
    dropout_keep_prob: float
    dropout_seed: tf.Tensor | None


# Every stage of InceptionI3d is called as stage(net, call), `call` a `_Call`.
def _pool_stage(window, stride):
    return lambda net, call: pooling.max_pool(net, window, stride)


def _layer_stage(layer):
    return lambda net, call: layer(net, *call.batch_norm)


def _logits_stage(layer):
    return lambda net, call: layer(net, call.is_training, call.dropout_keep_prob, call.dropout_seed)


def _softmax_stage(net, call):
    del call
    return tf.nn.softmax(net)


class InceptionI3d(snt.Module):
    """Inception-v1 I3D (Carreira & Zisserman 2017), truncatable at any endpoint.

    The input channel count is taken from the first call: 3 for RGB, 2 for optical flow.
    """

    # What the rest of the project asks of a network (zoo.py lists it).
    VALID_ENDPOINTS = VALID_ENDPOINTS
    FEATURE_ENDPOINT = FEATURE_ENDPOINTS[-1]  # the classifier's input: Mixed_5c
    LOGITS_ENDPOINT = 'Logits'
    # Checkpoint keys below the model's key: the first kernel (its input channels) and the
    # classifier's (its classes).
    FIRST_KERNEL_KEY = 'layers/Conv3d_1a_7x7/w'
    LOGITS_KERNEL_KEY = Logits.KERNEL_KEY

    @staticmethod
    def temporal_layers(endpoint):
        """Yields the temporal (kernel, stride) of every layer up to `endpoint` (SAME)."""
        for name in FEATURE_ENDPOINTS[: FEATURE_ENDPOINTS.index(endpoint) + 1]:
            if name in STEM_CONVS:
                _, kernel, stride = STEM_CONVS[name]
                yield kernel[0], stride[0]
            elif name in POOLS:
                window, stride = POOLS[name]
                yield window[0], stride[0]
            else:
                yield _MIXED_TEMPORAL

    @staticmethod
    def time_weights(steps):
        """The weight of each of `steps` Mixed_5c time steps in the logits (`pool_weights`)."""
        return pool_weights(steps, LOGITS_POOL[0])

    classifier_input = staticmethod(classifier_input)

    def __init__(
        self,
        num_classes: int = 400,
        spatial_squeeze: bool = True,
        final_endpoint: str = 'Logits',
        name: str = 'inception_i3d',
        compute_dtype: tf.DType = tf.float32,
        sync_batch_norm: bool = False,
    ):
        """Builds the layers up to `final_endpoint`.

        Args:
          num_classes: Number of outputs of the Logits layer.
          spatial_squeeze: Whether to squeeze the spatial dimensions of the logits
            before averaging over time.
          final_endpoint: Last layer built; one of `VALID_ENDPOINTS`.
          name: Module (and variable scope) name. DeepMind's checkpoints use
            `inception_i3d`.
          compute_dtype: tf.float32 (default) or tf.bfloat16 for the convolutions.
          sync_batch_norm: BatchNorm in training mode takes its batch moments over
            every replica of the `tf.distribute` replica context (`BatchNorm`'s
            `cross_replica`), not over the replica's own batch. Not part of the
            variables: a checkpoint loads into either.

        Raises:
          ValueError: if `final_endpoint` is not a valid endpoint.
        """
        if final_endpoint not in VALID_ENDPOINTS:
            raise ValueError(
                f'Unknown final endpoint {final_endpoint!r}; valid: {", ".join(VALID_ENDPOINTS)}'
            )
        super().__init__(name=name)
        self._num_classes = num_classes
        self._final_endpoint = final_endpoint
        self._compute_dtype = tf.as_dtype(compute_dtype)
        self._sync_batch_norm = sync_batch_norm
        sync = {'sync_batch_norm': sync_batch_norm}
        # Only modules with variables live in `layers`; every endpoint is a stage.
        self.layers = {}
        stages = []
        for endpoint in VALID_ENDPOINTS[: VALID_ENDPOINTS.index(final_endpoint) + 1]:
            if endpoint in POOLS:
                stage = _pool_stage(*POOLS[endpoint])
            elif endpoint in STEM_CONVS:
                channels, kernel, stride = STEM_CONVS[endpoint]
                self.layers[endpoint] = Unit3D(channels, kernel, stride, name=endpoint, **sync)
                stage = _layer_stage(self.layers[endpoint])
            elif endpoint in MIXED_CHANNELS:
                self.layers[endpoint] = MixedBlock(MIXED_CHANNELS[endpoint], endpoint, **sync)
                stage = _layer_stage(self.layers[endpoint])
            elif endpoint == 'Logits':
                self.layers[endpoint] = Logits(num_classes, spatial_squeeze)
                stage = _logits_stage(self.layers[endpoint])
            else:  # Predictions
                stage = _softmax_stage
            stages.append((endpoint, stage))
        self._stages = tuple(stages)

    @property
    def final_endpoint(self) -> str:
        return self._final_endpoint

    @property
    def num_classes(self) -> int:
        return self._num_classes

    @property
    def compute_dtype(self) -> tf.DType:
        return self._compute_dtype

    @property
    def sync_batch_norm(self) -> bool:
        return self._sync_batch_norm

    @property
    def input_channels(self) -> int:
        """The input channels of a built model (those of its first kernel)."""
        return self.layers['Conv3d_1a_7x7'].w.shape[3]

    @property
    def batch_norms(self) -> tuple[BatchNorm, ...]:
        """Every BatchNorm, in `named_units` order (the order a call uses them in)."""
        return tuple(u.batch_norm for _, u in self.named_units() if u.batch_norm is not None)

    def named_units(self):
        """Yields (scope, Unit3D) for every convolution, in DeepMind's naming and order.

        Scopes are those of DeepMind's checkpoints below `inception_i3d/`, e.g.
        `Conv3d_1a_7x7`, `Mixed_4b/Branch_1/Conv3d_0b_3x3`, `Logits/Conv3d_0c_1x1`.
        """
        for endpoint, layer in self.layers.items():
            if isinstance(layer, Unit3D):
                yield endpoint, layer
            elif isinstance(layer, MixedBlock):
                for branch in layer.branches:
                    for unit in branch.units:
                        yield f'{endpoint}/{branch.name}/{unit.name}', unit
            else:
                yield f'{endpoint}/{layer.conv.name}', layer.conv

    @property
    def logits_variables(self) -> tuple[tf.Variable, tf.Variable]:
        """The classifier's (w, b): what a new head replaces and a frozen backbone trains.

        Raises:
          ValueError: if the model is truncated before Logits or not built yet.
        """
        if 'Logits' not in self.layers:
            raise ValueError(f'{self.name} ends at {self._final_endpoint}: no Logits layer')
        conv = self.layers['Logits'].conv
        if not hasattr(conv, 'w'):
            raise ValueError(f'{self.name}: call the model once to create its variables')
        return conv.w, conv.b

    def __call__(
        self,
        inputs: tf.Tensor,
        is_training: bool,
        dropout_keep_prob: float = 1.0,
        *,
        freeze_batch_norm: bool = False,
        test_local_stats: bool = False,
        batch_norm_moments: list | None = None,
        dropout_seed: tf.Tensor | None = None,
    ) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
        """Runs the network.

        `is_training` is DeepMind's: batch statistics (whose moving averages are updated)
        and dropout. The BatchNorm arguments are Sonnet's `BatchNorm.__call__`'s, passed
        to every BatchNorm; the training loop's modes are:
        - training: `is_training=True`;
        - `--freeze_bn` / `--freeze_backbone`: `is_training=True, freeze_batch_norm=True`
          (dropout, BatchNorm with its moving statistics, which stay as they are);
        - precise BN: `is_training=False, test_local_stats=True, batch_norm_moments=[]`
          (batch moments, nothing updated, the moments collected).

        Args:
          inputs: [batch, frames, height, width, channels] float tensor in [-1, 1].
          is_training: Python bool; BatchNorm in training mode and dropout when true.
          dropout_keep_prob: Keep probability of the dropout before the classifier.
          freeze_batch_norm: Python bool; BatchNorm in inference mode even when
            `is_training` (dropout is still applied).
          test_local_stats: Python bool; BatchNorm in inference mode normalizes with the
            batch moments (without updating the moving ones) instead of the moving ones.
          batch_norm_moments: None, or a list to which every BatchNorm appends the
            (mean, variance) it normalized with, in `batch_norms` order.
          dropout_seed: None (stateful dropout), or a stateless seed [2] (int32/int64)
            that alone decides the dropout mask.

        Returns:
          (output of `final_endpoint`, dict of every endpoint up to it).
        """
        call = _Call(
            batch_norm=(
                is_training and not freeze_batch_norm,
                test_local_stats,
                batch_norm_moments,
            ),
            is_training=is_training,
            dropout_keep_prob=dropout_keep_prob,
            dropout_seed=dropout_seed,
        )
        net = tf.cast(inputs, self._compute_dtype)
        end_points = {}
        for endpoint, stage in self._stages:
            net = stage(net, call)
            end_points[endpoint] = net
        return net, end_points
