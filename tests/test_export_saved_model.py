"""export_saved_model.py: reloaded in a fresh process without the project, the signatures
give the Sonnet module's outputs (short clips in one pass, long ones in chunks inside the
graph); contracts give clear errors; the output is checked first."""

import json
import os
import subprocess
import sys
import textwrap

import cli
import numpy as np
import pytest
import tensorflow as tf

import i3d
import model_io
from common import files
from common.files import REPO_DIR
from inference import saved_model, whole_video

pytestmark = pytest.mark.slow  # runs a script, or a whole job

NAMES = ['a', 'b', 'c', 'd', 'e']
CHUNK_FRAMES = 120  # long clips (LONG frames) run as several chunks inside the signatures
LONG = {'rgb': 301, 'flow': 296}  # 301 is not a multiple of the stride (8): other padding

# Runs with the project NOT importable: only TensorFlow and numpy.
RELOAD = textwrap.dedent("""
    import json, sys
    import numpy as np
    import tensorflow as tf
    loaded = tf.saved_model.load(sys.argv[1])
    data = np.load(sys.argv[2])
    out = {}
    calls = [('rgb', 'rgb', {'rgb': 'rgb'}), ('flow', 'flow', {'flow': 'flow'}),
             ('joint', 'joint', {'rgb': 'rgb', 'flow': 'flow'}),
             ('rgb_0_1', 'rgb_0_1', {'rgb': 'rgb01'}), ('default', 'default', {'rgb_input': 'rgb'}),
             ('rgb_small', 'rgb', {'rgb': 'small'}), ('rgb_long', 'rgb', {'rgb': 'rgb_long'}),
             ('joint_long', 'joint', {'rgb': 'rgb_long', 'flow': 'flow_long'})]
    for name, signature, args in calls:
        result = loaded.signatures[signature](**{k: tf.constant(data[a]) for k, a in args.items()})
        for key, value in result.items():
            out[f'{name}/{key}'] = value.numpy()
    # As TF Hub clients call the module: one positional tensor.
    positional = loaded.signatures['default'](tf.constant(data['rgb']))
    out['default_positional/default'] = positional['default'].numpy()
    out['default/keys'] = np.array(sorted(positional))
    library = loaded.signatures['rgb'].graph.as_graph_def().library.function
    loops = sorted({n.op for f in library for n in f.node_def if n.op.endswith('While')})
    names = loaded.signatures['class_names']()['class_names'].numpy()
    out['class_names'] = np.array([n.decode() for n in names])
    errors = {}
    nan = np.zeros((1, 9, 32, 32, 3), np.float32)
    nan[0, 4, 7, 7, 1] = np.nan
    flow = np.zeros((1, 9, 32, 32, 2), np.float32)
    for label, signature, args in [
            ('rank', 'rgb', {'rgb': np.zeros((9, 32, 32, 3), np.float32)}),
            ('channels', 'rgb', {'rgb': np.zeros((1, 9, 32, 32, 2), np.float32)}),
            ('frames', 'rgb', {'rgb': np.zeros((1, 0, 32, 32, 3), np.float32)}),
            ('batch', 'rgb', {'rgb': np.zeros((0, 9, 32, 32, 3), np.float32)}),
            ('nan', 'rgb', {'rgb': nan}),
            ('inf', 'flow', {'flow': flow + np.inf}),
            ('joint_batch', 'joint', {'rgb': np.zeros((2, 9, 32, 32, 3), np.float32),
                                      'flow': flow}),
            ('joint_nan', 'joint', {'rgb': nan, 'flow': flow})]:
        try:
            result = loaded.signatures[signature](**{k: tf.constant(v) for k, v in args.items()})
            errors[label] = f"no error: {result['logits'].numpy().tolist()}"
        except Exception as e:
            errors[label] = f'{type(e).__name__}: {e}'
    np.savez(sys.argv[3], **out)
    print(json.dumps({'project_imported': any(m in sys.modules for m in ('i3d', 'model_io')),
                      'errors': errors, 'loops': loops}))
""")


