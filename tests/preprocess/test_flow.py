"""preprocess.flow: TV-L1 as in the paper (OpenCV's sign), its pairs on threads bit for bit
the serial ones, the shared tokens, Ctrl-C mid-video, truncation and quantization."""

import itertools
import sys
import threading
import time

import cv2
import numpy as np
import pytest
from videos import write_video

from preprocess import flow, video


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


@pytest.mark.slow
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

    from jobs import pool

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


@pytest.mark.slow
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


def test_zero_flow_has_no_exact_level():
    """256 levels over [-20, 20] have no middle one: still pixels are stored as level 128,
    +20/255 px (+1/255 as network input); MediaPipe's truncation gives 127, -20/255 px."""
    level = flow.quantize(np.zeros(3, np.float32))
    assert level.tolist() == [128, 128, 128]
    assert flow.dequantize(level)[0] == pytest.approx(20 / 255, abs=1e-5)
    assert flow.flow_to_model_input(flow.dequantize(level))[0] == pytest.approx(1 / 255, abs=1e-6)
    assert flow.dequantize(np.array([127], np.uint8))[0] == pytest.approx(-20 / 255, abs=1e-5)
