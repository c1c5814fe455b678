"""Every command's stderr holds only the project's own lines (SLOW: ~20 real processes).

Each command runs as a real process (TensorFlow's start-up notices are written once per
process, before any test could capture them in this one): its `--help`, and one tiny real
run on shared fixtures (conftest's `motion_shards`, `motion_rgb_run`, `random_checkpoints`,
`folder`). Every stderr line must be one the project writes (`OURS`), a tqdm progress bar,
or in `ALLOWED`, each with its reason; a progress bar's final state is printed once.
"""

import os
import re
import subprocess
import sys

import numpy as np
import pytest
import tf1_checkpoints
from runs import TINY

from common import startup
from common.files import REPO_DIR

pytestmark = pytest.mark.slow  # runs a script, or a whole job

# Lines the project writes itself: absl's prefix of our own logging calls is not enough (TF
# logs through absl too), so these are our messages' beginnings.
OURS = re.compile(
    r'^(error: |warning: |Warning: |note: |Note: |\s+(Try|USAGE|flags:)|'
    r'[A-Za-z_0-9./-]+\.(py|tfrecord|avi|mp4)[: ]|'  # a file named first
    r'step \d|Step \d|Evaluat|Wrote|Writing|[Ss]aved |Skipp|Resum|Train|Using \d)'
)
# tqdm: "desc:  40%|####      | 2/5 [00:01<00:02,  1.50it/s]" (carriage returns split it).
PROGRESS = re.compile(r'^[^|]*\d+%\|.*\| *\d+/\d+ \[|^[^|]*: *\d+[a-z]* \[\d')
ALLOWED = {
    # (none yet: each entry says why the line concerns the user)
}


def _lines(stderr):
    """stderr's lines, progress bars split at their carriage returns (splitlines does)."""
    return [line for line in stderr.splitlines() if line.strip()]


def foreign_lines(stderr):
    """The stderr lines the project did not write."""
    return [
        line
        for line in _lines(stderr)
        if not OURS.search(line)
        and not PROGRESS.search(line)
        and not any(re.search(p, line) for p in ALLOWED)
    ]


def run(*argv, env=None, code=0):
    """`python *argv` in the repository; fails unless it exits with `code`."""
    environ = {
        k: v for k, v in os.environ.items() if k not in (startup.LOG_LEVEL, startup.DEFAULTED)
    }
    result = subprocess.run(
        [sys.executable, *map(str, argv)],
        cwd=REPO_DIR,
        capture_output=True,
        text=True,
        env={**environ, **(env or {})},
        timeout=900,
    )
    assert result.returncode == code, f'{argv}\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}'
    return result


def assert_quiet(result):
    foreign = foreign_lines(result.stderr)
    assert not foreign, '\n'.join(foreign[:40])
    # A bar's redraws share a line (carriage returns); its last state ends the line, once.
    ends = [line.split('\r')[-1].strip() for line in result.stderr.split('\n')]
    finished = [end for end in ends if PROGRESS.search(end)]
    assert len(finished) == len(set(finished)), f'a progress bar printed twice:\n{finished}'


COMMANDS = [
    'evaluate_sample.py',
    'evaluate.py',
    'train_rgb.py',
    'train_flow.py',
    'extract_features.py',
    'fvd.py',
    'export_saved_model.py',
    'import_weights.py',
    '-m preprocess.build_shards',
    '-m preprocess.show',
]


@pytest.mark.parametrize('command', COMMANDS)
def test_help_is_quiet(command):
    result = run(*command.split(), '--help', code=1)  # absl's --help exits with 1
    assert 'Try --helpfull' in result.stdout  # absl's help: docstring, flags, this line
    assert_quiet(result)


@pytest.fixture(scope='module')
def labels(tmp_path_factory):
    path = tmp_path_factory.mktemp('labels') / 'labels.txt'
    path.write_text(''.join(f'class {i}\n' for i in range(5)))
    return path


def test_evaluate_sample_is_quiet(random_checkpoints, folder, labels):
    video = folder / 'a' / 'long.avi'
    result = run(
        'evaluate_sample.py',
        '--eval_type=rgb',
        f'--checkpoint={random_checkpoints["rgb"]}',
        f'--video={video}',
        f'--label_map={labels}',
        '--max_frames=8',
    )
    assert 'class' in result.stdout
    assert_quiet(result)