@pytest.fixture(scope='module')
def exported(tmp_path_factory):
    root = tmp_path_factory.mktemp('export')
    checkpoints = {}
    rng = np.random.default_rng(1)
    for stream, channels in (('rgb', 3), ('flow', 2)):
        tf.random.set_seed(channels + 10)
        model = model_io.build(i3d.InceptionI3d(num_classes=5), channels)
        w, b = model.logits_variables
        b.assign(tf.random.normal(b.shape))  # a non-zero bias is part of what is checked
        # Random BN statistics so that activations (and logits) are far from zero.
        for _, unit in model.named_units():
            if unit.batch_norm is not None:
                variance = unit.batch_norm.moving_variance
                shape = variance.average.shape
                variance.load(tf.constant(rng.uniform(0.2, 0.4, shape), tf.float32))
        checkpoints[stream] = model_io.save(model, str(root / stream / 'model'))
    (root / 'labels.txt').write_text(''.join(f'{n}\n' for n in NAMES))
    result = subprocess.run(
        [
            sys.executable,
            'export_saved_model.py',
            f'--rgb_checkpoint={checkpoints["rgb"]}',
            f'--flow_checkpoint={checkpoints["flow"]}',
            f'--label_map={root / "labels.txt"}',
            f'--output={root / "i3d"}',
            f'--chunk_frames={CHUNK_FRAMES}',
        ],
        cwd=REPO_DIR,
        capture_output=True,
        text=True,
        check=True,
    )
    signatures = 'signatures class_names, default, flow, joint, rgb, rgb_0_1, serving_default'
    assert signatures in result.stdout
    return root, checkpoints


