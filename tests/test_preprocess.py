"""The paper's preprocessing: 25 fps by timestamp, resize, crop, scaling, TV-L1 flow."""

import itertools
import sys
import threading
import time
from unittest import mock

import cv2
import numpy as np
import pytest
from videos import clip_arrays, decode_index, index_frame, index_video, write_video

from preprocess import flow, model_inputs, video


@pytest.mark.parametrize(
    'fps, count, expected',
    [
        (30, 60, 50),  # 2 s
        (29.97, 90, 75),  # 3.003 s -> 75.075 frames
        (12, 30, 63),  # 2.5 s -> 62.5
        (60, 120, 50),  # 2 s
        (25, 40, 40),
        (15, 1, 2),  # one frame, shown for 1/15 s
    ],
)
def test_resampled_frame_count_follows_duration(tmp_path, fps, count, expected):
    path = index_video(tmp_path / 'v.avi', fps, count)
    frames = video.read_video(path, short_side=None)
    assert len(frames) == expected


@pytest.mark.parametrize('fps', [30, 29.97, 12, 60])
def test_resampling_picks_the_frame_on_screen(tmp_path, fps):
    count = int(round(fps * 2))
    path = index_video(tmp_path / 'v.avi', fps, count)
    frames = video.read_video(path, short_side=None)
    picked = [decode_index(f) for f in frames]
    # Output frame k is the source frame nearest to k / 25 s: round(k * fps / 25).
    expected = [min(int(np.floor(k * fps / 25 + 0.5)), count - 1) for k in range(len(frames))]
    assert picked == expected


def test_clip_bounds_and_frame_cap(tmp_path):
    path = index_video(tmp_path / 'v.avi', 50, 200)  # 4 s
    frames = video.read_video(path, start=1.0, end=2.0, short_side=None)
    assert [decode_index(f) for f in frames] == list(range(50, 100, 2))
    assert len(video.read_video(path, max_frames=7, short_side=None)) == 7
    with pytest.raises(video.VideoError, match=r'no decodable frames in \[5.0, 6.0\] s'):
        video.read_video(path, start=5.0, end=6.0)


@pytest.mark.parametrize('codec, ext', [('MJPG', 'avi'), ('mp4v', 'mp4')])
def test_clip_deep_into_a_long_video_seeks_and_keeps_exact_frames(tmp_path, codec, ext):
    path = index_video(tmp_path / f'long.{ext}', 25, 250, codec=codec)  # 10 s
    frames = video.read_video(path, start=7.0, end=8.0, short_side=None)
    assert [decode_index(f) for f in frames] == list(range(175, 200))
    first = next(video.iter_video(path, start=5.52, short_side=None))
    assert decode_index(first) == 138  # 5.52 s * 25 fps


def test_resize_short_side_and_center_crop():
    frame = np.zeros((100, 300, 3), np.uint8)
    resized = video.resize_short_side(frame)
    assert resized.shape == (256, 768, 3)
    assert video.resize_short_side(np.zeros((600, 400, 3), np.uint8)).shape == (384, 256, 3)
    clip = np.arange(2 * 256 * 340 * 3).reshape(2, 256, 340, 3)
    crop = video.center_crop(clip)
    assert crop.shape == (2, 224, 224, 3)
    np.testing.assert_array_equal(crop, clip[:, 16:240, 58:282])


def test_resize_is_bilinear():
    frame = np.random.default_rng(0).integers(0, 255, (128, 160, 3), dtype=np.uint8)
    expected = cv2.resize(frame, (320, 256), interpolation=cv2.INTER_LINEAR)
    np.testing.assert_array_equal(video.resize_short_side(frame), expected)


def test_frames_are_rgb_and_scaled_to_unit_range(tmp_path):
    bgr = np.zeros((64, 64, 3), np.uint8)
    bgr[..., 0] = 255  # pure blue in OpenCV's BGR order
    path = write_video(tmp_path / 'blue.avi', 25, [bgr] * 3)
    frames = video.read_video(path)
    assert frames.shape == (3, 256, 256, 3)
    assert frames[..., 2].mean() > 200 and frames[..., 0].mean() < 50  # RGB: blue is last
    x = video.rgb_to_model_input(np.array([0, 255], np.uint8))
    np.testing.assert_allclose(x, [-1.0, 1.0])


