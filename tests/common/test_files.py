"""common.files: atomic writes leave either the old file or the complete new one."""

import os
import subprocess

import numpy as np
import pytest

from common import files


def test_write_atomic_text_and_bytes(tmp_path):
    path = str(tmp_path / 'a.txt')
    files.write_atomic(path, 'one\n')
    files.write_atomic(path, 'two\n')
    assert open(path).read() == 'two\n'
    files.write_atomic(path, b'\x00\x01')
    assert open(path, 'rb').read() == b'\x00\x01'
    assert os.listdir(tmp_path) == ['a.txt']


def test_atomic_output_keeps_the_old_file_when_the_writer_fails(tmp_path):
    path = str(tmp_path / 'a.txt')
    files.write_atomic(path, 'old')
    with pytest.raises(RuntimeError), files.atomic_output(path) as tmp:
        with open(tmp, 'w') as f:
            f.write('half of the new')
        raise RuntimeError('killed')
    assert open(path).read() == 'old'
    assert os.listdir(tmp_path) == ['a.txt']


def test_atomic_prefix_renames_every_file_of_a_checkpoint(tmp_path):
    prefix = str(tmp_path / 'sub' / 'model')
    with files.atomic_prefix(prefix) as tmp:
        for suffix in ('.index', '.data-00000-of-00001'):
            with open(tmp + suffix, 'w') as f:
                f.write(suffix)
        assert not os.path.exists(prefix + '.index')
    assert sorted(os.listdir(tmp_path / 'sub')) == ['model.data-00000-of-00001', 'model.index']


def test_sha256_and_repo_path(tmp_path):
    path = tmp_path / 'x'
    path.write_bytes(b'abc')
    assert files.sha256(str(path)) == (
        'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad'
    )
    assert os.path.isfile(files.repo_path('i3d.py'))


def test_folders_name_the_file_in_the_way(tmp_path):
    (tmp_path / 'f').write_text('x')
    with pytest.raises(ValueError, match=f'^{tmp_path}/f: is a file, not a folder$'):
        files.make_folder(str(tmp_path / 'f'))
    with pytest.raises(ValueError, match=f'^out/x: lies under the file {tmp_path}/f, not a folder'):
        files.check_folder(str(tmp_path / 'f' / 'a' / 'b'), target='out/x')
    files.check_folder(str(tmp_path / 'new' / 'deep'))
    assert not os.path.exists(tmp_path / 'new')  # checking creates nothing
    assert files.make_folder(str(tmp_path / 'new' / 'deep')) == str(tmp_path / 'new' / 'deep')
    assert os.path.isdir(tmp_path / 'new' / 'deep')
    with pytest.raises(ValueError, match=f'{tmp_path}/f/model: lies under the file'):
        with files.atomic_prefix(str(tmp_path / 'f' / 'model')):
            pass


def test_only_temporaries_of_dead_writers_are_removed(tmp_path):
    dead = subprocess.Popen(['true'])
    dead.wait()
    out = str(tmp_path / 'out')
    for pid in (dead.pid, os.getpid()):
        os.makedirs(f'{out}{files.TMP_MARK}{pid}')
    (tmp_path / f'out{files.TMP_MARK}{dead.pid}.x').write_text('not ours: not a pid')
    open(f'{out}.other', 'w').close()
    files.remove_stale_temporaries(out)
    assert sorted(os.listdir(tmp_path)) == sorted(
        ['out.other', f'out{files.TMP_MARK}{os.getpid()}', f'out{files.TMP_MARK}{dead.pid}.x']
    )


def test_raw_array_rows_round_trip_in_any_dtype_and_are_never_mapped(tmp_path):
    path = tmp_path / 'pixels.raw'
    pixels = np.random.default_rng(0).integers(0, 255, (6, 4, 5, 3), np.uint8)
    pixels.tofile(path)  # as extract's prepare writes its work files
    array = files.RawArray(str(path), pixels.shape, np.uint8)
    assert len(array) == 6 and array[2:5].dtype == np.uint8
    np.testing.assert_array_equal(array[2:5], pixels[2:5])
    np.testing.assert_array_equal(array[-1], pixels[-1])
    np.testing.assert_array_equal(np.stack(list(array.frames(block=4))), pixels)
    with open('/proc/self/maps') as maps:
        assert str(path) not in maps.read()
    with pytest.raises(IndexError):
        array[6]
    with pytest.raises(IndexError, match='contiguous'):
        array[::2]
    with pytest.raises(OSError):  # opened for reading
        array[0:1] = pixels[:1]
    array.close()
    made = files.RawArray(str(tmp_path / 'new.raw'), (3, 2), create=True)
    np.testing.assert_array_equal(made[0:3], np.zeros((3, 2), np.float32))  # zeros
    made[1:3] = [[1, 2], [3, 4]]
    np.testing.assert_array_equal(made[1], [1, 2])
    with pytest.raises(ValueError, match=r'rows of \(1, 3\), not \(2,\)'):
        made[0:1] = np.zeros((1, 3))
    made.close()
