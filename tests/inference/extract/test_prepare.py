"""inference.extract.prepare: a video's (or a shard example's) centre-cropped pixels in raw
work files, what the model half memory-maps; failures recorded, no work file left."""

import os

import numpy as np
import pytest
import tensorflow as tf
from videos import shard_example, write_video

from inference.extract import prepare
from preprocess import clip_input, schema, streams, video
from preprocess import video_sets as videos


def _read(prepared, name):
    path, shape = prepared[name]
    dtype = np.dtype(streams.STREAMS[name].pixel_dtype)
    assert os.path.getsize(path) == np.prod(shape) * dtype.itemsize  # exactly the frames
    return np.fromfile(path, dtype).reshape(shape)


@pytest.mark.slow
def test_a_video_s_pixels_are_its_centre_cropped_frames_and_their_flow(tmp_path):
    frames = np.random.default_rng(1).integers(0, 255, (3, 16, 24, 3), np.uint8)
    write_video(tmp_path / 'v.avi', 25, frames)
    item = videos.Video('v', str(tmp_path / 'v.avi'))
    prepared = prepare.prepare(item, ('rgb', 'flow'), str(tmp_path / 'work'))
    assert prepared['frames'] == 3
    rgb, flow = _read(prepared, 'rgb'), _read(prepared, 'flow')
    decoded = video.read_video(str(tmp_path / 'v.avi'))  # independent of clip_input
    np.testing.assert_array_equal(rgb, video.center_crop(decoded))
    assert rgb.shape == (3, 224, 224, 3) and flow.shape == (2, 224, 224, 2)  # one fewer
    reference = [f['flow'] for f in clip_input.pixels(item.path, ('flow',)) if 'flow' in f]
    np.testing.assert_array_equal(flow, np.stack(reference))
    prepare.remove(prepared)
    assert os.listdir(tmp_path / 'work') == []


def test_the_work_files_are_the_same_bit_for_bit_whatever_the_flow_threads(tmp_path):
    from motion_videos import motion_frames  # smooth: TV-L1 converges (~1 s a pair)

    frames = motion_frames('horizontal', np.random.default_rng(3), frames=3, speed=1)
    write_video(tmp_path / 'v.avi', 25, frames)
    item = videos.Video('v', str(tmp_path / 'v.avi'))
    files = {}
    for threads in (1, 2):
        prepared = prepare.prepare(item, ('rgb', 'flow'), str(tmp_path / 'work'), threads)
        files[threads] = {name: _read(prepared, name) for name in ('rgb', 'flow')}
        prepare.remove(prepared)
    assert files[1]['flow'].shape == (2, 224, 224, 2) and np.abs(files[1]['flow']).max() > 1
    for name in ('rgb', 'flow'):
        np.testing.assert_array_equal(files[2][name], files[1][name])


def test_a_shard_example_gives_its_stored_frames_and_flow(tmp_path):
    rng = np.random.default_rng(2)
    rgb = rng.integers(0, 255, (4, 6, 10, 3), np.uint8)
    fields = rng.uniform(-20, 20, (3, 6, 10, 2)).astype(np.float32)
    meta = {'media_id': 'c/v', 'path': 'v.avi', 'label_index': 0, 'label_string': 'c'}
    example = schema.make_example(
        meta,
        [schema.encode_rgb(f, 'PNG') for f in rgb],
        [schema.encode_flow(f) for f in fields],
        (6, 10),
        25.0,
        'PNG',
    )
    shard = str(tmp_path / 'test-00000-of-00001.tfrecord')
    with tf.io.TFRecordWriter(shard) as writer:
        writer.write(example.SerializeToString())
    item = videos.Video('c/v', shard, media_id='c/v')
    prepared = prepare.prepare(item, ('rgb', 'flow'), str(tmp_path / 'work'))
    stored_rgb, stored_flow = shard_example(shard, 'c/v')  # tf.data's reader
    np.testing.assert_array_equal(_read(prepared, 'rgb'), stored_rgb)
    np.testing.assert_array_equal(_read(prepared, 'flow'), stored_flow)  # not recomputed
    assert prepared['frames'] == 4


def test_failures_are_recorded_and_leave_no_work_file(tmp_path):
    write_video(tmp_path / 'one.avi', 25, np.zeros((1, 16, 16, 3), np.uint8))
    one = videos.Video('one', str(tmp_path / 'one.avi'))
    work = str(tmp_path / 'work')
    with pytest.raises(video.VideoError, match='1 frame: too short for the flow stream'):
        prepare.prepare(one, ('rgb', 'flow'), work)
    assert os.listdir(work) == []
    (tmp_path / 'broken.mp4').write_bytes(b'not a video')
    broken = videos.Video('broken', str(tmp_path / 'broken.mp4'))
    prepared, failed = prepare.prepare_or_fail(broken, ('rgb',), work)
    assert prepared is None and failed['status'] == 'failed' and failed['video'] == 'broken'
    assert failed['reason'].startswith('VideoError: ') and 'cannot open' in failed['reason']
    assert os.listdir(work) == []
    _, prepared, failed = prepare.crashed_task((broken, ('rgb',), work))
    assert prepared is None and failed['reason'] == 'worker process died (decoder crash?)'
