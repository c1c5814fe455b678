"""One set of videos -> its FVD statistics: a stats file, an array, or video files decoded
by the local process pool (jobs.pool, as extract_features does) or a Beam runner.

Embeddings are computed in batches and folded into running float64 moments as they come,
so memory is bounded by a batch of videos, not by the set (the embeddings themselves, 400
floats per video, are kept only for KVD).
"""

import contextlib
import os
import sys
import tempfile

import numpy as np
import tensorflow as tf

from common import signals
from measure import embedding, sources, statistics
from preprocess import video_sets


def _init_worker():
    import cv2

    cv2.setNumThreads(1)


class _Accumulator:
    """Batches checked videos, embeds them, folds the embeddings into the moments."""

    def __init__(self, embedder, batch_size, keep_embeddings, total, spec):
        from tqdm import tqdm

        self._spec, self._total = spec, total
        self._embedder = embedder
        self._batch_size = batch_size
        self._batch = []
        self.moments = statistics.Moments(embedder.dim)
        self.embeddings = [] if keep_embeddings else None
        self._bar = tqdm(total=total, unit='video', file=sys.stderr, dynamic_ncols=True)
        self._describe()

    def _describe(self):  # what a signal's line says (common.signals)
        done = f'{self.moments.n} of {self._total} videos'
        signals.describe(f'while embedding {self._spec} ({done})')

    def add(self, video, name):
        self._batch.append(self._embedder.check(video, name))
        if len(self._batch) == self._batch_size:
            self.flush()

    def add_embeddings(self, rows):
        self.moments.add(rows)
        if self.embeddings is not None:
            self.embeddings.append(np.asarray(rows, np.float32))
        if self._bar.n + len(rows) < self._bar.total:
            self._bar.update(len(rows))
        else:  # the last rows: close() prints the complete bar, once (update would too)
            self._bar.n += len(rows)
        self._describe()

    def flush(self):
        if self._batch:
            self.add_embeddings(self._embedder(self._batch))
            self._batch = []

    def close(self):
        self._bar.close()

    def stats(self, protocol):
        self.flush()
        signals.describe(f'after embedding {self._spec}')
        rows = None if self.embeddings is None else np.concatenate(self.embeddings)
        return statistics.Stats(self.moments, protocol, rows)


def statistics_of(
    spec,
    embedder,
    batch_size=8,
    workers=0,
    keep_embeddings=False,
    runner='pool',
    beam_options='',
    work_dir=None,
):
    """The statistics of the set `spec` under `embedder`'s protocol.

    Args:
      spec: a `sources.VideoSet` (fvd.py opens its sets before loading the model), or what
        `sources.open_set` takes: a stats file (.npz from --save_stats), a .npy/.npz array
        [N, T, H, W, 3] uint8, or videos: a folder, .txt list, glob, or build_shards shards.
      embedder: a `measure.embedding.Embedder`.
      batch_size: videos per network call.
      workers: decoding processes of the pool runner (0 = cores).
      keep_embeddings: keep each video's embedding (for KVD).
      runner: 'pool', or a Beam runner name (DirectRunner, DataflowRunner, ...).
      beam_options: extra Beam pipeline options.
      work_dir: where Beam workers write their results (a path all of them can reach).

    Raises:
      ValueError: naming the file and the problem (a stats file of another protocol, a
        video shorter than --num_frames, fewer than 2 videos, ...).
    """
    videos = spec
    if not isinstance(videos, sources.VideoSet):
        videos = sources.open_set(spec, embedder.num_frames)
    spec = videos.spec
    if videos.kind == sources.STATISTICS:
        stats = statistics.check_protocol(spec, videos.stats, embedder.protocol)
        if keep_embeddings and stats.embeddings is None:
            raise ValueError(f'{spec}: holds no embeddings for --kvd (save it with --kvd)')
        return stats
    acc = _Accumulator(embedder, batch_size, keep_embeddings, videos.count, spec)
    with contextlib.closing(acc):
        if videos.kind == sources.ARRAY:
            array = video_sets.open_array(spec, embedder.num_frames)
            for index in range(len(array)):
                acc.add(array.array[index], array.name(index))
        elif runner == 'pool':
            _pool(videos.items, embedder, acc, workers or os.cpu_count() or 1)
        else:
            acc.add_embeddings(_beam(videos.items, embedder, runner, beam_options, work_dir))
        return acc.stats(embedder.protocol)


class _BeamJob:
    """fvd.py's embedding on a Beam worker (`jobs.beam`): the embedder built once per
    worker, then each video decoded and embedded there with the functions the pool uses."""

    def __init__(self, config):
        self._config = config

    def setup(self):
        self._embedder = embedding.Embedder(*self._config)

    def __call__(self, item):
        frames, error = video_sets.decode_task((item, self._embedder.num_frames))
        if error is None:
            try:
                row = self._embedder([self._embedder.check(frames, item.path)])[0]
                return {'embedding': row.tolist()}
            except (ValueError, tf.errors.OpError) as e:
                error = f'{item.path}: {e}'
        return {'error': error}


def _beam(items, embedder, runner, beam_options, work_dir):
    """Embeddings of `items` (float64 [N, D], in their order) computed on a Beam runner;
    the embeddings come back through text files under `work_dir` (default: tmp), which
    every worker must be able to write (a gs:// path on a cluster).

    Raises:
      ValueError: naming the first video that failed.
    """
    from jobs import beam

    work_dir = work_dir or tempfile.gettempdir()
    results = beam.run(items, _BeamJob(embedder.config), runner, beam_options, work_dir)
    if len(results) != len(items):
        raise ValueError(f'the Beam runner returned {len(results)} of {len(items)} embeddings')
    for result in results:
        if 'error' in result:
            raise ValueError(result['error'])
    return np.array([r['embedding'] for r in results], np.float64)


def _pool(items, embedder, acc, workers):
    from jobs import pool

    tasks = [(item, embedder.num_frames) for item in items]
    results = pool.ordered_map(
        video_sets.decode_task, tasks, workers, video_sets.crashed_task, _init_worker
    )
    with contextlib.closing(results):
        for (item, _), (frames, error) in results:
            if error is not None:
                raise ValueError(error)
            acc.add(frames, item.path)
