"""fvd.py's embedding pass as an Apache Beam pipeline, for sets that outgrow one machine.

Each worker builds the embedder once (`DoFn.setup`) and embeds its videos with the same
functions as the local pool (`video_sets.first_frames`, `Embedder`); the embeddings come back
to the launching process through text files under `work_dir`, which every worker must be
able to write (a gs:// path on a cluster), and are folded there in video order.
"""

import json
import os
import shlex
import tempfile

import apache_beam as beam
import numpy as np
import tensorflow as tf
from apache_beam.options.pipeline_options import PipelineOptions

from measure import embedding
from preprocess import video_sets


class _Embed(beam.DoFn):
    def __init__(self, config):
        self._config = config

    def setup(self):
        self._embedder = embedding.Embedder(*self._config)

    def process(self, indexed):
        index, item = indexed
        frames, error = video_sets.decode_task((item, self._embedder.num_frames))
        if error is None:
            try:
                row = self._embedder([self._embedder.check(frames, item.path)])[0]
                yield json.dumps({'index': index, 'embedding': row.tolist()})
                return
            except (ValueError, tf.errors.OpError) as e:
                error = f'{item.path}: {e}'
        yield json.dumps({'index': index, 'error': error})


def run(items, embedder, runner, beam_options, work_dir=None):
    """Embeddings of `items` (float64 [N, D], in their order) computed on a Beam runner.

    Raises:
      ValueError: naming the first video that failed.
    """
    options = PipelineOptions(shlex.split(beam_options), runner=runner)
    work_dir = work_dir or tempfile.gettempdir()
    prefix = os.path.join(work_dir, f'.fvd-embeddings-{os.getpid()}')
    with beam.Pipeline(options=options) as pipeline:
        _ = (
            pipeline
            | 'Videos' >> beam.Create(list(enumerate(items)))
            | 'Spread' >> beam.Reshuffle()
            | 'Embed' >> beam.ParDo(_Embed(embedder.config))
            | 'Records' >> beam.io.WriteToText(prefix)
        )
    records = []
    for path in tf.io.gfile.glob(prefix + '*'):
        with tf.io.gfile.GFile(path) as f:
            records.extend(json.loads(line) for line in f if line.strip())
        tf.io.gfile.remove(path)
    records.sort(key=lambda r: r['index'])
    if len(records) != len(items):
        raise ValueError(f'the Beam runner returned {len(records)} of {len(items)} embeddings')
    for record in records:
        if 'error' in record:
            raise ValueError(record['error'])
    return np.array([r['embedding'] for r in records], np.float64)
