"""preprocess.clip_input: the one clip-input path (raw video, shard, preprocessed file)."""

import numpy as np
from videos import write_video

from preprocess import clip_input, video


def test_stream_input_matches_loaded_clip(tmp_path):
    frames = np.random.default_rng(4).integers(0, 255, (30, 48, 64, 3), np.uint8)
    path = write_video(tmp_path / 'v.avi', 25, frames)
    count, rgb = clip_input.stream_input(path, 'rgb')
    loaded = video.rgb_to_model_input(video.center_crop(video.read_video(path)))
    assert count == len(loaded) == 30
    np.testing.assert_array_equal(np.stack(list(rgb)), loaded)
    # one frame to spare: cut and flagged
    cut, was_cut = clip_input.first_frames({'rgb': loaded[:11]}, 10, path)
    assert was_cut and len(cut['rgb']) == 10


def test_a_shard_example_is_the_tf_data_readers_and_max_frames_cuts_it(tmp_path):
    from motion_videos import write_shard
    from videos import clip_arrays, shard_example

    shard = write_shard(tmp_path / 's.tfrecord', [('a', 0, 3, (16, 16)), ('b', 1, 6, (16, 16))])
    rgb, flow = shard_example(shard, 'b')
    got = clip_arrays(shard, ['rgb', 'flow'], media_id='b')
    np.testing.assert_array_equal(got['rgb'], video.rgb_to_model_input(rgb))
    assert got['flow'].shape == (5, 16, 16, 2)  # flow: one field fewer than frames
    np.testing.assert_allclose(got['flow'] * 20, np.clip(flow, -20, 20), atol=1e-5)
    inputs, cut = clip_input.clip_inputs(shard, ['rgb', 'flow'], media_id='b', max_frames=4)
    assert cut and inputs['rgb'][0] == 4 and inputs['flow'][0] == 3
    first = clip_arrays(shard, ['rgb'])  # no media id: the first video
    assert len(first['rgb']) == 3


def test_media_id_is_for_shards_only_and_an_unknown_one_is_named(tmp_path):
    import pytest
    from motion_videos import write_shard

    path = write_video(tmp_path / 'v.avi', 25, np.zeros((4, 16, 16, 3), np.uint8))
    with pytest.raises(video.VideoError, match='v.avi: --media_id applies only to .tfrecord'):
        clip_input.clip_inputs(path, ['rgb'], media_id='x')
    shard = write_shard(tmp_path / 's.tfrecord', [('a', 0, 3, (16, 16))])
    with pytest.raises(video.VideoError, match="s.tfrecord: no video with media id 'nope'"):
        clip_input.clip_inputs(shard, ['rgb'], media_id='nope')


def _drifting(count, height=48, width=64):
    """A smooth texture moving sideways: TV-L1 converges fast (~1 s a 256x341 pair)."""
    from motion_videos import motion_frames

    rng = np.random.default_rng(5)
    return motion_frames('horizontal', rng, frames=count, height=height, width=width, speed=1)


def test_a_raw_video_s_streams_are_the_same_frame_by_frame_with_any_flow_threads(tmp_path):
    path = write_video(tmp_path / 'v.avi', 25, _drifting(3))
    serial = list(clip_input.pixels(path, ['rgb', 'flow'], flow_threads=1))
    parallel = list(clip_input.pixels(path, ['rgb', 'flow'], flow_threads=2))
    # RGB and flow of a frame together; no flow at the first.
    assert [sorted(f) for f in parallel] == [['rgb']] + [['flow', 'rgb']] * 2
    decoded = video.center_crop(video.read_video(path))
    np.testing.assert_array_equal(np.stack([f['rgb'] for f in parallel]), decoded)
    assert parallel[1]['flow'].shape == (224, 224, 2) and np.abs(parallel[1]['flow']).max() > 1
    for a, b in zip(parallel, serial, strict=True):
        for name in b:
            np.testing.assert_array_equal(a[name], b[name])


def test_a_raw_video_streams_through_a_few_frames_and_stops_when_closed(monkeypatch):
    import itertools
    import threading

    from preprocess import flow

    read, closed = [], []

    def endless(path, max_frames=None, **kwargs):  # a decoder that never ends
        try:
            for k in itertools.count():
                read.append(k)
                yield _drifting(1, 16, 24)[0] + np.uint8(k % 7)
        finally:
            closed.append(path)

    monkeypatch.setattr(video, 'iter_video', endless)
    frames = clip_input.pixels('long.mp4', ['rgb', 'flow'], flow_threads=2)
    taken = list(itertools.islice(frames, 6))
    assert [sorted(f) for f in taken] == [['rgb']] + [['flow', 'rgb']] * 5
    assert len(read) <= 6 + flow.LOOKAHEAD * 2  # never the whole video
    frames.close()
    assert closed == ['long.mp4']
    assert not [t for t in threading.enumerate() if t.name.startswith('tvl1')]
