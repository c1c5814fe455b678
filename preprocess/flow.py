"""TV-L1 optical flow as in the paper, its pairs computed in parallel, and its storage
quantization.

Flow is computed between consecutive 25 fps frames (T frames -> T-1 fields) on the
grayscale image with OpenCV's DualTVL1 at its default parameters, then truncated to
[-20, 20] pixels and rescaled to [-1, 1] for the network. Channel 0 is the horizontal
(x) and channel 1 the vertical (y) displacement, in OpenCV's convention:
prev(y, x) ~= next(y + flow_y, x + flow_x).

`fields` is the one TV-L1 loop (the shard builder, extract_features and evaluate_sample
all use it). A video's pairs are independent and DualTVL1's `calc` releases the GIL, so
`fields` spreads them over threads, each with its own DualTVL1 instance: one video keeps
every core busy. It streams (at most 2 x threads frames held, whatever the video's length) and gives
the fields in frame order, bit for bit the serial ones. A process uses all its cores
unless `use_cores` says otherwise: the workers of a process pool each may use all of
them, taking a token of a semaphore they share for every TV-L1 call, so that N workers run
at most N calls at once however the work falls: one long video gets every core, many
videos one each, and the last video of a run every core again.
"""

import collections
import os
import threading
from concurrent import futures

import cv2
import numpy as np

FLOW_BOUND = 20.0  # Paper: pixel values truncated to the range [-20, 20].
LOOKAHEAD = 2  # frames held per thread: room for the pairs done while an earlier one runs

# This process's TV-L1 parallelism (`use_cores`): pairs of one video at once (None: all
# cores) and the semaphore its TV-L1 calls take tokens from (None: no limit).
_threads = None
_tokens = None


def use_cores(threads, tokens=None):
    """Sets how this process computes flow (e.g. in a pool worker's initializer).

    Args:
      threads: pairs of one video computed at once (1: one after the other, in the
        calling thread).
      tokens: a semaphore (e.g. `multiprocessing`'s, passed to pool workers at their
        start) holding one token per TV-L1 call allowed at once across the processes
        sharing it; every call here takes one. None: no limit beyond `threads`.
    """
    global _threads, _tokens
    _threads, _tokens = threads, tokens


def init_pool_worker(threads, tokens):
    """A pool worker's initializer (build_shards, extract_features): its parallelism comes
    from TV-L1 pairs on threads (`fields`), one core each, so OpenCV runs one thread per
    call; the workers' calls share `tokens`, one per core of the run (`use_cores`)."""
    cv2.setNumThreads(1)
    use_cores(threads, tokens)


def cores():
    """Pairs of one video this process computes at once (`use_cores`; default all cores)."""
    return _threads or os.cpu_count() or 1


def _tvl1():
    # Default parameters, as in the paper (tau 0.25, lambda 0.15, theta 0.3, ...).
    return cv2.optflow.DualTVL1OpticalFlow_create()


def to_gray(frame):
    """RGB uint8 frame -> grayscale uint8."""
    return cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)


def fields(frames, threads=None):
    """TV-L1 flow of a stream of frames, computed up to `threads` pairs at once.

    Closing the generator early (the consumer stops, an error, Ctrl-C) cancels the pairs
    not started and waits only for those running (one TV-L1 call per thread), leaving no
    thread; never closed (a Ctrl-C uncaught in the consumer), its threads still have only
    their running call to finish when Python joins them at exit. An error of `frames` is
    raised at once, one of a TV-L1 call when its pair's turn comes; the frames not yet
    yielded are dropped.

    Args:
      frames: iterable of RGB uint8 frames [H, W, 3] of one size (e.g. a video decoded
        frame by frame), read at most 2 x threads frames ahead of what was yielded.
      threads: pairs computed at once; None: this process's `cores()`.

    Yields:
      (frame, float32 [H, W, 2] (x, y) flow from the previous frame to it, None for the
      first), for every frame, in order.
    """
    threads = threads or cores()
    if threads == 1:
        return _serial(frames, _tokens)
    return _parallel(frames, threads, _tokens)


