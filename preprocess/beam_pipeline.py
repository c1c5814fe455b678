"""The shard builder as an Apache Beam pipeline, for clusters.

Same tasks (`build_shards.plan_tasks`), per-video function (`per_video.process_video`)
and atomic shard writer as the local pool, so both produce identical shards. Runs on any Beam
runner: DirectRunner locally, DataflowRunner / FlinkRunner / SparkRunner with their
options in `--beam_options` (e.g. "--project=p --region=r --temp_location=gs://b/t").
Input videos and the output prefix must be paths every worker can open. Beam runs
elements side by side (Dataflow: a process per core, several threads each), so each
video's TV-L1 pairs are computed one at a time here, not spread over threads.
"""

import shlex

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from preprocess import per_video, shards


def _process(task, options):
    result = per_video.process_video(task.item, options, flow_threads=1)
    return task.shard, (task.position, result)


def _write(keyed, prefix, count):
    index, results = keyed
    ordered = [result for _, result in sorted(results, key=lambda r: r[0])]
    return shards.write_shard(prefix, index, count, ordered)


def run(prefix, planned, tasks, options, runner, beam_options=''):
    """Processes `tasks` (the videos of the unfinished shards of `planned`) with Beam."""
    pipeline_options = PipelineOptions(shlex.split(beam_options), runner=runner)
    with beam.Pipeline(options=pipeline_options) as pipeline:
        _ = (
            pipeline
            | 'Videos' >> beam.Create(tasks)
            | 'Spread' >> beam.Reshuffle()
            | 'Process' >> beam.Map(_process, options)
            | 'ByShard' >> beam.GroupByKey()
            | 'Write' >> beam.Map(_write, prefix, len(planned))
        )
