"""jobs.flags: the runner flags, defined once for every job, and their cheap checks."""

import ast
import glob
import os

import pytest
from absl import flags

from common.files import REPO_DIR
from jobs import flags as jobs_flags


def test_defined_with_their_defaults_and_bounds():
    values = flags.FlagValues()
    jobs_flags.define(values)
    values(['prog'])
    assert (values.workers, values.runner, values.beam_options) == (0, 'pool', '')
    with pytest.raises(flags.IllegalFlagValueError):
        values(['prog', '--workers=-1'])


def test_the_runner_flags_are_defined_here_only():
    """No script defines --workers, --runner or --beam_options itself; the three jobs call
    jobs.flags.define."""
    definers = set()
    callers = set()
    for path in glob.glob(os.path.join(REPO_DIR, '**', '*.py'), recursive=True):
        rel = os.path.relpath(path, REPO_DIR)
        if rel.startswith(('.venv', 'tests')):
            continue
        with open(path) as f:
            text = f.read()
        if 'jobs_flags.define()' in text:
            callers.add(rel)
        for node in ast.walk(ast.parse(text)):
            if (
                isinstance(node, ast.Call)
                and getattr(node.func, 'attr', '').startswith('DEFINE_')
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and node.args[0].value in ('workers', 'runner', 'beam_options')
            ):
                definers.add(rel)
    assert definers == {'jobs/flags.py'}
    assert callers == {'extract_features.py', 'fvd.py', 'preprocess/build_shards.py'}


@pytest.mark.parametrize(
    'runner, options, message',
    [
        ('pool', '--project=p', '--beam_options is for a Beam --runner'),
        ('', '', '--runner: pool or the name of a Beam runner'),
    ],
)
def test_contradictions_are_refused(runner, options, message):
    with pytest.raises(ValueError, match=message):
        jobs_flags.check(runner, options)


def test_a_beam_runner_needs_apache_beam(monkeypatch):
    jobs_flags.check('pool', '')
    jobs_flags.check('DirectRunner', '--direct_num_workers=1')  # installed here
    monkeypatch.setattr(jobs_flags.importlib.util, 'find_spec', lambda name: None)
    with pytest.raises(ValueError, match='--runner=DirectRunner: Apache Beam is not installed'):
        jobs_flags.check('DirectRunner', '')
