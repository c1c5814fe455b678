"""preprocess.video_sets: the videos a set names (what extract_features.py extracts, and the
names it writes)."""

import os

import pytest

from preprocess import video_sets as videos


def test_list_videos(folder, tmp_path):
    names = [v.name for v in videos.list_videos(str(folder))]
    assert names == ['broken', 'short', os.path.join('a', 'long')]
    listing = tmp_path / 'list.txt'
    listing.write_text(f'{folder}/a/long.avi\n\n# comment\n{folder}/short.avi\n')
    assert [v.name for v in videos.list_videos(str(listing))] == ['long', 'short']
    listing.write_text(f'{folder}/a/long.avi\n{folder}/missing.avi\n')
    with pytest.raises(ValueError, match=r'list.txt:2: .*missing.avi: no such file'):
        videos.list_videos(str(listing))
    (tmp_path / 'b').mkdir()
    os.symlink(folder / 'short.avi', tmp_path / 'b' / 'long.avi')
    listing.write_text(f'{folder}/a/long.avi\nb/long.avi\n')
    with pytest.raises(ValueError, match='would both write long'):
        videos.list_videos(str(listing))
