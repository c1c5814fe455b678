"""weights.tf1: name-based TF checkpoints read by name; unreadable, damaged and other kinds
of checkpoints are one line."""

import os

import numpy as np
import pytest
import tf1_checkpoints

import i3d
import model_io
from weights import tf1


def test_tensors_are_read_by_name(tmp_path):
    prefix = tf1_checkpoints.write(
        str(tmp_path / 'model.ckpt'), {'a/w': np.arange(3, dtype=np.float32), 'b': np.int64(2)}
    )
    reader, shapes = tf1.open_checkpoint(prefix)
    assert shapes == {'a/w': [3], 'b': []}
    tensors = tf1.read_tensors(reader, prefix, ['a/w'])
    assert list(tensors) == ['a/w']
    np.testing.assert_array_equal(tensors['a/w'], [0, 1, 2])


def test_unreadable_and_damaged_checkpoints_are_one_line(tmp_path):
    (tmp_path / 'garbage.index').write_bytes(b'not a checkpoint')
    with pytest.raises(ValueError, match=r'^\S+garbage: not a readable TF checkpoint$'):
        tf1.open_checkpoint(str(tmp_path / 'garbage'))
    prefix = tf1_checkpoints.write(str(tmp_path / 'model.ckpt'), {'w': np.ones(4000, np.float32)})
    os.truncate(prefix + '.data-00000-of-00001', 3000)
    reader, _ = tf1.open_checkpoint(prefix)
    with pytest.raises(ValueError) as info:
        tf1.read_tensors(reader, prefix, ['w'])
    assert str(info.value).startswith(f'{prefix}: damaged checkpoint (Read less bytes than')
    assert '\n' not in str(info.value)


def test_kind_names_the_source_a_checkpoint_needs(tmp_path):
    ours = model_io.save(
        model_io.build(i3d.InceptionI3d(final_endpoint='Mixed_3b'), 3), str(tmp_path / 'm')
    )
    _, shapes = tf1.open_checkpoint(ours)
    assert tf1.kind(shapes).startswith("this project's format already")
    assert tf1.kind(['InceptionV1/Conv2d_1a_7x7/weights']) == (
        'a TF-slim Inception-v1 checkpoint (use --source=inception_v1_2d)'
    )
    assert tf1.kind(['Flow/inception_i3d/x']) == (
        'a DeepMind I3D checkpoint (use --source=deepmind)'
    )
    assert tf1.kind(['resnet/conv1/w']) == (
        'neither a DeepMind I3D nor a TF-slim Inception-v1 checkpoint'
    )
