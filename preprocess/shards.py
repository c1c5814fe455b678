"""Shard files: the plan (which video goes where), atomic shard writing, manifests.

Layout for an output prefix `data/ucf101/train` and N shards:

    data/ucf101/train-00003-of-00064.tfrecord         the examples of shard 3
    data/ucf101/train-00003-of-00064.manifest.jsonl   one record per video of shard 3
    data/ucf101/train-manifest.jsonl                  all records, written at the end
    data/ucf101/train-config.json                     settings and video list of the run
    data/ucf101/label_map.txt                         class names in label order

A shard and its manifest part are written to temporary names and renamed when complete
(part first), so a final name never holds a partial shard, and a re-run with the same
settings skips exactly the shards whose final file exists. Shared by the pool and Beam
runners of `build_shards`; the per-video work is in `per_video`.
"""

import dataclasses
import hashlib
import json

import tensorflow as tf

from common import files
from jobs import records

MANIFEST_SUFFIX = '.manifest.jsonl'
DEFAULT_SEED = 0  # of the order videos are dealt into shards (recorded in the run config)


def plan(items, num_shards, seed=DEFAULT_SEED):
    """Deterministic, balanced assignment in a seeded random order, dealt round-robin.

    Sources list videos sorted by media id, which for class folders (`Class/file`) is
    class order; shards dealt in that order would be read in class order too (a reader
    interleaving shards in lockstep gives sorted batches). So videos are ordered by a
    keyed hash of their media id: random-looking, a pure function of `seed` and the
    ids (not of the input order, the folder the videos are in, the Python version or
    the runner), so the pool and Beam runners and a resumed run all get the same plan.

    Returns:
      list of shards, each a list of items (no empty shard: at most len(items) shards).
    """
    count = max(1, min(num_shards, len(items)))

    def key(item):
        keyed = hashlib.sha256(json.dumps([seed, item.media_id]).encode()).digest()
        return keyed, item.media_id, item.path

    ordered = sorted(items, key=key)
    return [ordered[k::count] for k in range(count)]


def plan_digest(planned):
    """Fingerprint of which video (id, file, clip, label) goes to which shard."""
    digest = hashlib.sha256()
    for index, shard in enumerate(planned):
        for item in shard:
            digest.update(json.dumps([index, dataclasses.astuple(item)]).encode())
    return digest.hexdigest()


def shard_path(prefix, index, count):
    return f'{prefix}-{index:05d}-of-{count:05d}{files.SHARD_EXTENSION}'


def write_shard(prefix, index, count, results):
    """Writes one complete shard and its manifest part, atomically.

    Args:
      results: [(record, serialized or None)] in the shard's item order.
    """
    path = shard_path(prefix, index, count)
    with files.atomic_output(path) as tmp:
        with tf.io.TFRecordWriter(tmp) as writer:
            for _, serialized in results:
                if serialized is not None:
                    writer.write(serialized)
        # The part before the shard's final name: a final shard always has its part.
        files.write_atomic(path + MANIFEST_SUFFIX, records.text([r for r, _ in results]))
    return path


def is_done(prefix, index, count):
    path = shard_path(prefix, index, count)
    return tf.io.gfile.exists(path) and tf.io.gfile.exists(path + MANIFEST_SUFFIX)


def read_records(prefix, count):
    """Manifest records of the finished shards, in shard order."""
    found = []
    for index in range(count):
        part = shard_path(prefix, index, count) + MANIFEST_SUFFIX
        if tf.io.gfile.exists(part):
            with tf.io.gfile.GFile(part) as f:
                found.extend(records.read(f))
    return found


def clean_temporaries(prefix):
    """Removes temporary files left by a killed run of this prefix."""
    for path in tf.io.gfile.glob(f'{prefix}-*{files.TMP_MARK}*'):
        tf.io.gfile.remove(path)


def remove_outputs(prefix):
    """Deletes every shard, part, manifest and config of this prefix (--overwrite)."""
    patterns = (
        f'{prefix}-?????-of-?????{files.SHARD_EXTENSION}*',
        f'{prefix}-manifest.jsonl',
        f'{prefix}-config.json',
        f'{prefix}-*{files.TMP_MARK}*',
    )
    for pattern in patterns:
        for path in tf.io.gfile.glob(pattern):
            tf.io.gfile.remove(path)