def test_reload_in_a_fresh_process_matches_the_module(exported, tmp_path):
    root, checkpoints = exported
    rng = np.random.default_rng(0)
    data = {
        'rgb': rng.uniform(-1, 1, (2, 10, 32, 32, 3)).astype(np.float32),
        'flow': rng.uniform(-1, 1, (2, 10, 32, 32, 2)).astype(np.float32),
        'small': rng.uniform(-1, 1, (1, 3, 20, 24, 3)).astype(np.float32),  # clamped pool
        'rgb_long': rng.uniform(-1, 1, (2, LONG['rgb'], 32, 32, 3)).astype(np.float32),
        'flow_long': rng.uniform(-1, 1, (2, LONG['flow'], 32, 32, 2)).astype(np.float32),
    }
    for frames in LONG.values():
        geo = whole_video.geometry(i3d.InceptionI3d)
        assert len(whole_video.plan_chunks(frames, CHUNK_FRAMES, geo)) >= 3
    data['rgb01'] = (data['rgb'] + 1) / 2
    np.savez(tmp_path / 'in.npz', **data)
    result = subprocess.run(
        [
            sys.executable,
            '-c',
            RELOAD,
            str(root / 'i3d'),
            str(tmp_path / 'in.npz'),
            str(tmp_path / 'out.npz'),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
        env={'PATH': '/usr/bin'},
    )
    report = json.loads(result.stdout.splitlines()[-1])
    assert report['project_imported'] is False
    got = np.load(tmp_path / 'out.npz')
    expected = {}
    for stream in ('rgb', 'flow'):
        model, _ = model_io.load(checkpoints[stream])
        clips = {stream: stream, f'{stream}_small': 'small', f'{stream}_long': f'{stream}_long'}
        for name, key in clips.items():
            if name == 'flow_small':
                continue
            # The reference: one pass of the Sonnet model over the whole clip.
            logits, end_points = model(tf.constant(data[key]), is_training=False)
            features = i3d.classifier_input(end_points['Mixed_5c']).numpy()
            expected[name] = (logits.numpy(), features)
        # The features are the classifier's input: features @ w + b == logits.
        w, b = (v.numpy() for v in model.logits_variables)
        for name in {'rgb': ('rgb', 'rgb_long', 'rgb_small', 'rgb_0_1'), 'flow': ('flow',)}[stream]:
            outputs = got[f'{name}/features'] @ w.reshape(w.shape[-2:]) + b
            np.testing.assert_allclose(outputs, got[f'{name}/logits'], atol=1e-5)
    for name in ('rgb', 'flow', 'rgb_small', 'rgb_0_1'):
        logits, features = expected[name.replace('_0_1', '')]
        np.testing.assert_allclose(got[f'{name}/logits'], logits, atol=1e-4)
        np.testing.assert_allclose(got[f'{name}/features'], features, atol=1e-4)
        probs = tf.nn.softmax(logits).numpy()
        np.testing.assert_allclose(got[f'{name}/probabilities'], probs, atol=1e-5)
    # default: TF Hub's contract, [-1, 1] unscaled in, `default` (time-averaged logits) out.
    assert list(got['default/keys']) == ['default']
    np.testing.assert_allclose(got['default/default'], expected['rgb'][0], atol=1e-4)
    np.testing.assert_allclose(got['default_positional/default'], expected['rgb'][0], atol=1e-4)
    joint = expected['rgb'][0] + expected['flow'][0]
    np.testing.assert_allclose(got['joint/logits'], joint, atol=1e-4)
    assert got['joint/features'].shape == (2, 2048)
    # Long clips: chunked inside the graph, equal to the single pass.
    assert report['loops'] == ['While'], report
    assert 1 < np.abs(expected['rgb_long'][0]).max() < 100
    for name, streams in (('rgb_long', ['rgb']), ('joint_long', ['rgb', 'flow'])):
        logits = sum(expected[f'{s}_long'][0] for s in streams)
        features = np.concatenate([expected[f'{s}_long'][1] for s in streams], axis=-1)
        np.testing.assert_allclose(got[f'{name}/logits'], logits, atol=1e-4)
        np.testing.assert_allclose(got[f'{name}/features'], features, atol=1e-4)
    assert list(got['class_names']) == NAMES
    errors = report['errors']
    contract = 'rgb: expected float32 [batch, frames, height, width, 3]'
    assert contract in errors['rank'] and contract in errors['channels'], errors
    assert 'need at least 1 frame' in errors['frames'], errors
    assert 'rgb: need at least 1 clip (batch 0)' in errors['batch'], errors
    assert 'rgb: the clip holds NaN or infinite values' in errors['nan'], errors
    assert 'flow: the clip holds NaN or infinite values' in errors['inf'], errors
    assert 'joint: rgb and flow must hold the same number of clips' in errors['joint_batch']
    assert 'rgb: the clip holds NaN or infinite values' in errors['joint_nan'], errors
    assert all(e.startswith('InvalidArgumentError') for e in errors.values()), errors


# TF Hub's own client, in a process that imports nothing of the project.
HUB_CLIENT = textwrap.dedent("""
    import json, sys
    import numpy as np
    import tensorflow as tf
    import tensorflow_hub as hub
    import tf_keras
    layer = hub.KerasLayer(sys.argv[1], signature='default', output_key='default')
    x = tf.constant(np.load(sys.argv[2]))
    print(json.dumps({'keras': tf_keras.__version__, 'default': layer(x).numpy().tolist(),
                      'project_imported': any(m in sys.modules for m in ('i3d', 'model_io'))}))
""")


def test_tf_hub_keras_layer_gets_the_modules_numbers(exported, tmp_path):
    pytest.importorskip('tensorflow_hub')
    pytest.importorskip('tf_keras')
    root, checkpoints = exported
    clip = np.random.default_rng(3).uniform(-1, 1, (2, 9, 32, 32, 3)).astype(np.float32)
    np.save(tmp_path / 'clip.npy', clip)
    result = subprocess.run(
        [sys.executable, '-c', HUB_CLIENT, str(root / 'i3d'), str(tmp_path / 'clip.npy')],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
        env={'PATH': '/usr/bin'},
    )
    report = json.loads(result.stdout.splitlines()[-1])
    assert report['project_imported'] is False
    model, _ = model_io.load(checkpoints['rgb'])
    expected = model(tf.constant(clip), is_training=False)[0].numpy()
    np.testing.assert_allclose(report['default'], expected, atol=1e-4)


def test_output_problems_are_found_before_any_checkpoint_is_read(tmp_path):
    (tmp_path / 'file').write_text('x')
    not_saved_model = tmp_path / 'mine'
    not_saved_model.mkdir()
    (not_saved_model / 'notes.txt').write_text('precious')
    existing = tmp_path / 'done'
    existing.mkdir()
    (existing / 'saved_model.pb').write_bytes(b'')
    cases = [
        (tmp_path / 'file', False, 'a file, not a SavedModel folder'),
        (tmp_path / 'file', True, 'a file, not a SavedModel folder'),
        (tmp_path / 'file' / 'i3d', True, f'lies under the file {tmp_path}/file, not a folder'),
        (not_saved_model, True, 'a folder that is not a SavedModel; --overwrite replaces only'),
        (existing, False, 'exists (pass --overwrite to replace it)'),
    ]
    for output, overwrite, message in cases:
        with pytest.raises(ValueError) as error:
            files.check_saved_model_output(str(output), overwrite)
        assert str(error.value).startswith(f'{output}: {message}'), error.value
    files.check_saved_model_output(str(existing), True)  # a SavedModel may be replaced
    assert (not_saved_model / 'notes.txt').read_text() == 'precious'
    # The script checks the output first: the missing checkpoint is not reached.
    result = cli.run(
        'export_saved_model',
        f'--rgb_checkpoint={tmp_path}/no_such_checkpoint',
        f'--output={tmp_path / "file"}',
        '--overwrite',
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f'error: {tmp_path / "file"}: a file, not a SavedModel folder; remove it or choose another'
    )
    assert not [p for p in os.listdir(tmp_path) if '.tmp-' in p]


def test_a_fine_tuned_run_exports_with_the_class_names_it_recorded(
    motion_rgb_run, motion_shards, random_checkpoints, tmp_path
):
    """No --label_map: the names of the run's run_settings.json (not Kinetics-400's), as
    the shards' label map lists them; an explicit --label_map still wins and is checked."""
    shard_names = (motion_shards / 'label_map.txt').read_text().split()
    assert len(shard_names) == 3
    output = tmp_path / 'fine_tuned'
    result = cli.check(
        'export_saved_model', f'--rgb_checkpoint={motion_rgb_run}', f'--output={output}'
    )
    assert 'signatures class_names, default, rgb, rgb_0_1, serving_default' in result.stdout
    loaded = tf.saved_model.load(str(output))
    names = loaded.signatures['class_names']()['class_names'].numpy()
    assert [n.decode() for n in names] == shard_names
    clip = tf.zeros([1, 9, 32, 32, 3])
    assert loaded.signatures['rgb'](rgb=clip)['probabilities'].shape == (1, 3)
    # An explicit --label_map wins, and is still checked against the model's classes.
    (tmp_path / 'mine.txt').write_text('up\ndown\nleft\n')
    with saved_model.label_map_file({'rgb': motion_rgb_run}, str(tmp_path / 'mine.txt')) as path:
        assert path == str(tmp_path / 'mine.txt')
    failed = cli.run(
        'export_saved_model',
        f'--rgb_checkpoint={motion_rgb_run}',
        '--label_map=data/label_map.txt',
        f'--output={tmp_path / "kinetics"}',
    )
    assert failed.returncode == 1
    assert failed.stderr.strip().endswith('label_map.txt: 400 names for models of 3 classes')
    # Neither a recorded list nor a Kinetics class count: one line saying what to pass.
    failed = cli.run(
        'export_saved_model',
        f'--rgb_checkpoint={random_checkpoints["rgb"]}',
        f'--output={tmp_path / "five"}',
    )
    assert failed.returncode == 1
    assert failed.stderr.strip().splitlines()[-1] == (
        f'error: {random_checkpoints["rgb"]}: a 5-class model and no class names recorded '
        'beside it (run_settings.json); pass --label_map=<its classes, one per line> '
        '(build_shards writes label_map.txt beside the shards it trained on)'
    )
    assert sorted(os.listdir(tmp_path)) == ['fine_tuned', 'mine.txt']
