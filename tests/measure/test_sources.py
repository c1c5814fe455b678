"""measure.sources: what a set is (videos, an array or statistics), told by content."""

import numpy as np
import pytest
from videos import video_npz

from measure import sources, statistics


def _moments(rows):
    return statistics.Moments(rows.shape[1]).add(rows)


def test_an_npz_is_classified_by_its_content(tmp_path):

    videos = video_npz(tmp_path / 'stats_like_name.npz', 0)
    stats = str(tmp_path / 'videos_like_name.npz')
    statistics.save(stats, statistics.Stats(_moments(np.eye(3)), {'frames': 2}))
    assert sources.classify(videos) == sources.ARRAY
    assert sources.classify(stats) == sources.STATISTICS
    assert sources.open_set(videos, 2).count == 3
    junk = tmp_path / 'junk.npz'
    junk.write_bytes(b'not an archive')
    with pytest.raises(ValueError, match=r'junk\.npz: unreadable \.npz \(not a zip archive\)'):
        sources.classify(str(junk))
    with pytest.raises(ValueError, match=r'gone\.npy: no such file'):
        sources.classify(str(tmp_path / 'gone.npy'))
