"""preprocess.per_video: one video -> its SequenceExample and manifest record; a failure is
a record naming the reason, never an exception."""

import numpy as np
import tensorflow as tf
from videos import write_video

from jobs import records
from preprocess import per_video, schema, sources


def test_a_video_becomes_an_example_at_the_papers_rate_with_its_record(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / 'v.avi'
    write_video(path, 25, rng.integers(0, 255, (6, 40, 48, 3), np.uint8))
    item = sources.Item('c/v', str(path), 2, 'c')
    options = per_video.Options(rgb_format='PNG', short_side=32)
    record, serialized = per_video.process_video(item, options, flow_threads=1)
    assert record['status'] == records.OK
    assert {k: record[k] for k in ('media_id', 'path', 'label_index', 'label')} == (
        per_video.identity(item)
    )
    assert (record['frames'], record['flow_frames'], record['fps']) == (6, 5, 25.0)
    assert (record['height'], record['width']) == (32, 38)
    assert record['bytes'] == len(serialized) and record['duration_s'] == 0.24
    parsed = schema.parse(tf.constant(serialized))
    assert parsed['label'].numpy() == 2


def test_without_flow_no_fields_are_stored(tmp_path):
    rng = np.random.default_rng(1)
    path = tmp_path / 'v.avi'
    write_video(path, 25, rng.integers(0, 255, (4, 40, 48, 3), np.uint8))
    item = sources.Item('c/v', str(path), 0, 'c')
    record, _ = per_video.process_video(item, per_video.Options(flow=False, short_side=32), 1)
    assert record['status'] == 'ok' and record['flow_frames'] == 0


def test_a_broken_or_missing_video_is_a_failed_record(tmp_path):
    broken = tmp_path / 'broken.mp4'
    broken.write_bytes(b'not a video')
    for path in (broken, tmp_path / 'missing.mp4'):
        item = sources.Item('c/x', str(path), 0, 'c')
        record, serialized = per_video.process_video(item, per_video.Options(), 1)
        assert serialized is None and record['status'] == records.FAILED
        assert record['reason'].startswith('VideoError: ') and record['media_id'] == 'c/x'
        assert 'elapsed_s' in record
