"""jobs.records: the one manifest-record shape of build_shards and extract_features."""

import json

import pytest

from jobs import records


def test_identity_then_status_then_fields_and_json_round_trip():
    identity = {'video': 'a/b', 'path': '/x/a/b.mp4', 'media_id': None}
    done = records.record(identity, records.OK, frames=20, windows=1)
    assert list(done) == ['video', 'path', 'media_id', 'status', 'frames', 'windows']
    assert json.loads(json.dumps(done)) == done
    assert identity == {'video': 'a/b', 'path': '/x/a/b.mp4', 'media_id': None}  # not changed


def test_failed_and_crashed_records_give_the_reason():
    identity = {'media_id': 'v1', 'path': 'p', 'label_index': 3, 'label': 'c'}
    assert records.failed(identity, 'VideoError: no frames') == identity | {
        'status': 'failed',
        'reason': 'VideoError: no frames',
    }
    crashed = records.crashed(identity)
    assert crashed['status'] == records.FAILED
    assert crashed['reason'] == 'worker process died (decoder crash?)'


def test_both_jobs_identities_fit_the_records_that_resume_reads():
    """Manifests written before the records were shared have these keys: a resumed run
    reads them unchanged."""
    from preprocess import per_video, sources, video_sets

    item = sources.Item('v1', '/v/a.mp4', 2, 'c')
    assert per_video.identity(item) == {
        'media_id': 'v1',
        'path': '/v/a.mp4',
        'label_index': 2,
        'label': 'c',
    }
    video = video_sets.Video('x/a', '/v/a.mp4')
    assert video_sets.identity(video) == {'video': 'x/a', 'path': '/v/a.mp4', 'media_id': None}


def test_manifest_lines_are_sorted_json_and_read_back_as_written():
    old = (
        '{"frames": 5, "media_id": "c/v", "status": "ok"}\n'
        '\n'
        '{"media_id": "x", "reason": "r", "status": "failed"}\n'
    )
    back = records.read(old.splitlines(keepends=True))
    assert back == [
        {'frames': 5, 'media_id': 'c/v', 'status': 'ok'},
        {'media_id': 'x', 'reason': 'r', 'status': 'failed'},
    ]
    assert records.text(back) == old.replace('\n\n', '\n')  # the same bytes (blank dropped)
    assert records.line({'b': 1, 'a': 2}) == '{"a": 2, "b": 1}\n'
    with pytest.raises(ValueError):
        records.read(['{"cut by kill -9'])
