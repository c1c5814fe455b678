"""training/evaluate_run.py (evaluate.py's run) in-process on tiny hand-written shards: the
table, reports, the progress bar, and every check that must come before the model's work."""

import json
import os
import shutil
from unittest import mock

import numpy as np
import pytest
import tensorflow as tf

import i3d
import model_io
from common import pictures
from preprocess import schema
from training import evaluate_run, evaluation

CLASSES = ['jump', 'run', 'swim']


def _example(media_id, label, frames=4, height=40, width=48):
    rng = np.random.default_rng(label)
    rgb = [schema.encode_rgb(rng.integers(0, 255, (height, width, 3), np.uint8), 'PNG')]
    rgb *= frames
    flows = [schema.encode_flow(np.zeros((height, width, 2), np.float32))] * (frames - 1)
    meta = {'media_id': media_id, 'path': 'p', 'label_index': label, 'label_string': 'c'}
    return schema.make_example(meta, rgb, flows, (height, width), 25.0, 'PNG').SerializeToString()


def write_shards(folder, labels, names=CLASSES, manifest=True):
    """Two shards holding videos `v<i>` of the given labels, label_map.txt beside them."""
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, 'label_map.txt'), 'w') as f:
        f.write(''.join(f'{n}\n' for n in names))
    halves = (labels[: len(labels) // 2], labels[len(labels) // 2 :])
    first = 0
    for k, part in enumerate(halves):
        path = os.path.join(folder, f'test-{k:05d}-of-00002.tfrecord')
        records = []
        with tf.io.TFRecordWriter(path) as writer:
            for i, label in enumerate(part, first):
                serialized = _example(f'v{i}', label)
                writer.write(serialized)
                records.append(
                    {
                        'media_id': f'v{i}',
                        'label_index': label,
                        'status': 'ok',
                        'bytes': len(serialized),
                    }
                )
        if manifest:  # as build_shards writes it (the reader checks the shard's size)
            with open(path + '.manifest.jsonl', 'w') as f:
                f.writelines(json.dumps(r) + '\n' for r in records)
        first += len(part)
    return os.path.join(folder, 'test-*.tfrecord')


@pytest.fixture(scope='module')
def checkpoints(tmp_path_factory):
    root = tmp_path_factory.mktemp('ckpt')
    paths = {}
    for stream, channels, classes in (('rgb', 3, 3), ('flow', 2, 3), ('flow400', 2, 400)):
        model = model_io.build(i3d.InceptionI3d(num_classes=classes), channels)
        paths[stream] = model_io.save(model, str(root / stream / 'model'))
    return paths


@pytest.fixture(scope='module')
def shards(tmp_path_factory):
    return write_shards(str(tmp_path_factory.mktemp('shards')), [0, 1, 2, 0, 1, 2])


def _run(pattern, ckpts, **kwargs):
    lines = []
    results = evaluate_run.run(pattern, ckpts, crop_size=32, out=lines.append, **kwargs)
    return results, lines


@pytest.mark.slow
def test_both_streams_and_their_fusion_with_reports_and_a_progress_bar(
    shards, checkpoints, tmp_path, capsys
):
    ckpts = {'rgb': checkpoints['rgb'], 'flow': checkpoints['flow']}
    results, lines = _run(shards, ckpts, output_dir=str(tmp_path / 'out'))
    assert sorted(results) == ['flow', 'joint', 'rgb']
    assert all(r['videos'] == 6 for r in results.values())
    assert [line.split()[:2] for line in lines[0].splitlines()[1:]] == [
        ['rgb', '6'],
        ['flow', '6'],
        ['joint', '6'],
    ]
    assert lines[-1] == f'reports in {tmp_path / "out"}'
    with open(tmp_path / 'out' / 'joint_predictions.csv') as f:
        rows = f.read().splitlines()
    assert len(rows) == 7 and rows[1].split(',')[:2] == ['v0', 'jump']
    # After the table, each stream's most frequent confusions: those of its confusion CSV.
    assert len(lines) == 5
    for name, report in zip(('rgb', 'flow', 'joint'), lines[1:4], strict=True):
        with open(tmp_path / 'out' / f'{name}_confusion.csv') as f:
            matrix = [list(map(int, r.split(',')[1:])) for r in f.read().splitlines()[1:]]
        head, *found = report.splitlines()
        assert head == f'{name}: the 10 most frequent confusions (true -> predicted: videos)'
        expected = pictures.confusion_lines(np.array(matrix), CLASSES)
        assert found == [f'  {line}' for line in expected]
        with open(tmp_path / 'out' / f'{name}_confusion.png', 'rb') as f:
            assert f.read(8) == b'\x89PNG\r\n\x1a\n'
    bar = capsys.readouterr().err
    for stream in ('rgb', 'flow'):  # videos, total (from the manifest parts), rate
        assert f'{stream}: 100%' in bar and '6/6' in bar and 'video/s' in bar


def _refused(pattern, ckpts, message, **kwargs):
    """Fails on `message` before any checkpoint is read or video is evaluated."""
    with (
        mock.patch.object(model_io, 'restore', side_effect=AssertionError('weights read')),
        mock.patch.object(evaluation, 'predict', side_effect=AssertionError('evaluated')),
        pytest.raises(ValueError) as error,
    ):
        _run(pattern, ckpts, **kwargs)
    assert message in str(error.value) and '\n' not in str(error.value)
    return str(error.value)


def test_cheap_checks_come_before_any_work(shards, checkpoints, tmp_path):
    rgb = {'rgb': checkpoints['rgb']}
    folder = os.path.dirname(shards)
    # The label map beside the shards against the checkpoint's classes, and another set's.
    four = write_shards(str(tmp_path / 'four'), [0, 1], CLASSES + ['walk'])
    _refused(four, rgb, f'four/label_map.txt: 4 classes, but {checkpoints["rgb"]} has 3')
    other = write_shards(str(tmp_path / 'other'), [0, 1], ['jump', 'walk', 'swim'])
    message = _refused(f'{shards},{other}', rgb, 'other/label_map.txt: other classes than ')
    assert f'{folder}/label_map.txt' in message
    given = tmp_path / 'given.txt'
    given.write_text('a\nb\nc\n')
    _refused(shards, rgb, "class 0 is 'jump', not 'a'", label_map=str(given))
    # A typo in one part of a comma-separated --data.
    _refused(
        f'{shards},{tmp_path}/tset-*.tfrecord', rgb, 'tset-*.tfrecord: no files match (part of'
    )
    # The output folder: a file, or under one.
    (tmp_path / 'file').write_text('x')
    _refused(shards, rgb, 'file: --output_dir is a file', output_dir=str(tmp_path / 'file'))
    _refused(
        shards,
        rgb,
        f'file/o: lies under the file {tmp_path}/file',
        output_dir=str(tmp_path / 'file/o'),
    )
    # Streams: the other stream's checkpoint, and streams that could not be fused.
    _refused(shards, {'flow': checkpoints['rgb']}, 'takes 3-channel input (for the rgb stream)')
    both = {'rgb': checkpoints['rgb'], 'flow': checkpoints['flow400']}
    _refused(shards, both, 'has 3 classes but')
    _refused(shards, {}, 'give --rgb_checkpoint and/or --flow_checkpoint')


@pytest.mark.skipif(os.geteuid() == 0, reason='root may write anywhere')
def test_an_unwritable_output_dir_is_refused_first(shards, checkpoints, tmp_path):
    locked = tmp_path / 'locked'
    locked.mkdir(mode=0o555)
    _refused(shards, {'rgb': checkpoints['rgb']}, 'cannot write', output_dir=str(locked))


@pytest.mark.slow
def test_a_label_beyond_the_classes_names_the_shard_and_the_video(checkpoints, tmp_path):
    pattern = write_shards(str(tmp_path / 'bad'), [0, 1, 2, 5])
    with pytest.raises(ValueError) as error:
        _run(pattern, {'rgb': checkpoints['rgb']})
    assert str(error.value) == (
        f'{tmp_path}/bad/test-00001-of-00002.tfrecord: video v3 has label 5, not one of the '
        "model's 3 classes (0..2)"
    )


@pytest.mark.slow
def test_the_table_is_printed_before_the_reports_are_written(shards, checkpoints, tmp_path):
    failing = mock.patch.object(
        evaluation, 'write_reports', side_effect=OSError(28, 'No space left on device')
    )
    lines = []
    with failing, pytest.raises(ValueError, match='No space left on device.*table above'):
        evaluate_run.run(
            shards,
            {'rgb': checkpoints['rgb']},
            str(tmp_path / 'o'),
            crop_size=32,
            out=lines.append,
        )
    assert lines[0].splitlines()[1].split()[:2] == ['rgb', '6']


def test_a_damaged_checkpoint_is_one_line(shards, checkpoints, tmp_path):
    folder = tmp_path / 'damaged'
    shutil.copytree(os.path.dirname(checkpoints['rgb']), folder)
    [data] = [p for p in os.listdir(folder) if '.data-' in p]
    os.truncate(folder / data, 1000)
    with pytest.raises(ValueError) as error:
        _run(shards, {'rgb': str(folder)})
    assert str(error.value).startswith(f'{folder}/model: damaged checkpoint (')
    assert '\n' not in str(error.value)
