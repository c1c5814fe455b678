"""extract_features as an Apache Beam pipeline, for clusters.

Each worker loads the models once (`DoFn.setup`) and runs `features.process` (the same
per-video functions as the local pool: decode, flow, model, atomic .npy writes) on its
videos; the records come back to the launching process for the manifest. Input videos and
--output_dir must be paths every worker can open.
"""

import json
import os
import shlex
import tempfile

import apache_beam as beam
import tensorflow as tf
from apache_beam.options.pipeline_options import PipelineOptions

from inference.extract import features


class _Extract(beam.DoFn):
    def __init__(self, checkpoints, settings, output_dir):
        self._checkpoints = checkpoints
        self._settings = settings
        self._output_dir = output_dir

    def setup(self):
        self._extractor = features.Extractor(self._checkpoints, self._settings)
        self._work_dir = tempfile.mkdtemp(prefix='i3d-extract-')

    def process(self, item):
        yield features.process(self._extractor, item, self._output_dir, self._work_dir)


def run(checkpoints, settings, videos, output_dir, runner, beam_options, log):
    """Extracts `videos` on a Beam runner; calls `log(record)` for each, in video order."""
    options = PipelineOptions(shlex.split(beam_options), runner=runner)
    prefix = os.path.join(output_dir, f'.beam-records-{os.getpid()}')
    with beam.Pipeline(options=options) as pipeline:
        _ = (
            pipeline
            | 'Videos' >> beam.Create(videos)
            | 'Spread' >> beam.Reshuffle()
            | 'Extract' >> beam.ParDo(_Extract(checkpoints, settings, output_dir))
            | 'Json' >> beam.Map(json.dumps, sort_keys=True)
            | 'Records' >> beam.io.WriteToText(prefix)  # workers may be on other machines
        )
    collected = []
    for path in tf.io.gfile.glob(prefix + '*'):
        with tf.io.gfile.GFile(path) as f:
            collected.extend(json.loads(line) for line in f if line.strip())
        tf.io.gfile.remove(path)
    order = {v.name: k for k, v in enumerate(videos)}
    for record in sorted(collected, key=lambda r: order[r['video']]):
        log(record)
