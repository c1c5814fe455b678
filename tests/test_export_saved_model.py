"""export_saved_model.py and inference/saved_model.py: reloaded in a fresh process without
the project, the signatures give the Sonnet module's outputs (short clips in one pass, long
ones in chunks inside the graph); contracts give clear errors."""

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

import i3d
import model_io
from common.files import REPO_DIR
from inference import saved_model, whole_video

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
    for label, array in [('rank', np.zeros((9, 32, 32, 3), np.float32)),
                         ('channels', np.zeros((1, 9, 32, 32, 2), np.float32)),
                         ('frames', np.zeros((1, 0, 32, 32, 3), np.float32))]:
        try:
            loaded.signatures['rgb'](rgb=tf.constant(array))
            errors[label] = 'no error'
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
        assert len(whole_video.plan_chunks(frames, CHUNK_FRAMES)) >= 3
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


def test_bad_inputs(exported, tmp_path):
    root, checkpoints = exported
    with pytest.raises(ValueError, match='2-channel model cannot be the rgb stream'):
        saved_model.build({'rgb': checkpoints['flow']}, str(root / 'labels.txt'))
    (tmp_path / 'three.txt').write_text('x\ny\nz\n')
    with pytest.raises(ValueError, match=r'3 names for models of \[5\] classes'):
        saved_model.build({'rgb': checkpoints['rgb']}, str(tmp_path / 'three.txt'))
    with pytest.raises(ValueError, match='use at least 110'):
        saved_model.build({'rgb': checkpoints['rgb']}, str(root / 'labels.txt'), 100)
    with pytest.raises(ValueError, match='exists'):
        saved_model.export(None, {}, str(root / 'i3d'))
