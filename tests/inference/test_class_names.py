"""inference.class_names: a checkpoint's class names without --label_map: those its training
run recorded (run_settings.json), else the released maps for 400 or 600 classes, else one
line saying what to pass."""

import glob
import json
import os
import shutil

import pytest

import i3d
import model_io
from common import label_map
from common.files import REPO_DIR
from inference import class_names

NAMES = ['up', 'down', 'left', 'right', 'still']


def _run_folder(root, checkpoint, names):
    """A copy of `checkpoint` in `root` beside a run_settings.json recording `names`."""
    os.makedirs(root)
    for path in glob.glob(checkpoint + '.*'):
        shutil.copy(path, root)
    settings = {'class_names': names, 'num_classes': 5}
    (root / model_io.SETTINGS_NAME).write_text(json.dumps(settings))
    return str(root / os.path.basename(checkpoint))


@pytest.mark.slow
def test_the_names_a_training_run_recorded_win(random_checkpoints, tmp_path):
    rgb = _run_folder(tmp_path / 'rgb', random_checkpoints['rgb'], NAMES)
    flow = _run_folder(tmp_path / 'flow', random_checkpoints['flow'], NAMES)
    found = class_names.for_checkpoints({'rgb': rgb, 'flow': flow})
    assert found.names == NAMES and found.label_map is None
    assert found.source in (str(tmp_path / s / 'run_settings.json') for s in ('rgb', 'flow'))
    alone = class_names.for_checkpoints({'flow': str(tmp_path / 'flow')})  # the folder
    assert alone == (NAMES, str(tmp_path / 'flow' / 'run_settings.json'), None)


def test_streams_trained_on_other_classes_are_refused(random_checkpoints, tmp_path):
    rgb = _run_folder(tmp_path / 'rgb', random_checkpoints['rgb'], NAMES)
    flow = _run_folder(tmp_path / 'flow', random_checkpoints['flow'], NAMES[::-1])
    with pytest.raises(ValueError) as error:
        class_names.for_checkpoints({'rgb': rgb, 'flow': flow})
    assert str(error.value) == (
        f'{tmp_path}/flow/run_settings.json: other class names than '
        f'{tmp_path}/rgb/run_settings.json: the streams were trained on other classes '
        '(pass --label_map to choose)'
    )


def test_recorded_names_of_another_length_are_refused(random_checkpoints, tmp_path):
    rgb = _run_folder(tmp_path / 'rgb', random_checkpoints['rgb'], NAMES[:3])
    with pytest.raises(ValueError) as error:
        class_names.for_checkpoints({'rgb': rgb})
    assert str(error.value) == (
        f'{tmp_path}/rgb/run_settings.json: 3 class names for a 5-class model (pass --label_map)'
    )


def test_no_recorded_names_and_no_released_map_says_what_to_pass(random_checkpoints):
    with pytest.raises(ValueError) as error:
        class_names.for_checkpoints({'rgb': random_checkpoints['rgb']})
    assert str(error.value) == (
        f'{random_checkpoints["rgb"]}: a 5-class model and no class names recorded beside it '
        '(run_settings.json); pass --label_map=<its classes, one per line> '
        '(build_shards writes label_map.txt beside the shards it trained on)'
    )


def test_a_400_class_i3d_gets_the_kinetics_400_map_from_any_folder(tmp_path, monkeypatch):
    model = model_io.build(i3d.InceptionI3d(num_classes=400), 2)
    checkpoint = model_io.save(model, str(tmp_path / 'flow' / 'model'))
    monkeypatch.chdir(tmp_path)
    found = class_names.for_checkpoints({'flow': checkpoint})
    kinetics = os.path.join(REPO_DIR, 'data', 'label_map.txt')
    assert found == (label_map.read(kinetics), kinetics, kinetics)
    assert found.names[0] == 'abseiling' and len(found.names) == 400


def test_a_600_class_i3d_without_the_installed_map_says_how_to_install_it(tmp_path, monkeypatch):
    kinetics_600 = os.path.join(REPO_DIR, 'data', 'label_map_600.txt')
    if os.path.exists(kinetics_600):
        pytest.skip(f'{kinetics_600} is installed')
    model = model_io.build(i3d.InceptionI3d(num_classes=600), 2)
    checkpoint = model_io.save(model, str(tmp_path / 'flow' / 'model'))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError) as error:
        class_names.for_checkpoints({'flow': checkpoint})
    assert str(error.value) == (
        f"{kinetics_600}: missing; the Kinetics-600 class names come with DeepMind's "
        'kinetics-i3d: `make weights-deepmind DEEPMIND_DIR=<kinetics-i3d clone>` installs them '
        '(or pass --label_map)'
    )
