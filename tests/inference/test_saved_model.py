"""inference/saved_model.py as a library: checks before any model is built, the export's
atomic save, and the label map it ships (export_saved_model.py's own tests run the script
and reload its SavedModel)."""

import glob
import json
import os
import shutil
import subprocess
from unittest import mock

import pytest
import tensorflow as tf

import model_io
from common.files import REPO_DIR
from inference import saved_model

NAMES = ['a', 'b', 'c', 'd', 'e']


@pytest.fixture(scope='module')
def exported(random_checkpoints, tmp_path_factory):
    """(a folder holding labels.txt of the 5 classes and a SavedModel `i3d`, {stream: 5-class
    checkpoint})."""
    root = tmp_path_factory.mktemp('export')
    (root / 'labels.txt').write_text(''.join(f'{n}\n' for n in NAMES))
    module = tf.Module()
    module.v = tf.Variable(0.0)
    saved_model.export(module, {}, str(root / 'i3d'))
    return root, random_checkpoints


def test_bad_inputs(exported, tmp_path):
    root, checkpoints = exported
    with pytest.raises(
        ValueError, match=r'takes 2-channel input \(for the flow stream\), but the rgb stream has 3'
    ):
        saved_model.build({'rgb': checkpoints['flow']}, str(root / 'labels.txt'))
    (tmp_path / 'three.txt').write_text('x\ny\nz\n')
    with pytest.raises(ValueError, match=r'3 names for models of 5 classes'):
        saved_model.build({'rgb': checkpoints['rgb']}, str(tmp_path / 'three.txt'))
    with pytest.raises(ValueError, match='use at least 110'):
        saved_model.build({'rgb': checkpoints['rgb']}, str(root / 'labels.txt'), 100)
    with pytest.raises(ValueError, match='exists'):
        saved_model.export(None, {}, str(root / 'i3d'))


def test_temporary_folders_of_killed_exports_are_removed_and_failures_leave_none(tmp_path):
    output = str(tmp_path / 'i3d')
    dead = subprocess.Popen(['true'])
    dead.wait()
    stale, live = f'{output}.tmp-{dead.pid}', f'{output}.tmp-{os.getppid()}'
    for folder in (stale, live):
        os.makedirs(os.path.join(folder, 'variables'))
    module = tf.Module()
    module.v = tf.Variable(1.0)
    failing = mock.patch.object(tf.saved_model, 'save', side_effect=OSError(28, 'No space left'))
    with failing, pytest.raises(ValueError, match='i3d: cannot write the SavedModel'):
        saved_model.export(module, {}, output)
    assert sorted(os.listdir(tmp_path)) == [os.path.basename(live)]  # a live writer's stays
    saved_model.export(module, {}, output)
    assert tf.saved_model.load(output).v.numpy() == 1.0


def test_an_output_written_meanwhile_by_another_run_is_not_replaced(tmp_path):
    output = str(tmp_path / 'i3d')
    module = tf.Module()
    module.v = tf.Variable(2.0)
    save = tf.saved_model.save

    def other_run_finishes_first(obj, path, signatures=None):
        save(obj, path, signatures=signatures)
        os.makedirs(output)
        open(os.path.join(output, 'saved_model.pb'), 'w').close()

    with (
        mock.patch.object(tf.saved_model, 'save', side_effect=other_run_finishes_first),
        pytest.raises(ValueError, match='i3d: exists'),
    ):
        saved_model.export(module, {}, output)
    assert os.listdir(tmp_path) == ['i3d'] and os.listdir(output) == ['saved_model.pb']


def test_the_label_map_shipped_is_the_one_given_else_the_recorded_names(
    random_checkpoints, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)  # a relative --label_map not found here is the repository's
    with saved_model.label_map_file({}, os.path.join('data', 'label_map.txt')) as path:
        assert path == os.path.join(REPO_DIR, 'data', 'label_map.txt')
    run = tmp_path / 'run'
    run.mkdir()
    for path in glob.glob(random_checkpoints['rgb'] + '.*'):
        shutil.copy(path, run)
    (run / model_io.SETTINGS_NAME).write_text(json.dumps({'class_names': NAMES[::-1]}))
    with saved_model.label_map_file({'rgb': str(run / 'model')}) as path:
        assert os.path.basename(path) == 'label_map.txt'
        assert open(path).read() == 'e\nd\nc\nb\na\n'
    assert not os.path.exists(path)  # a temporary file, removed after the export
    with pytest.raises(ValueError, match='a 5-class model and no class names recorded'):
        with saved_model.label_map_file({'rgb': random_checkpoints['rgb']}):
            pass


def test_checkpoints_are_checked_against_the_label_map_before_any_model_is_built(
    exported, tmp_path
):
    root, checkpoints = exported
    with mock.patch.object(model_io, 'load', side_effect=AssertionError('no model is built')):
        assert saved_model.check_checkpoints(checkpoints, str(root / 'labels.txt')) == checkpoints
        with pytest.raises(ValueError) as error:
            saved_model.check_checkpoints({'rgb': checkpoints['rgb']}, str(tmp_path / 'none'))
    assert str(error.value) == f'{tmp_path}/none: cannot read label map (No such file or directory)'