def _serial(frames, tokens):
    algorithm, previous = _tvl1(), None
    for frame in frames:
        gray = to_gray(frame)
        field = None
        if previous is not None:
            _take(tokens)
            try:
                field = algorithm.calc(previous, gray, None)
            finally:
                _give(tokens)
        yield frame, field
        previous = gray


def _take(tokens):
    if tokens is not None:
        tokens.acquire()


def _give(tokens):
    if tokens is not None:
        tokens.release()


def _parallel(frames, threads, tokens):
    local = threading.local()  # each thread's own DualTVL1: instances are not shared

    def pair(previous, gray):
        if not hasattr(local, 'algorithm'):
            local.algorithm = _tvl1()
        return local.algorithm.calc(previous, gray, None)

    executor = futures.ThreadPoolExecutor(threads, thread_name_prefix='tvl1')
    pending = collections.deque()  # (frame, future of its field or None), in frame order
    previous = None
    try:
        for frame in frames:
            gray = to_gray(frame)
            future = None
            if previous is not None:
                yield from _wait_for_room(pending, threads)
                # The token is taken here, not in the thread: a thread never waits for
                # one, so at exit there is nothing to wait for but running calls.
                _take(tokens)
                try:
                    future = executor.submit(pair, previous, gray)
                except BaseException:
                    _give(tokens)
                    raise
                future.add_done_callback(lambda _: _give(tokens))  # also when cancelled
            pending.append((frame, future))
            previous = gray
            yield from _done(pending)
        while pending:
            frame, future = pending.popleft()
            yield frame, None if future is None else future.result()
    finally:
        for _, future in pending:
            if future is not None:
                future.cancel()
        executor.shutdown(wait=True, cancel_futures=True)


def _done(pending):
    """Yields the leading entries of `pending` whose field is computed."""
    while pending and (pending[0][1] is None or pending[0][1].done()):
        frame, future = pending.popleft()
        yield frame, None if future is None else future.result()


def _wait_for_room(pending, threads):
    """Yields computed fields, waiting until fewer than `threads` pairs are running and
    fewer than LOOKAHEAD x threads frames are held."""
    while True:
        yield from _done(pending)
        running = [f for _, f in pending if f is not None and not f.done()]
        if len(running) < threads and len(pending) < LOOKAHEAD * threads:
            return
        # Not done, so running: the first entry, or `threads` of them.
        futures.wait(running, return_when=futures.FIRST_COMPLETED)


def tvl1_flow(frames, threads=None):
    """Flow between consecutive RGB uint8 frames [T, H, W, 3] -> float32 [T-1, H, W, 2]."""
    out = np.empty((max(0, len(frames) - 1), *frames.shape[1:3], 2), np.float32)
    for i, (_, field) in enumerate(fields(frames, threads)):
        if field is not None:
            out[i - 1] = field
    return out


def flow_to_model_input(flow):
    """Pixel flow -> network input: truncated to [-20, 20], scaled to [-1, 1]."""
    return np.clip(flow, -FLOW_BOUND, FLOW_BOUND) / FLOW_BOUND


def quantize(flow):
    """Pixel flow -> uint8, 256 levels over [-20, 20] (Google's released pipeline).

    0 maps to -20 px and 255 to +20 px; the step is 40/255 ~ 0.157 px, so the
    dequantized value is within 0.0785 px of the truncated flow.
    """
    scaled = (np.clip(flow, -FLOW_BOUND, FLOW_BOUND) + FLOW_BOUND) * (255.0 / (2 * FLOW_BOUND))
    return np.round(scaled).astype(np.uint8)


def dequantize(quantized):
    """Levels from `quantize` -> pixel flow in [-20, 20].

    Takes a uint8 numpy array, or a float tensor of levels (so tf.data readers share it).
    """
    if isinstance(quantized, np.ndarray):
        quantized = quantized.astype(np.float32)
    return quantized * (2 * FLOW_BOUND / 255.0) - FLOW_BOUND
