"""Video sources: class folders with UCF101/HMDB51 split lists, Kinetics CSVs."""

import os

import pytest
from videos import index_video

from preprocess import per_video, sources


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
        'brush_hair/brush_hair_0',
        'brush_hair/brush_hair_3',
        'cartwheel/cartwheel_0',
        'cartwheel/cartwheel_3',
    ]
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


def test_symlink_loops_list_each_video_once_and_terminate(tmp_path):
    root = tmp_path / 'd'
    (root / 'c').mkdir(parents=True)
    (root / 'c' / 'v.avi').write_bytes(b'x')
    os.symlink('../c', root / 'c' / 'loop')  # c/loop -> c
    for n in range(3):  # several loops in one folder used to hang the listing
        os.symlink('..', root / 'c' / f'up{n}')
    os.symlink(root / 'c', root / 'alias')  # a second class folder that is the same folder
    items, classes = sources.folder_items(str(root))
    assert classes == ['alias', 'c']
    assert [i.path for i in items] == [str(root / 'alias' / 'v.avi')]


def test_class_folders_differing_only_in_case_are_two_classes(tmp_path):
    for cls in ('Run', 'run'):
        (tmp_path / cls).mkdir()
        (tmp_path / cls / f'{cls}1.avi').write_bytes(b'x')
    items, classes = sources.folder_items(str(tmp_path))
    assert classes == ['Run', 'run']
    assert [(i.media_id, i.label_index, i.label_string) for i in items] == [
        ('Run/Run1', 0, 'Run'),
        ('run/run1', 1, 'run'),
    ]
    listed = tmp_path / 'list.txt'
    listed.write_text('run/run1.avi\nRun/Run1.avi\n')
    items, _ = sources.folder_items(str(tmp_path), str(listed))
    assert [i.label_index for i in items] == [1, 0]
    ambiguous = tmp_path / 'ambiguous.txt'
    ambiguous.write_text('RUN/Run1.avi\n')
    with pytest.raises(ValueError, match="'RUN/Run1.avi' is not in a class folder"):
        sources.folder_items(str(tmp_path), str(ambiguous))


def test_byte_order_marks_are_ignored_in_csv_and_split_lists(tmp_path):
    (tmp_path / 'v' / 'Archery').mkdir(parents=True)
    (tmp_path / 'v' / 'Archery' / 'a.avi').write_bytes(b'x')
    split = tmp_path / 'trainlist01.txt'
    split.write_bytes('\ufeffArchery/a.avi 1\r\n'.encode())
    items, _ = sources.folder_items(str(tmp_path / 'v'), str(split))
    assert [i.media_id for i in items] == ['Archery/a']
    csv = tmp_path / 'k.csv'
    csv.write_bytes('\ufefflabel,youtube_id,time_start,time_end,split\nx,a,0,10,train\n'.encode())
    items, classes = sources.kinetics_items(str(csv), str(tmp_path))
    assert classes == ['x'] and items[0].label_index == 0 and items[0].label_string == 'x'


HEADER = 'label,youtube_id,time_start,time_end,split\n'


@pytest.mark.parametrize(
    'rows, message',
    [
        ('x,a,0,10,train\n\n\nx,b,0\n', r'k.csv:5: expected 5 fields'),
        ('x,a,0,10,train,extra\n', r'k.csv:2: expected 5 fields'),
        ('x,a,inf,10,train\n', r"k.csv:2: time_start 'inf' must be a finite number >= 0"),
        ('\nx,a,0,1e400,train\n', r"k.csv:3: time_end '1e400' must be a finite"),
        ('x,a,nan,10,train\n', r"k.csv:2: time_start 'nan' must be a finite"),
        ('x,a,ten,10,train\n', r"k.csv:2: time_start 'ten' is not a number"),
        ('x,a,-1,10,train\n', r"k.csv:2: time_start '-1' must be a finite number >= 0"),
        ('x,a,12,10,train\n', r'k.csv:2: time_end 10 is not after time_start 12'),
        ('x,a,0,10,train\ny,a,0,10,train\n', r"k.csv:3: clip a_000000_000010 has label 'y'"),
        ('x,a,0,10,train\nx,a,0.5,10,train\n', r'k.csv:3: clip a_000000_000010 differs from'),
        ('x, ,0,10,train\n', r'k.csv:2: empty youtube_id'),
    ],
)
def test_bad_kinetics_rows_name_their_line(tmp_path, rows, message):
    csv = tmp_path / 'k.csv'
    csv.write_text(HEADER + rows)
    with pytest.raises(ValueError, match=message):
        sources.kinetics_items(str(csv), str(tmp_path))


def test_duplicate_kinetics_rows_are_kept_once(tmp_path):
    csv = tmp_path / 'k.csv'
    csv.write_text(HEADER + 'x,a,0,10,train\nx,b,0,10,train\nx,a,0,10,train\n')
    items, _ = sources.kinetics_items(str(csv), str(tmp_path))
    assert [i.media_id for i in items] == ['a_000000_000010', 'b_000000_000010']


def test_split_list_not_utf8_names_the_file(tmp_path):
    (tmp_path / 'v' / 'c').mkdir(parents=True)
    split = tmp_path / 'list.txt'
    split.write_bytes('c/caf\xe9.avi\n'.encode('latin-1'))
    with pytest.raises(ValueError, match=r'list.txt: not UTF-8 text'):
        sources.folder_items(str(tmp_path / 'v'), str(split))


def test_videos_differing_only_by_extension_keep_distinct_media_ids(tmp_path):
    (tmp_path / 'a').mkdir()
    for name in ('x.avi', 'x.mp4', 'y.avi'):
        (tmp_path / 'a' / name).write_bytes(b'x')
    items, _ = sources.folder_items(str(tmp_path))
    assert [i.media_id for i in items] == ['a/x.avi', 'a/x.mp4', 'a/y']
