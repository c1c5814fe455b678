"""InceptionI3d's forward pass with the BatchNorm behaviour and dropout seed chosen per call.

`model(clip, is_training)` ties BatchNorm mode to dropout and draws dropout from a
stateful generator, which a restarted run cannot replay. Training needs BatchNorm in
inference mode with dropout on (`--freeze_bn`, `--freeze_backbone`), batch moments
collected rather than averaged (precise BN), moments shared across replicas (sync BN),
and dropout masks that depend only on (seed, step, replica). This walks the same layers
through the model's public surface (`layers`, units' `w`/`b`/`stride`/`batch_norm`);
tests/test_training_forward.py checks it against `model(...)` itself.
"""

import tensorflow as tf

import i3d

TRAIN, FROZEN = 'train', 'frozen'  # BatchNorm: batch statistics (+ EMA update), or moving ones


def _unit(unit, net, norm):
    dtype = net.dtype
    net = tf.nn.conv3d(net, tf.cast(unit.w, dtype), (1, *unit.stride, 1), padding='SAME')
    if unit.use_bias:
        net = tf.nn.bias_add(net, tf.cast(unit.b, dtype))
    if unit.batch_norm is None:  # only the classifier: no BatchNorm, no ReLU
        return net
    # BatchNorm in float32, as i3d.Unit3D does.
    return tf.nn.relu(tf.cast(norm(unit.batch_norm, tf.cast(net, tf.float32)), dtype))


def _norm_fn(bn_mode):
    if bn_mode == TRAIN:
        return lambda bn, x: bn(x, is_training=True)
    if bn_mode == FROZEN:
        return lambda bn, x: bn(x, is_training=False)
    return bn_mode  # a callable (bn module, float32 input) -> normalized


def _logits(layer, net, dropout_keep_prob, dropout_seed):
    net = i3d.logits_pool(net)
    if dropout_keep_prob < 1.0:
        net = tf.nn.experimental.stateless_dropout(
            net, rate=1.0 - dropout_keep_prob, seed=dropout_seed
        )
    logits = tf.cast(_unit(layer.conv, net, None), tf.float32)
    return tf.reduce_mean(tf.squeeze(logits, (2, 3)), axis=1)


def logits(model, clips, bn_mode=TRAIN, dropout_keep_prob=1.0, dropout_seed=(0, 0)):
    """Logits [batch, classes] of an InceptionI3d built up to 'Logits'.

    Args:
      model: i3d.InceptionI3d with final_endpoint 'Logits' (variables created).
      clips: [batch, T, H, W, C] float32 in [-1, 1].
      bn_mode: TRAIN, FROZEN, or a callable (batch_norm module, float32 input) ->
        normalized input, called for every BatchNorm in `model.named_units()` order.
      dropout_keep_prob: keep probability of the dropout before the classifier.
      dropout_seed: stateless seed [2] of the dropout mask.
    """
    if model.final_endpoint not in ('Logits', 'Predictions'):
        raise ValueError(f'{model.name} ends at {model.final_endpoint}: it has no logits')
    norm = _norm_fn(bn_mode)
    net = tf.cast(clips, model.compute_dtype)
    for endpoint in i3d.VALID_ENDPOINTS[: i3d.VALID_ENDPOINTS.index('Logits')]:
        layer = model.layers.get(endpoint)
        if endpoint in i3d.POOLS:
            net = i3d.max_pool(net, *i3d.POOLS[endpoint])
        elif isinstance(layer, i3d.Unit3D):
            net = _unit(layer, net, norm)
        else:
            branches = []
            for branch in layer.branches:
                out = i3d.max_pool(net, (3, 3, 3), (1, 1, 1)) if branch.pool_first else net
                for unit in branch.units:
                    out = _unit(unit, out, norm)
                branches.append(out)
            net = tf.concat(branches, axis=4)
    return _logits(model.layers['Logits'], net, dropout_keep_prob, dropout_seed)
