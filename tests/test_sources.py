"""Video sources: class folders with UCF101/HMDB51 split lists, Kinetics CSVs, TFDS."""

from unittest import mock

import pytest
import tensorflow_datasets as tfds
from videos import index_video

from preprocess import per_video, sources, tfds_source


@pytest.fixture
def ucf_like(tmp_path):
    root = tmp_path / 'UCF-101'
    for cls in ('ApplyEyeMakeup', 'Archery', 'HandstandPushups'):
        (root / cls).mkdir(parents=True)
        for g in (1, 2):
            (root / cls / f'v_{cls}_g0{g}_c01.avi').write_bytes(b'x')
    (root / 'stray.avi').write_bytes(b'x')  # not in a class folder: ignored
    (root / '.hidden').mkdir()
    return root


def test_folder_source_labels_from_sorted_folders(ucf_like):
    items, classes = sources.folder_items(str(ucf_like))
    assert classes == ['ApplyEyeMakeup', 'Archery', 'HandstandPushups']
    assert len(items) == 6
    assert items[0].media_id == 'ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01'
    assert [i.label_index for i in items] == [0, 0, 1, 1, 2, 2]
    assert all(i.label_string == classes[i.label_index] for i in items)


def test_ucf101_split_list_selects_videos_and_keeps_missing_ones(ucf_like, tmp_path):
    split = tmp_path / 'trainlist01.txt'
    split.write_text(
        'Archery/v_Archery_g02_c01.avi 2\n'
        'HandStandPushups/v_HandstandPushups_g01_c01.avi 3\n'  # UCF101's case quirk
        'Archery/v_Archery_g09_c01.avi 2\n'  # listed but not on disk
    )
    items, classes = sources.folder_items(str(ucf_like), str(split))
    assert [i.media_id for i in items] == [
        'Archery/v_Archery_g02_c01',
        'HandStandPushups/v_HandstandPushups_g01_c01',
        'Archery/v_Archery_g09_c01',
    ]
    assert [i.label_index for i in items] == [1, 2, 1]
    assert items[1].path == str(ucf_like / 'HandstandPushups' / 'v_HandstandPushups_g01_c01.avi')
    assert items[2].path == str(ucf_like / 'Archery' / 'v_Archery_g09_c01.avi')  # fails later
    testlist = tmp_path / 'testlist01.txt'
    testlist.write_text('Archery/v_Archery_g01_c01.avi\n')
    assert [i.media_id for i in sources.folder_items(str(ucf_like), str(testlist))[0]] == [
        'Archery/v_Archery_g01_c01'
    ]


def test_hmdb51_split_files(tmp_path):
    root = tmp_path / 'hmdb51'
    splits = tmp_path / 'splits'
    splits.mkdir()
    for cls in ('brush_hair', 'cartwheel'):
        (root / cls).mkdir(parents=True)
        lines = []
        for n, subset in enumerate(('1', '2', '0', '1')):
            (root / cls / f'{cls}_{n}.avi').write_bytes(b'x')
            lines.append(f'{cls}_{n}.avi {subset} ')
        (splits / f'{cls}_test_split1.txt').write_text('\n'.join(lines) + '\n')
        (splits / f'{cls}_test_split2.txt').write_text(f'{cls}_2.avi 1\n')
    pattern = str(splits / '*_test_split1.txt')
    train, classes = sources.folder_items(str(root), pattern, 'train')
    assert classes == ['brush_hair', 'cartwheel']
    assert [i.media_id for i in train] == [
        'brush_hair/brush_hair_0', 'brush_hair/brush_hair_3',
        'cartwheel/cartwheel_0', 'cartwheel/cartwheel_3',
    ]  # fmt: skip
    test, _ = sources.folder_items(str(root), pattern, 'test')
    assert [i.media_id for i in test] == ['brush_hair/brush_hair_1', 'cartwheel/cartwheel_1']


def test_folder_source_errors(tmp_path):
    with pytest.raises(ValueError, match='not a folder'):
        sources.folder_items(str(tmp_path / 'nope'))
    with pytest.raises(ValueError, match='no class sub-folders'):
        sources.folder_items(str(tmp_path))
    (tmp_path / 'a').mkdir()
    with pytest.raises(ValueError, match='no split file found'):
        sources.folder_items(str(tmp_path), str(tmp_path / 'missing*.txt'))
    bad = tmp_path / 'list.txt'
    bad.write_text('zzz/v.avi\n')
    with pytest.raises(ValueError, match=r"list\.txt: 'zzz/v.avi' is not in a class folder"):
        sources.folder_items(str(tmp_path), str(bad))


def test_kinetics_csv_trimmed_full_and_missing_videos(tmp_path):
    videos = tmp_path / 'videos' / 'part1'
    videos.mkdir(parents=True)
    index_video(videos / 'abc_000010_000020.mp4', 25, 5, codec='mp4v')  # trimmed clip
    index_video(videos / 'full01.avi', 25, 5)  # whole video, clipped here
    csv = tmp_path / 'train.csv'
    csv.write_text(
        'label,youtube_id,time_start,time_end,split\n'
        'playing cricket,abc,10,20,train\n'
        'abseiling,full01,3.5,13.5,train\n'
        'abseiling,gone,0,10,train\n'
    )
    items, classes = sources.kinetics_items(str(csv), str(tmp_path / 'videos'))
    assert classes == ['abseiling', 'playing cricket']
    trimmed, full, missing = items
    assert (trimmed.media_id, trimmed.start, trimmed.end) == ('abc_000010_000020', None, None)
    assert trimmed.path.endswith('abc_000010_000020.mp4') and trimmed.label_index == 1
    assert (full.media_id, full.start, full.end) == ('full01_000003_000013', 3.5, 13.5)
    assert full.path.endswith('full01.avi')
    assert missing.path == '' and missing.media_id == 'gone_000000_000010'
    record, serialized = per_video.process_video(missing, per_video.Options(flow=False))
    assert record['status'] == 'failed' and 'video not found' in record['reason']
    with pytest.raises(ValueError, match="train.csv:2: label 'playing cricket' not in"):
        sources.kinetics_items(str(csv), str(tmp_path), classes=['abseiling'])
    bad = tmp_path / 'bad.csv'
    bad.write_text('label,url\nx,y\n')
    with pytest.raises(ValueError, match='bad.csv: expected columns'):
        sources.kinetics_items(str(bad), str(tmp_path))


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