@pytest.mark.parametrize(
    'bad, message',
    [
        ('missing.mp4', 'no such file'),
        ('junk.mp4', 'OpenCV cannot open it'),
        ('folder.mp4', 'is a folder, not a file'),
        ('locked.mp4', r'cannot read \(Permission denied\)'),
    ],
)
def test_unreadable_videos_name_the_file(tmp_path, monkeypatch, bad, message):
    path = tmp_path / bad
    if bad == 'junk.mp4':
        path.write_bytes(b'this is not a video')
    elif bad == 'folder.mp4':
        path.mkdir()
    elif bad == 'locked.mp4':
        path.write_bytes(b'x')
        # As a file without read permission opens for a normal user (root reads anything).
        denied = PermissionError(13, 'Permission denied')
        monkeypatch.setattr(video, 'open', mock.Mock(side_effect=denied), raising=False)
    with pytest.raises(video.VideoError, match=f'{path}: {message}'):
        video.read_video(str(path))


def _texture(size=128, seed=0):
    rng = np.random.default_rng(seed)
    noise = rng.uniform(0, 255, (size // 8, size // 8)).astype(np.float32)
    return cv2.resize(noise, (size, size), interpolation=cv2.INTER_CUBIC).clip(0, 255)


@pytest.mark.parametrize('dx, dy', [(3.0, -2.0), (-1.5, 2.5)])
def test_tvl1_recovers_a_known_translation_with_opencv_sign(dx, dy):
    image = _texture()
    shift = np.float32([[1, 0, dx], [0, 1, dy]])
    moved = cv2.warpAffine(image, shift, image.shape[::-1], borderMode=cv2.BORDER_REFLECT)
    to_rgb = lambda g: np.repeat(g.astype(np.uint8)[..., None], 3, axis=2)  # noqa: E731
    fields = flow.tvl1_flow(np.stack([to_rgb(image), to_rgb(moved)]))
    assert fields.shape == (1, 128, 128, 2)
    interior = fields[0, 24:-24, 24:-24]
    # moved(y, x) = image(y - dy, x - dx): content moves by +dx, +dy; OpenCV's flow
    # maps prev(y, x) to next(y + v, x + u), so u = dx and v = dy.
    # Every interior pixel within 0.25 px (measured: ~0.03 px).
    assert np.abs(interior[..., 0] - dx).max() < 0.25
    assert np.abs(interior[..., 1] - dy).max() < 0.25


@pytest.fixture(scope='module')
def decoded_clip(tmp_path_factory):
    """12 decoded frames (64x80) of a texture drifting right and down: real TV-L1 work."""
    base = np.repeat(_texture(160, seed=3)[..., None], 3, axis=2)
    frames = [np.roll(base, (t, 2 * t), axis=(0, 1))[:64, :80] for t in range(12)]
    path = write_video(tmp_path_factory.mktemp('flow') / 'drift.avi', 25, np.uint8(frames))
    return list(video.iter_video(path, short_side=None))


@pytest.fixture
def cores():
    """flow.use_cores for one test, reset after it."""
    yield flow.use_cores
    flow.use_cores(None)


def _tvl1_threads():
    return [t for t in threading.enumerate() if t.name.startswith('tvl1')]


def test_parallel_fields_are_the_serial_ones_bit_for_bit_in_order(decoded_clip):
    assert len(decoded_clip) == 12 and decoded_clip[0].shape == (64, 80, 3)
    serial = list(flow.fields(decoded_clip, threads=1))
    assert serial[0][1] is None and all(f.shape == (64, 80, 2) for _, f in serial[1:])
    assert np.abs(serial[5][1]).mean() > 0.5  # it moves
    for threads in (2, 3, 16):  # 16: more threads than pairs
        parallel = list(flow.fields(iter(decoded_clip), threads))
        assert [f for f, _ in parallel] == [f for f, _ in serial]  # the same frame objects
        assert parallel[0][1] is None
        for (_, a), (_, b) in zip(parallel[1:], serial[1:], strict=True):
            np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(
        flow.tvl1_flow(np.stack(decoded_clip), threads=2), np.stack([f for _, f in serial[1:]])
    )
    assert not _tvl1_threads()


@pytest.mark.parametrize('threads', [1, 2])
def test_one_frame_has_no_flow_and_no_frame_nothing(threads):
    frame = np.zeros((8, 8, 3), np.uint8)
    assert list(flow.fields([], threads)) == []
    [(only, field)] = list(flow.fields([frame], threads))
    assert only is frame and field is None
    assert flow.tvl1_flow(frame[None], threads).shape == (0, 8, 8, 2)


def test_the_process_setting_and_a_default_of_all_cores(cores):
    import os

    assert flow.cores() == (os.cpu_count() or 1)
    cores(3)
    assert flow.cores() == 3


def test_closing_early_stops_the_threads_and_reads_only_a_bounded_look_ahead(decoded_clip, cores):
    import multiprocessing

    tokens = multiprocessing.get_context('spawn').BoundedSemaphore(2)
    cores(2, tokens)
    read = []

    def endless():  # a video of any length: frames are read as the fields are taken
        for k in itertools.count():
            read.append(k)
            yield decoded_clip[k % len(decoded_clip)]

    pairs = flow.fields(endless())
    taken = list(itertools.islice(pairs, 5))
    assert [f is not None for _, f in taken] == [False] + [True] * 4
    assert len(read) <= 5 + flow.LOOKAHEAD * 2  # held: at most 2 x threads frames
    assert _tvl1_threads()  # pairs in flight
    started = time.monotonic()
    pairs.close()
    assert time.monotonic() - started < 5  # waits for the running calls only
    assert not _tvl1_threads()
    assert tokens.get_value() == 2  # every token given back, cancelled pairs' included
    count = len(read)
    time.sleep(0.2)
    assert len(read) == count


@pytest.mark.parametrize('threads', [1, 2])
def test_errors_reach_the_consumer_and_leave_no_thread_or_token(decoded_clip, cores, threads):
    import multiprocessing

    tokens = multiprocessing.get_context('spawn').BoundedSemaphore(2)
    cores(threads, tokens)

    def failing(frames, after):
        yield from frames[:after]
        raise video.VideoError('v.avi: undecodable frame')  # mid-way, pairs in flight

    with pytest.raises(video.VideoError, match='undecodable frame'):
        list(flow.fields(failing(decoded_clip, 6)))
    # A TV-L1 call that fails (frames of two sizes) raises in the consumer.
    odd = [*decoded_clip[:4], decoded_clip[4][:32], *decoded_clip[5:]]
    with pytest.raises(cv2.error):
        list(flow.fields(odd))
    assert not _tvl1_threads() and tokens.get_value() == 2


def test_the_shared_tokens_limit_tv_l1_calls_across_processes():
    """Two pool workers, each computing 2 pairs at once, at the same time: with 2 tokens
    at most 2 calls run at once (and 2 do); without tokens, 4."""
    import multiprocessing

    import flow_workers

    from preprocess import pool

    context = multiprocessing.get_context('spawn')
    for tokens, expected in ((2, 2), (0, 4)):
        barrier = context.Barrier(2)  # both tasks start together
        results = pool.ordered_map(
            flow_workers.flow_calls,
            [6, 6],
            2,
            flow_workers.crashed,
            flow_workers.stub_worker,
            (2, barrier),
            tokens=tokens,
        )
        calls = [call for _, task_calls in results for call in task_calls]
        assert len(calls) == 12
        assert flow_workers.most_at_once(calls) == expected


_INTERRUPTED = """
import itertools, sys, time
import numpy as np
import flow_workers
from preprocess import flow
flow._tvl1 = flow_workers.SlowTvl1
flow_workers.CALL_SECONDS = 2.0
frame = np.zeros((8, 8, 3), np.uint8)
for k, _ in enumerate(flow.fields(itertools.repeat(frame), threads=2)):  # a video without end
    if k == 1:
        print('started', flush=True)  # the next pairs are running
        if sys.argv[1] == 'consumer':
            time.sleep(60)  # the consumer busy: the interrupt comes here, not in fields
"""


@pytest.mark.skipif(not sys.platform.startswith('linux'), reason='POSIX signals')
@pytest.mark.parametrize('where', ['consumer', 'fields'])
def test_ctrl_c_mid_video_exits_promptly(where):
    """Ctrl-C waits only for the running TV-L1 calls (2 s each), never for further pairs,
    also when uncaught in the consumer: its traceback keeps the generator alive to the
    exit, where the threads are joined."""
    import os
    import signal
    import subprocess

    from common.files import REPO_DIR

    env = dict(os.environ, PYTHONPATH=os.pathsep.join([REPO_DIR, os.path.join(REPO_DIR, 'tests')]))
    child = subprocess.Popen(
        [sys.executable, '-c', _INTERRUPTED, where],
        cwd=REPO_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert child.stdout.readline() == 'started\n'
    time.sleep(0.5)
    child.send_signal(signal.SIGINT)
    started = time.monotonic()
    _, stderr = child.communicate(timeout=60)
    assert time.monotonic() - started < 3  # the running calls end within 2 s
    assert child.returncode == -signal.SIGINT and 'KeyboardInterrupt' in stderr


def test_flow_truncation_scaling_and_quantization_round_trip():
    values = np.linspace(-30, 30, 2001, dtype=np.float32)
    np.testing.assert_allclose(flow.flow_to_model_input(values), np.clip(values, -20, 20) / 20)
    q = flow.quantize(values)
    assert q.dtype == np.uint8 and q.min() == 0 and q.max() == 255
    error = np.abs(flow.dequantize(q) - np.clip(values, -20, 20))
    assert error.max() <= 20 / 255 + 1e-5  # half of the 40/255 px step
    assert flow.dequantize(np.array([0, 255], np.uint8)).tolist() == [-20.0, 20.0]


def test_deepmind_gif_is_decoded_back_to_network_range(shared_path):
    rgb = model_inputs.load_gif(shared_path('data', 'v_CricketShot_g04_c01_rgb.gif'), 'rgb')
    assert rgb.shape == (79, 224, 224, 3) and rgb.min() >= -1 and rgb.max() <= 1
    assert rgb.min() < -0.9 and rgb.max() > 0.9
    fl = model_inputs.load_gif(shared_path('data', 'v_CricketShot_g04_c01_flow.gif'), 'flow')
    assert fl.shape == (79, 224, 224, 2)
    assert abs(float(np.median(fl))) < 0.01  # mostly still background, stored as 0.5


def test_load_preprocessed_and_raw_clips(tmp_path):
    data = np.random.default_rng(0).uniform(-1, 1, (1, 5, 32, 32, 3)).astype(np.float32)
    np.save(tmp_path / 'c_rgb.npy', data)
    np.save(tmp_path / 'c_flow.npy', data[..., :2])
    out = model_inputs.load_preprocessed(str(tmp_path / 'c_rgb.npy'), ['rgb', 'flow'])
    np.testing.assert_array_equal(out['rgb'], data[0])
    np.testing.assert_array_equal(out['flow'], data[0, ..., :2])
    with pytest.raises(
        video.VideoError, match=r'c_rgb\.npy: has 3 channels; the flow stream needs 2'
    ):
        model_inputs.load_preprocessed(str(tmp_path / 'c_rgb.npy'), ['flow'])
    np.save(tmp_path / 'empty.npy', np.zeros((0, 8, 8, 3), np.float32))
    with pytest.raises(video.VideoError, match='empty.npy: the clip has no frames'):
        model_inputs.load_preprocessed(str(tmp_path / 'empty.npy'), ['rgb'])
    path = write_video(tmp_path / 'v.avi', 25, [index_frame(i) for i in range(4)])
    raw = clip_arrays(path, ['rgb', 'flow'], max_frames=3)  # raw videos: inference's path
    assert raw['rgb'].shape == (3, 224, 224, 3) and raw['flow'].shape == (2, 224, 224, 2)
    assert raw['flow'].min() >= -1 and raw['flow'].max() <= 1


def test_zero_flow_has_no_exact_level():
    """256 levels over [-20, 20] have no middle one: still pixels are stored as level 128,
    +20/255 px (+1/255 as network input); MediaPipe's truncation gives 127, -20/255 px."""
    level = flow.quantize(np.zeros(3, np.float32))
    assert level.tolist() == [128, 128, 128]
    assert flow.dequantize(level)[0] == pytest.approx(20 / 255, abs=1e-5)
    assert flow.flow_to_model_input(flow.dequantize(level))[0] == pytest.approx(1 / 255, abs=1e-6)
    assert flow.dequantize(np.array([127], np.uint8))[0] == pytest.approx(-20 / 255, abs=1e-5)
