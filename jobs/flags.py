"""The runner flags of every job (build_shards, extract_features, fvd.py), defined once.

No TensorFlow and no Beam at import: the scripts define their flags before any check.
"""

import importlib.util

from absl import flags

POOL = 'pool'


def define(flag_values=flags.FLAGS):
    """Defines --workers, --runner and --beam_options on `flag_values`."""
    flags.DEFINE_integer(
        'workers',
        0,
        'Worker processes of the pool runner: they decode the videos (and compute TV-L1 flow '
        "where the job needs it, a long video's pairs spread over all of them); 0 = all cores.",
        lower_bound=0,
        flag_values=flag_values,
    )
    flags.DEFINE_string(
        'runner',
        POOL,
        'pool (this machine), or an Apache Beam runner: DirectRunner, DataflowRunner, '
        'FlinkRunner, SparkRunner... (videos and outputs must then be paths every worker opens).',
        flag_values=flag_values,
    )
    flags.DEFINE_string(
        'beam_options',
        '',
        'With a Beam --runner: extra pipeline options, e.g. "--project=p --region=r".',
        flag_values=flag_values,
    )


def check(runner, beam_options):
    """The runner flags' cheap checks, before any work.

    Raises:
      ValueError: --beam_options without a Beam runner, or a Beam runner where Apache Beam
        is not installed.
    """
    if runner == POOL:
        if beam_options:
            raise ValueError('--beam_options is for a Beam --runner; the pool runner takes none')
        return
    if not runner:
        raise ValueError('--runner: pool or the name of a Beam runner')
    if importlib.util.find_spec('apache_beam') is None:
        raise ValueError(
            f'--runner={runner}: Apache Beam is not installed (pip install apache-beam)'
        )