def test_evaluate_is_quiet(motion_shards, motion_rgb_run, tmp_path):
    result = run(
        'evaluate.py',
        f'--data={motion_shards}/test-*.tfrecord',
        f'--rgb_checkpoint={motion_rgb_run}',
        f'--output_dir={tmp_path}',
        '--crop_size=32',
        '--max_frames=8',
    )
    assert_quiet(result)


@pytest.mark.parametrize('script', ['train_rgb.py', 'train_flow.py'])
def test_training_is_quiet(script, motion_shards, tmp_path):
    result = run(
        script,
        f'--train_data={motion_shards}/train-*.tfrecord',
        f'--model_dir={tmp_path / "m"}',
        '--train_steps=2',
        *TINY,
    )
    assert os.path.exists(tmp_path / 'm' / 'train_log.jsonl')
    assert_quiet(result)


def test_extract_features_is_quiet(random_checkpoints, folder, tmp_path):
    result = run(
        'extract_features.py',
        f'--input={folder}',
        f'--output_dir={tmp_path}',
        '--streams=rgb',
        f'--rgb_checkpoint={random_checkpoints["rgb"]}',
        '--window=8',
        '--stride=8',
    )
    assert_quiet(result)


def test_fvd_is_quiet(tmp_path):
    rng = np.random.default_rng(0)
    real = tmp_path / 'real.npy'
    np.save(real, rng.integers(0, 255, (2, 8, 16, 16, 3), np.uint8))
    result = run('fvd.py', f'--real={real}', f'--save_stats={tmp_path / "s.npz"}', '--num_frames=8')
    assert os.path.exists(tmp_path / 's.npz')
    assert_quiet(result)


def test_export_saved_model_is_quiet(random_checkpoints, labels, tmp_path):
    result = run(
        'export_saved_model.py',
        f'--rgb_checkpoint={random_checkpoints["rgb"]}',
        f'--label_map={labels}',
        f'--output={tmp_path / "saved"}',
        '--chunk_frames=110',
    )
    assert os.path.exists(tmp_path / 'saved' / 'saved_model.pb')
    assert_quiet(result)


def test_import_weights_is_quiet(shared_path, tmp_path):
    index = shared_path('checkpoint-index', 'rgb_scratch.model.ckpt.index')
    variables = tf1_checkpoints.index_variables(index, str(tmp_path / 'index'))
    rng = np.random.default_rng(0)
    arrays = {n: np.abs(rng.standard_normal(s)).astype(np.float32) + 0.1 for n, s in variables}
    prefix = str(tmp_path / 'dm' / 'model.ckpt')
    tf1_checkpoints.write(prefix, arrays)
    result = run(
        'import_weights.py',
        '--source=deepmind',
        f'--deepmind_checkpoint={prefix}',
        f'--output={tmp_path / "ours" / "model"}',
    )
    assert_quiet(result)


def test_build_shards_and_show_are_quiet(folder, tmp_path):
    videos = tmp_path / 'videos' / 'cls'
    videos.mkdir(parents=True)
    (videos / 'long.avi').write_bytes((folder / 'a' / 'long.avi').read_bytes())
    built = run(
        '-m',
        'preprocess.build_shards',
        '--source=folder',
        f'--input_dir={videos.parent}',
        f'--output={tmp_path / "s" / "train"}',
        '--num_shards=1',
        '--short_side=40',
    )
    assert_quiet(built)
    shard = next((tmp_path / 's').glob('train-*.tfrecord'))
    shown = run('-m', 'preprocess.show', f'--video={shard}', f'--output={tmp_path / "v.gif"}')
    assert os.path.exists(tmp_path / 'v.gif')
    assert_quiet(shown)


def test_verbosity_brings_tensorflow_details_back(random_checkpoints, folder, labels):
    argv = [
        'evaluate_sample.py',
        '--eval_type=rgb',
        f'--checkpoint={random_checkpoints["rgb"]}',
        f'--video={folder / "a" / "long.avi"}',
        f'--label_map={labels}',
        '--max_frames=8',
    ]
    for result in (run(*argv, '--verbosity=0'), run(*argv, env={startup.LOG_LEVEL: '0'})):
        assert re.search(r'cpu_feature_guard|port\.cc|oneDNN', result.stderr), result.stderr
        assert foreign_lines(result.stderr)
