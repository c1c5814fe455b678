"""preprocess.tfds_source: a prepared TFDS dataset as a source of videos; nothing is ever
downloaded (TFDS's own mock data stands in for a prepared ucf101)."""

import types
from unittest import mock

import numpy as np
import pytest
import tensorflow_datasets as tfds

from preprocess import per_video, tfds_source


def test_tfds_not_prepared_is_a_clear_error_and_downloads_nothing(tmp_path):
    with pytest.raises(ValueError, match=r"TFDS dataset 'ucf101' is not prepared in .*tfds build"):
        tfds_source.items('ucf101', 'train', str(tmp_path / 'tfds'))
    assert not (tmp_path / 'tfds').exists()
    with pytest.raises(ValueError, match="TFDS dataset 'no_such_dataset'"):
        tfds_source.items('no_such_dataset', 'train', str(tmp_path))


def test_tfds_prepared_dataset_is_processed(tmp_path):
    """TFDS's own mock stands in for a prepared ucf101 (random 256x256 videos)."""
    prepared = mock.patch.object(tfds.core.DatasetBuilder, 'is_prepared', return_value=True)
    with tfds.testing.mock_data(num_examples=2), prepared:
        items, classes = tfds_source.items('ucf101', 'train', str(tmp_path))
        assert len(classes) == 101 and len(items) == 2
        assert items[0].media_id == 'train_000000' and items[0].tfds.index == 0
        record, serialized = per_video.process_video(items[0], per_video.Options(flow=False))
    assert record['status'] == 'ok', record
    assert record['height'] == 256 and record['width'] == 256 and record['frames'] > 0
    assert serialized


def test_tfds_ucf101_default_config_warns_that_the_aspect_is_squashed(tmp_path, capsys):
    prepared = mock.patch.object(tfds.core.DatasetBuilder, 'is_prepared', return_value=True)
    with tfds.testing.mock_data(num_examples=1), prepared:
        tfds_source.items('ucf101', 'train', str(tmp_path))
        assert capsys.readouterr().err.strip() == (
            'warning: TFDS ucf101/ucf101_1_256 stores frames resized to 256x256 (aspect ratio '
            'not kept), at the source frame rate; the paper resizes the short side to 256 '
            'keeping the aspect: use --tfds_name=ucf101/ucf101_1 for that'
        )
        tfds_source.items('ucf101/ucf101_1', 'train', str(tmp_path))
        assert capsys.readouterr().err == ''


def _prepared_mock(examples):
    prepared = mock.patch.object(tfds.core.DatasetBuilder, 'is_prepared', return_value=True)
    return tfds.testing.mock_data(num_examples=examples), prepared


def test_frames_of_one_example_are_resized_like_every_source(tmp_path):
    data, prepared = _prepared_mock(2)
    with data, prepared:
        items, _ = tfds_source.items('ucf101/ucf101_1', 'train', str(tmp_path))
        ref = items[1].tfds
        assert (ref.name, ref.split, ref.index) == ('ucf101/ucf101_1', 'train', 1)
        assert str(ref) == 'tfds:ucf101/ucf101_1/train[1]'
        full = list(tfds_source.frames(ref, None))
        small = list(tfds_source.frames(ref, 64))
    assert len(full) == len(small) > 0
    height, width, channels = full[0].shape
    assert channels == 3 and full[0].dtype == np.uint8
    scale = 64 / min(height, width)
    assert small[0].shape == (round(height * scale), round(width * scale), 3)


def _builder(config, *configs):
    return types.SimpleNamespace(name='clips', builder_config=config, BUILDER_CONFIGS=configs)


def test_the_squashed_aspect_warning_names_a_config_that_keeps_it_only_if_there_is_one():
    native = types.SimpleNamespace(name='native_1', width=None, height=None, split_number=1)
    squashed = types.SimpleNamespace(name='small_1', width=128, height=128, split_number=1)
    other_split = types.SimpleNamespace(name='native_2', width=None, height=None, split_number=2)
    assert tfds_source.squashed_aspect_warning(_builder(native, native, squashed)) is None
    assert tfds_source.squashed_aspect_warning(_builder(None)) is None
    alone = tfds_source.squashed_aspect_warning(_builder(squashed, squashed, other_split))
    assert alone == (
        'warning: TFDS clips/small_1 stores frames resized to 128x128 (aspect ratio not kept), '
        'at the source frame rate; the paper resizes the short side to 256 keeping the aspect'
    )
    named = tfds_source.squashed_aspect_warning(_builder(squashed, native, squashed, other_split))
    assert named == alone + ': use --tfds_name=clips/native_1 for that'
