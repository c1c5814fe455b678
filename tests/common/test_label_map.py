"""common.label_map: class names one per line, read with one clear error per bad file."""

import os

import pytest

from common import label_map
from common.files import REPO_DIR


def test_label_map_is_kinetics_400(shared_path):
    labels = label_map.read(os.path.join(REPO_DIR, 'data', 'label_map.txt'))
    assert len(labels) == 400 and labels[0] == 'abseiling' and labels == sorted(labels)
    with open(shared_path('data', 'label_map.txt')) as f:
        assert labels == [line.strip() for line in f if line.strip()]


def test_names_are_read_in_order_without_blank_lines_spaces_or_a_bom(tmp_path):
    path = tmp_path / 'labels.txt'
    path.write_bytes('\ufeffrun\n\n  jump  \r\n\t\nswim'.encode())
    assert label_map.read(str(path)) == ['run', 'jump', 'swim']


def test_write_and_read_round_trip_and_leave_no_temporary(tmp_path):
    names = ['abseiling', 'air drumming', 'passing American football (in game)']
    path = label_map.write(str(tmp_path / label_map.FILENAME), names)
    assert path == str(tmp_path / 'label_map.txt')
    assert (tmp_path / 'label_map.txt').read_text() == ''.join(f'{n}\n' for n in names)
    assert label_map.read(path) == names
    assert os.listdir(tmp_path) == ['label_map.txt']


def test_a_name_listed_twice_is_refused_with_both_indices(tmp_path):
    path = tmp_path / 'twice.txt'
    path.write_text('a\nb\n\nc\n a\n')
    with pytest.raises(ValueError) as error:
        label_map.read(str(path))
    assert str(error.value) == f"{path}: class 'a' is listed twice (indices 0, 3)"


@pytest.mark.parametrize('text', ['', '\n\n', '  \n\t\n'])
def test_an_empty_label_map_is_refused(tmp_path, text):
    path = tmp_path / 'empty.txt'
    path.write_text(text)
    with pytest.raises(ValueError) as error:
        label_map.read(str(path))
    assert str(error.value) == f'{path}: empty label map'


def test_a_missing_file_or_a_folder_is_one_line_naming_it(tmp_path):
    missing = tmp_path / 'missing.txt'
    with pytest.raises(ValueError) as error:
        label_map.read(str(missing))
    assert str(error.value) == f'{missing}: cannot read label map (No such file or directory)'
    with pytest.raises(ValueError) as error:
        label_map.read(str(tmp_path))
    assert str(error.value) == f'{tmp_path}: cannot read label map (Is a directory)'


def test_text_that_is_not_utf8_names_the_line_and_byte(tmp_path):
    path = tmp_path / 'latin1.txt'
    path.write_bytes('a\nb\ncaf\u00e9\n'.encode('latin-1'))
    with pytest.raises(ValueError) as error:
        label_map.read(str(path))
    assert str(error.value) == f'{path}:3: not UTF-8 text (byte 7)'
    assert label_map.text_line(str(path), 0) == 1 and label_map.text_line(str(path), 4) == 3


def test_the_map_beside_a_file_or_a_glob(tmp_path, monkeypatch):
    shards = tmp_path / 'ucf101'
    assert label_map.beside(str(shards / 'train-*.tfrecord')) == str(shards / 'label_map.txt')
    monkeypatch.chdir(tmp_path)
    assert label_map.beside('ucf101/x.tfrecord') == str(shards / 'label_map.txt')
    assert label_map.beside('x.tfrecord') == str(tmp_path / 'label_map.txt')
