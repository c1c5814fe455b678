"""A per-video function over many videos as an Apache Beam pipeline, for clusters.

The one Beam adapter of the jobs (build_shards, extract_features, fvd.py). A job is an
object with `setup()` (called once per Beam worker: load models, make a work folder) and
`__call__(task)` (one video: the same per-video function as the local pool runs). Its
results come back to the launching process through text files under `work_dir`, which
every worker must be able to write (a gs:// path on a cluster), as JSON, in task order.

With `group`, results are first grouped by `group.key(task)` and each group is handed to
`group.write(key, [(position, result), ...])` on a worker (build_shards writes a shard
there: its examples never travel to the launcher); what `write` returns comes back.

Runs on any Beam runner: DirectRunner locally, DataflowRunner / FlinkRunner / SparkRunner
with their options in `--beam_options`. Beam runs elements side by side (Dataflow: a
process per core, several threads each), so jobs compute a video's TV-L1 pairs one at a
time here, not spread over threads.
"""

import json
import os
import shlex

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions


class _Run(beam.DoFn):
    def __init__(self, job):
        self._job = job

    def setup(self):
        self._job.setup()

    def process(self, indexed):
        index, task = indexed
        yield index, self._job(task)


def _write_group(keyed, write):
    key, results = keyed
    return write(key, sorted(results, key=lambda r: r[0]))


def run(tasks, job, runner, beam_options, work_dir, group=None):
    """Runs `job` over `tasks` on a Beam runner.

    Args:
      tasks: picklable tasks, one per video.
      job: picklable; `setup()` once per worker, `job(task)` -> a JSON-serializable result.
      runner: a Beam runner's name.
      beam_options: extra pipeline options, one string (shell-quoted).
      work_dir: where workers write the results for the launcher (every worker writes it).
      group: None, or an object with `key(task)` and `write(key, [(index, result)...])`
        run on a worker per group; its JSON-serializable return value comes back.

    Returns:
      The results (with `group`: the groups' returns), in task (group key) order.
    """
    options = PipelineOptions(shlex.split(beam_options), runner=runner)
    prefix = os.path.join(work_dir, f'.beam-results-{os.getpid()}')
    indexed = list(enumerate(tasks))
    with beam.Pipeline(options=options) as pipeline:
        results = (
            pipeline
            | 'Videos' >> beam.Create(indexed)
            | 'Spread' >> beam.Reshuffle()
            | 'Run' >> beam.ParDo(_Run(job))
        )
        if group is not None:
            keys = {index: group.key(task) for index, task in indexed}
            results = (
                results
                | 'Key' >> beam.Map(lambda r, keys=keys: (keys[r[0]], r))
                | 'Group' >> beam.GroupByKey()
                | 'Write'
                >> beam.Map(lambda kv, write=group.write: (kv[0], _write_group(kv, write)))
            )
        _ = (
            results
            | 'Json' >> beam.Map(lambda r: json.dumps([r[0], r[1]], sort_keys=True))
            | 'Results' >> beam.io.WriteToText(prefix)  # workers may be on other machines
        )
    collected = []
    for match in FileSystems.match([prefix + '*'])[0].metadata_list:
        with FileSystems.open(match.path) as f:
            collected.extend(json.loads(line) for line in f.read().decode().splitlines() if line)
        FileSystems.delete([match.path])
    return [result for _, result in sorted(collected, key=lambda r: r[0])]
