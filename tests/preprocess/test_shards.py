"""preprocess.shards: the plan of which video goes to which shard, shard files written
whole or not at all, their manifest parts, and the clean-up of a killed run."""

import json
import os

import pytest
import tensorflow as tf

from common import files
from preprocess import shards, sources


def _items(n):
    return [sources.Item(f'c{i % 3}/v{i}', f'/v/{i}.mp4', i % 3, f'c{i % 3}') for i in range(n)]


def test_the_plan_is_balanced_complete_and_a_function_of_seed_and_ids_only():
    items = _items(10)
    planned = shards.plan(items, 3)
    assert sorted(len(s) for s in planned) == [3, 3, 4]
    assert sorted(i.media_id for s in planned for i in s) == sorted(i.media_id for i in items)
    assert shards.plan(list(reversed(items)), 3) == planned  # not the input order
    assert shards.plan(items, 3, seed=1) != planned
    assert len(shards.plan(items[:2], 5)) == 2  # never an empty shard
    assert shards.plan_digest(planned) == shards.plan_digest(shards.plan(items, 3))
    assert shards.plan_digest(planned) != shards.plan_digest(shards.plan(items, 3, seed=1))


def test_a_shard_is_written_whole_with_its_manifest_part(tmp_path):
    prefix = str(tmp_path / 'train')
    results = [({'media_id': 'a', 'status': 'ok'}, b'one'), ({'media_id': 'b'}, None)]
    path = shards.write_shard(prefix, 1, 2, results)
    assert path == f'{prefix}-00001-of-00002{files.SHARD_EXTENSION}'
    assert [r.numpy() for r in tf.data.TFRecordDataset(path)] == [b'one']  # failed: no record
    assert shards.is_done(prefix, 1, 2) and not shards.is_done(prefix, 0, 2)
    assert shards.read_records(prefix, 2) == [r for r, _ in results]
    with open(path + shards.MANIFEST_SUFFIX) as f:
        assert [json.loads(line) for line in f] == [r for r, _ in results]


def test_a_shard_without_its_manifest_part_is_not_done(tmp_path):
    prefix = str(tmp_path / 'train')
    shards.write_shard(prefix, 0, 1, [({'media_id': 'a'}, b'x')])
    os.remove(shards.shard_path(prefix, 0, 1) + shards.MANIFEST_SUFFIX)
    assert not shards.is_done(prefix, 0, 1)


def test_clean_up_and_overwrite_remove_only_this_prefix(tmp_path):
    prefix = str(tmp_path / 'train')
    shards.write_shard(prefix, 0, 1, [({'media_id': 'a'}, b'x')])
    killed = f'{prefix}-00000-of-00002{files.SHARD_EXTENSION}{files.TMP_MARK}123'
    sibling = shards.write_shard(str(tmp_path / 'test'), 0, 1, [({'media_id': 'b'}, b'y')])
    open(killed, 'w').close()
    shards.clean_temporaries(prefix)
    assert not os.path.exists(killed) and shards.is_done(prefix, 0, 1)
    for name in ('manifest.jsonl', 'config.json'):
        open(f'{prefix}-{name}', 'w').close()
    shards.remove_outputs(prefix)
    assert sorted(os.listdir(tmp_path)) == sorted(
        os.path.basename(p) for p in (sibling, sibling + shards.MANIFEST_SUFFIX)
    )


@pytest.mark.parametrize('count', [0, 1])
def test_reading_the_records_of_no_finished_shard_gives_none(tmp_path, count):
    assert shards.read_records(str(tmp_path / 'nothing'), count) == []
