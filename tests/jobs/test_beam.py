"""jobs.beam: the one Beam adapter (DirectRunner): results in task order, set up once per
worker, grouped results written on the workers. The jobs' own Beam runs are tested with
them (build_shards, extract_features and fvd.py write what the pool writes)."""

import json
import os

import pytest

pytest.importorskip('apache_beam', reason='Apache Beam is not installed')

from jobs import beam  # noqa: E402

DIRECT = ('DirectRunner', '--direct_num_workers=1')


class Square:
    """A job: setup() once per worker before any task."""

    def setup(self):
        self.ready = True

    def __call__(self, task):
        assert self.ready
        return {'task': task, 'square': task * task}


class ByParity:
    """Groups: even and odd tasks, each written as one file on a worker."""

    def __init__(self, folder):
        self.folder = folder

    def key(self, task):
        return task % 2

    def write(self, key, indexed):
        path = os.path.join(self.folder, f'group-{key}.json')
        with open(path, 'w') as f:
            json.dump([result['square'] for _, result in indexed], f)
        return {'key': key, 'indices': [index for index, _ in indexed], 'path': path}


def test_results_come_back_in_task_order_and_the_work_files_go(tmp_path):
    tasks = [5, 3, 9, 1, 7, 2]
    results = beam.run(tasks, Square(), *DIRECT, str(tmp_path))
    assert results == [{'task': t, 'square': t * t} for t in tasks]
    assert os.listdir(tmp_path) == []


def test_groups_are_written_on_the_workers_in_task_order(tmp_path):
    tasks = [4, 1, 6, 3, 8]
    out = tmp_path / 'out'
    out.mkdir()
    results = beam.run(tasks, Square(), *DIRECT, str(tmp_path), ByParity(str(out)))
    assert [r['key'] for r in results] == [0, 1]
    assert results[0]['indices'] == [0, 2, 4] and results[1]['indices'] == [1, 3]
    with open(out / 'group-0.json') as f:
        assert json.load(f) == [16, 36, 64]
    with open(out / 'group-1.json') as f:
        assert json.load(f) == [1, 9]
    assert sorted(os.listdir(tmp_path)) == ['out']


def test_no_tasks_give_no_results(tmp_path):
    assert beam.run([], Square(), *DIRECT, str(tmp_path)) == []
